/**
 * meshc diff's incremental path: when out/ is exactly what the last build of this meshc left (its
 * stamp, manifest and untouched files say so), only the services a change can reach are compiled,
 * for the old mesh (from summary/mesh.json) and the new one. Taken only when it can be trusted:
 * same meshc, targets (with summary) and certificate state; no mesh-wide setting, service list or
 * changed service's endpoints differ; no certificate is issued; and the old side re-emitted gives
 * exactly the bytes the manifest records. Otherwise `undefined` sends diff down the full path.
 * What is compiled: every file that is no one service's own, and the own files of each changed
 * service and its neighbours (upstreams, callers, allowFrom) in either mesh. test/unit/partial.test.ts
 * checks this against the full path.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { prepareCerts } from '../certs/index.js';
import { stateLocation } from '../certs/location.js';
import { readStateFingerprint } from '../certs/state.js';
import type { Diagnostic } from '../model/diagnostic.js';
import type { Mesh, Service } from '../model/mesh.js';
import { codeFingerprint } from '../output/fingerprint.js';
import { MANIFEST_NAME, modeOf, sha256, type Manifest } from '../output/manifest.js';
import { meshFromSummary } from '../output/summarize.js';
import { emptyPlan, settlePlan, untouchedOutput, type OutputPlan } from '../output/writer.js';
import { sameJson } from '../output/yaml.js';
import type { OutputFile, Target } from '../targets/target.js';
import { readStamp } from '../output/stamp.js';
import type { BuildOptions } from './build.js';
import { selectTargets } from './targets.js';
import { validate } from './validate.js';

export interface PartialCompile {
  ok: boolean;
  diagnostics: Diagnostic[];
  /** How out/ differs from what a build would write. */
  plan?: OutputPlan;
  /** Both sides' content of every file in the plan. */
  oldFiles?: ReadonlyMap<string, OutputFile>;
  newFiles?: ReadonlyMap<string, OutputFile>;
  oldMesh?: Mesh;
  newMesh?: Mesh;
  /** Every private key (for redaction). */
  keys?: string[];
}

const SUMMARY_PATH = 'summary/mesh.json';

/** The partial compile, or undefined when only the full path can be trusted. */
export async function compilePartial(opts: BuildOptions): Promise<PartialCompile | undefined> {
  const stateDir = stateLocation(opts.file, opts.state).dir;
  const targets = selectTargets(opts.targets);
  const names = targets.map((t) => t.name).sort();
  const now = (opts.clock ?? (() => new Date()))();
  const stamp = await readStamp(stateDir, opts.out);
  if (!stamp || stamp.code !== (await codeFingerprint()) || stamp.targets?.join(',') !== names.join(',') || !names.includes('summary')) return undefined;
  const stateText = readStateFingerprint(stateDir);
  if (stateText === undefined || sha256(stateText) !== stamp.state) return undefined;
  const manifest = await untouchedOutput(resolve(opts.out), stamp, now);
  if (!manifest) return undefined;
  const oldSummary = await readFile(join(opts.out, SUMMARY_PATH), 'utf8').catch(() => undefined);
  const oldMesh = meshFromSummary(oldSummary);
  if (!oldMesh || oldSummary === undefined) return undefined;

  const v = await validate({ file: opts.file, targets: opts.targets, clock: () => now });
  if (!v.ok || !v.mesh) return { ok: false, diagnostics: v.diagnostics };
  const newMesh = v.mesh;
  const reach = reachable(oldMesh, newMesh);
  if (!reach) return undefined;

  const certs = await prepareCerts(newMesh, {
    stateDir,
    meshFile: opts.file,
    keys: 'optional',
    meshDir: dirname(resolve(opts.file)),
    clock: () => now,
    ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
  });
  try {
    // Without the keys the old side cannot be proven against the manifest (its secrets/ files).
    if (certs.findings.length > 0 || certs.stateText !== stateText || !certs.keysLoaded) return undefined;
    const emit = (mesh: Mesh, which: readonly Target[]) => new Map(which.flatMap((t) => [...t.emit(mesh, certs.material, reach)]).map((f) => [f.path, f]));
    // The old summary is the file on disk (untouched, so the manifest's bytes): emitting it again
    // from the mesh it was read from would only give it back.
    const oldFiles = emit(oldMesh, targets.filter((t) => t.name !== 'summary'));
    if (!matchesManifest(oldFiles, manifest)) return undefined;
    oldFiles.set(SUMMARY_PATH, { path: SUMMARY_PATH, content: oldSummary });
    const newFiles = emit(newMesh, targets);
    const keys = [...certs.material.workloads.values(), ...certs.material.ingressHosts.values()].map((c) => c.keyPem);
    return { ok: true, diagnostics: v.diagnostics, plan: planOf(oldFiles, newFiles, manifest), oldFiles, newFiles, oldMesh, newMesh, keys };
  } finally {
    await certs.release();
  }
}

/**
 * The services whose own files a change can reach, or undefined when the change is not one the
 * partial path handles (mesh-wide settings, services added or removed, endpoints).
 */
export function reachable(oldMesh: Mesh, newMesh: Mesh): Set<string> | undefined {
  // The egress gateway's allow-list is the union of every service's: only files that are no
  // service's own read it (the gateways, egress entries and the gateway's NetworkPolicy).
  const meshWide = (m: Mesh) => ({ ...m, services: [], egressGateway: { ...m.egressGateway, allow: [] } });
  if (!sameJson(meshWide(oldMesh), meshWide(newMesh))) return undefined;
  if (oldMesh.services.map((s) => s.name).join('\n') !== newMesh.services.map((s) => s.name).join('\n')) return undefined;
  const changed: string[] = [];
  for (const [i, s] of newMesh.services.entries()) {
    const before = oldMesh.services[i]!;
    if (sameJson(before, s)) continue;
    if (!sameJson(before.endpoints, s.endpoints)) return undefined;
    changed.push(s.name);
  }
  const changedSet = new Set(changed);
  const reach = new Set(changed);
  for (const mesh of [oldMesh, newMesh]) {
    for (const s of mesh.services) {
      const around = neighbours(s);
      if (changedSet.has(s.name)) for (const n of around) reach.add(n);
      else if (changed.some((c) => around.has(c))) reach.add(s.name);
    }
  }
  return reach;
}

function neighbours(s: Service): Set<string> {
  return new Set([...s.upstreams.map((u) => u.service), ...s.callers, ...s.allowFrom]);
}

function matchesManifest(files: ReadonlyMap<string, OutputFile>, manifest: Manifest): boolean {
  for (const [path, f] of files) {
    const entry = manifest.files[path];
    if (!entry || entry.sha256 !== sha256(f.content) || entry.mode !== modeOf(f).toString(8)) return false;
  }
  return true;
}

function planOf(oldFiles: ReadonlyMap<string, OutputFile>, newFiles: ReadonlyMap<string, OutputFile>, manifest: Manifest): OutputPlan {
  const plan = emptyPlan();
  for (const [path, f] of newFiles) {
    const entry = manifest.files[path];
    if (!entry) plan.added.push(path);
    else if (entry.sha256 !== sha256(f.content)) plan.changed.push(path);
    else if (entry.mode !== modeOf(f).toString(8)) plan.modeChanged.push(path);
  }
  for (const path of oldFiles.keys()) if (!newFiles.has(path) && path !== MANIFEST_NAME) plan.removed.push(path);
  return settlePlan(plan);
}
