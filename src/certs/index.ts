/**
 * The certificate stage: the mesh CA, one leaf per identity, ingress certificates, the state that
 * keeps them between builds, rotation and status.
 *
 * The build calls `prepareCerts` (takes the state lock, computes material without writing), emits
 * and writes the output, then `commit()`s the state and always `release()`s the lock.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { Finding } from '../model/diagnostic.js';
import { cmp, type Mesh } from '../model/mesh.js';
import { didYouMean } from '../model/suggest.js';
import { GENERATED_HEADER, type OutputFile } from '../targets/target.js';
import { computeCerts, leafLabel, wantedLeaves, type EngineResult, type WantedLeaf } from './engine.js';
import { TRUST_BUNDLE_PATH, type CertMaterial } from './material.js';
import { madeForMesh } from './engine.js';
import { KeyRing, type KeyNeed } from './keys.js';
import { acquireLock, commitState, ENCRYPTED_KEYS_FILE, ensureStateDir, hasState, PRIVATE_DIR, readState, serializeKeys, stateFingerprintText, type Lock, type Phase, type ReadState } from './state.js';
import { DAY_MS, serialHex, subjectAltNames, validity } from './x509.js';

export type { CertMaterial, IssuedCert } from './material.js';
export type { Phase } from './state.js';

export interface CertStageOptions {
  /** State directory, e.g. `/abs/path/.meshc/mesh` (created with mode 0700 when first committed). */
  stateDir: string;
  /**
   * An older meshc's state directory shared by the mesh files beside it (location.ts): when
   * `stateDir` has no state and this one holds a state made for this mesh, it is used, and moved
   * into `stateDir` by the commit.
   */
  legacyStateDir?: string;
  /** The mesh file, for messages. */
  meshFile?: string;
  /** `optional`: a comparison, which works without private keys. Default `required`. */
  keys?: KeyNeed;
  /** Directory of mesh.yaml: supplied ingress certFile/keyFile are relative to it. */
  meshDir: string;
  /** Injected clock; certificate code never reads the system time itself. */
  clock: () => Date;
  /** From MESHC_STATE_PASSPHRASE: keys in the state are stored encrypted with it. Default: none. */
  passphrase?: string;
  /** Called after each certificate is issued. Throwing aborts the stage; the state is untouched. */
  progress?: (done: number, total: number) => void;
}

export interface PreparedCerts {
  material: CertMaterial;
  /** Problems with supplied ingress files (and the CA), each with its mesh.yaml JSON pointer. */
  findings: Finding[];
  /** Whether `commit` would change the state. */
  changed: boolean;
  /** False when a comparison went without some private key: files under `secrets/` hold placeholders. */
  keysLoaded: boolean;
  /** Said to the user, not about mesh.yaml (unencrypted keys in a git work tree). */
  warnings: string[];
  /** Identities (and `ingress/<host>`) issued by this prepare, sorted. */
  issued: string[];
  /** The state's texts as they are after `commit` (the build's input fingerprint uses them, see stateFingerprintText). */
  stateText: string;
  /** Atomically persists the new state (no-op when unchanged or already committed). */
  commit(): Promise<void>;
  /** Releases the state lock; idempotent. Always call it, also after errors. */
  release(): Promise<void>;
}

/**
 * Takes the state lock and computes the certificate material for `mesh`: reuses every valid
 * certificate, issues missing or expired ones, checks supplied ingress files. Nothing is written
 * until `commit`. On error the lock is released before the error is thrown.
 */
export async function prepareCerts(mesh: Mesh, opts: CertStageOptions): Promise<PreparedCerts> {
  // Nothing is created before there is something to keep: without a state directory the lock is
  // taken by the commit, which makes the directory.
  let lock: Lock | undefined = hasState(opts.stateDir) || existsSync(join(opts.stateDir, 'lock')) ? acquireLock(opts.stateDir) : undefined;
  const released = { done: false };
  try {
    const { read, adoptFrom } = readOwnState(mesh, opts);
    const result = await computeCerts(mesh, read, { ...opts, ring: new KeyRing(read.keys, opts.passphrase, adoptFrom ?? opts.stateDir, opts.keys ?? 'required') });
    let committed = false;
    return {
      material: result.material,
      findings: result.findings,
      changed: result.changed,
      keysLoaded: result.keysLoaded,
      warnings: (opts.keys ?? 'required') === 'required' ? plainKeysWarning(result, opts.stateDir) : [],
      issued: result.issued,
      stateText: nextFingerprint(result),
      async commit() {
        if (released.done) throw new Error('certificate state committed after its lock was released');
        lock ??= await lockNewState(opts.stateDir);
        if (committed) return;
        if (result.changed) await commitState(opts.stateDir, { text: result.nextText, keys: result.nextKeys, encrypted: result.encrypted }, read, adoptFrom);
        await result.facts.save(opts.stateDir);
        committed = true;
      },
      release: async () => {
        released.done = true;
        await lock?.release();
      },
    };
  } catch (e) {
    await lock?.release();
    throw e;
  }
}

/**
 * Keys written unencrypted inside a git work tree: git-ignored (private/.gitignore), but worth
 * saying, since a passphrase would let the team commit them and build anywhere.
 */
function plainKeysWarning(result: EngineResult, stateDir: string): string[] {
  if (result.encrypted || !result.changed || !inGitWorkTree(stateDir)) return [];
  return [
    `the private keys of ${stateDir} are stored unencrypted in ${join(stateDir, PRIVATE_DIR)} (git-ignored: never commit them); set MESHC_STATE_PASSPHRASE to store them encrypted (${ENCRYPTED_KEYS_FILE}, safe to commit)`,
  ];
}

function inGitWorkTree(dir: string): boolean {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return true;
    if (dirname(d) === d) return false;
  }
}

/** The state to start from: the mesh's own, or an older meshc's shared one made for this mesh. */
function readOwnState(mesh: Mesh, opts: CertStageOptions): { read: ReadState; adoptFrom?: string } {
  const read = readState(opts.stateDir);
  if (read.text !== undefined || !opts.legacyStateDir) return { read };
  if (hasState(opts.legacyStateDir)) {
    const legacy = readState(opts.legacyStateDir);
    // Another mesh's (two mesh files shared it): this mesh starts its own.
    const ours = legacy.state.mesh ? legacy.state.mesh.name === mesh.name && legacy.state.mesh.trustDomain === mesh.trustDomain : madeForMesh(legacy.state, mesh);
    if (ours) return { read: legacy, adoptFrom: opts.legacyStateDir };
  }
  refuseSecondCa(mesh, opts.stateDir, opts.legacyStateDir);
  return { read };
}

/**
 * A new state for a mesh whose state already sits beside it under another mesh file's name is
 * refused: a renamed mesh file would otherwise get a second CA without a word.
 */
function refuseSecondCa(mesh: Mesh, stateDir: string, statesDir: string): void {
  let names: string[];
  try {
    names = readdirSync(statesDir);
  } catch {
    return;
  }
  for (const name of names.sort()) {
    const other = join(statesDir, name);
    if (other === resolve(stateDir)) continue;
    let bound: { name?: unknown; trustDomain?: unknown } | undefined;
    try {
      bound = (JSON.parse(readFileSync(join(other, 'state.json'), 'utf8')) as { mesh?: typeof bound }).mesh;
    } catch {
      continue;
    }
    if (bound?.name !== mesh.name || bound.trustDomain !== mesh.trustDomain) continue;
    throw new UserError(
      `${other} already holds the certificate state of mesh "${mesh.name}" (trust domain ${mesh.trustDomain}), made for another mesh file; this one's is ${stateDir}`,
      2,
      `if the mesh file was renamed, move ${other} to ${stateDir}; to give this file a CA of its own anyway, pass --state ${stateDir}`,
    );
  }
}

/** What the build fingerprint takes of the state once committed (see stateFingerprintText). */
function nextFingerprint(result: EngineResult): string {
  const keys = serializeKeys(result.nextKeys, result.encrypted);
  return stateFingerprintText({ text: result.nextText, keyTexts: result.encrypted ? [undefined, keys] : [keys, undefined] })!;
}

/**
 * The certificate files of the output tree, sorted by path: the trust bundle and certificates
 * under `certs/`, unencrypted PKCS#8 keys under `secrets/` (mode 0600), and a `.gitignore` at the
 * output root that keeps `secrets/` out of git.
 */
export function certOutputFiles(material: CertMaterial): OutputFile[] {
  const files: OutputFile[] = [
    { path: '.gitignore', content: `# ${GENERATED_HEADER}\n/secrets/\n`, mode: 0o644 },
    { path: material.trustBundlePath || TRUST_BUNDLE_PATH, content: material.trustBundlePem, mode: 0o644 },
  ];
  for (const cert of [...material.workloads.values(), ...material.ingressHosts.values()]) {
    files.push({ path: cert.certPath, content: cert.certPem, mode: 0o644 });
    files.push({ path: cert.keyPath, content: cert.keyPem, mode: 0o600 });
  }
  return files.sort((a, b) => cmp(a.path, b.path));
}

export type CertStatus = 'ok' | 'expiring' | 'expired';

export interface StatusRow {
  kind: 'ca' | 'workload' | 'ingress';
  /** `ca` (the issuing CA), `ca-previous` (the CA being retired during a rotation), an identity, or an ingress host. */
  name: string;
  /** As `X509Certificate.subject` prints it, one `KEY=value` per RDN joined by `, ` (O first). */
  subject: string;
  /** `URI:...` and `DNS:...` entries; empty for CAs. */
  sans: string[];
  /** Ingress only: issued by the mesh CA or supplied files. */
  source?: 'generated' | 'supplied';
  /** Leaves: the CA whose signature it carries (`ca` or, during a rotation, `ca-previous`); `other` for supplied certificates. */
  issuer?: 'ca' | 'ca-previous' | 'other';
  serial: string;
  /** ISO 8601. */
  notAfter: string;
  /** Whole days left (negative once expired). */
  daysLeft: number;
  status: CertStatus;
}

export interface StatusReport {
  stateDir: string;
  phase: Phase;
  /** The command that moves the CA rotation on (absent when no rotation is in progress). */
  next?: string;
  warnDays: number;
  /** Sorted by expiry, then kind, then name. */
  rows: StatusRow[];
  expired: number;
  expiring: number;
}

/**
 * Every certificate in the state with its expiry. Needs no passphrase (certificates are public);
 * `passphrase` is accepted for symmetry and ignored. A missing or unreadable state is a UserError.
 */
export async function certsStatus(
  stateDir: string,
  opts: { clock: () => Date; warnDays: number; passphrase?: string; legacyStateDir?: string },
): Promise<StatusReport> {
  // Before a build has moved it, an older meshc's shared state is the one to watch.
  if (!hasState(stateDir) && opts.legacyStateDir && hasState(opts.legacyStateDir)) stateDir = opts.legacyStateDir;
  const { state, text } = readState(stateDir);
  if (text === undefined) throw new UserError(`no certificate state in ${stateDir}; run \`meshc build\` first`, 2);
  const now = opts.clock().getTime();
  const rows: StatusRow[] = [];
  const add = (kind: StatusRow['kind'], name: string, pem: string, source?: StatusRow['source']) => {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(pem);
    } catch {
      throw new UserError(`certificate state ${stateDir} is unreadable: the ${kind} certificate ${name} does not parse`);
    }
    const { notAfter } = validity(certificate);
    const signedBy = (c: X509Certificate) => {
      try {
        return certificate.verify(c.publicKey);
      } catch {
        return false; // another key type: not this CA
      }
    };
    const issuer = kind === 'ca' ? undefined : (cas.find((c) => signedBy(c.cert))?.name ?? 'other');
    const left = notAfter.getTime() - now;
    rows.push({
      kind,
      name,
      subject: certificate.subject.split('\n').join(', '),
      sans: subjectAltNames(certificate),
      ...(source ? { source } : {}),
      ...(issuer ? { issuer } : {}),
      serial: serialHex(certificate),
      notAfter: notAfter.toISOString(),
      daysLeft: Math.floor(left / DAY_MS),
      status: left <= 0 ? 'expired' : left <= opts.warnDays * DAY_MS ? 'expiring' : 'ok',
    });
  };
  // The newest CA is `ca`; the one a rotation is retiring, `ca-previous`.
  const cas = state.cas.map((ca, i) => ({ name: i === state.cas.length - 1 ? ('ca' as const) : ('ca-previous' as const), cert: new X509Certificate(ca.certPem) }));
  state.cas.forEach((ca, i) => add('ca', cas[i].name, ca.certPem));
  for (const [name, stored] of Object.entries(state.workloads)) add('workload', name, stored.certPem);
  for (const [host, stored] of Object.entries(state.ingress)) add('ingress', host, stored.certPem, 'generated');
  for (const [host, stored] of Object.entries(state.suppliedIngress)) add('ingress', host, stored.certPem, 'supplied');
  const kindOrder = { ca: 0, workload: 1, ingress: 2 };
  rows.sort((a, b) => cmp(a.notAfter, b.notAfter) || kindOrder[a.kind] - kindOrder[b.kind] || cmp(a.name, b.name));
  // During a CA rotation: re-issue the leaves the old CA signed, then finish (which refuses before).
  const oldLeaves = rows.filter((r) => r.issuer === 'ca-previous').length;
  const next = state.phase === 'stable' ? undefined : oldLeaves ? 'meshc certs rotate --all' : 'meshc certs rotate --finish';
  return {
    stateDir,
    phase: state.phase,
    ...(next ? { next } : {}),
    warnDays: opts.warnDays,
    rows,
    expired: rows.filter((r) => r.status === 'expired').length,
    expiring: rows.filter((r) => r.status === 'expiring').length,
  };
}

export interface RotateOptions extends CertStageOptions {
  /** Force these identities (or generated ingress hosts) to be re-issued. */
  services?: string[];
  /** Force every leaf to be re-issued. */
  all?: boolean;
  /** Start a CA rotation: new CA, bundle holds old and new, every leaf re-issued by the new CA. */
  ca?: boolean;
  /** Finish the CA rotation: drop the old CA from the bundle. */
  finish?: boolean;
}

export interface RotateResult {
  /** Identities and `ingress/<host>` re-issued (or newly issued), sorted. */
  reissued: string[];
  warnings: string[];
  /** Phase after the rotation. */
  phase: Phase;
  /** What happened to the CA. */
  caAction?: 'started' | 'finished';
  changed: boolean;
  material: CertMaterial;
  findings: Finding[];
}

/**
 * Rotates and commits under the state lock. Without options, re-issues leaves due within
 * `pki.renewBeforeDays` (and anything a build would issue); `services`/`all` force; `ca` starts a
 * CA rotation, `finish` ends it. UserError (exit 2) for `--finish` without a rotation, `--ca`
 * during one, both at once, or an unknown name.
 */
export async function certsRotate(mesh: Mesh, opts: RotateOptions): Promise<RotateResult> {
  if (opts.ca && opts.finish) throw new UserError('choose either --ca (start a CA rotation) or --finish (end it), not both', 2);
  // Names are identities or generated ingress hosts, the latter also as `ingress/<host>`.
  const leaves = wantedLeaves(mesh);
  const known = new Set([...leaves.map((leaf) => leaf.name), ...leaves.map(leafLabel)]);
  const unknown = (opts.services ?? []).filter((name) => !known.has(name));
  if (unknown.length > 0) {
    const names = leaves.map(leafLabel).sort(cmp);
    const guesses = unknown.map((n) => didYouMean(n, [...known])).filter((g): g is string => g !== undefined);
    throw new UserError(`unknown certificate ${unknown.map((n) => `"${n}"`).join(', ')}`, 2, `${guesses.length ? `did you mean ${guesses.map((g) => `"${g}"`).join(', ')}? ` : ''}known: ${names.join(', ')}`);
  }
  const byName = new Map(leaves.map((leaf) => [leaf.name, leafLabel(leaf)]));
  const named = new Set((opts.services ?? []).map((name) => byName.get(name) ?? name));
  const renewMs = mesh.pki.renewBeforeDays * DAY_MS;
  const force = (leaf: WantedLeaf, notAfter: Date): boolean =>
    opts.all === true || named.has(leafLabel(leaf)) || notAfter.getTime() - opts.clock().getTime() <= renewMs;

  // As for a build: no state directory until there is something to keep.
  let lock: Lock | undefined = hasState(opts.stateDir) ? acquireLock(opts.stateDir) : undefined;
  try {
    const { read, adoptFrom } = readOwnState(mesh, opts);
    const { services: _services, all: _all, ca, finish, ...stage } = opts;
    const result = await computeCerts(mesh, read, {
      ...stage,
      ring: new KeyRing(read.keys, opts.passphrase, adoptFrom ?? opts.stateDir, 'required'),
      rotating: !ca, // starting a rotation re-issues nothing: it only adds the new CA to the bundles
      force: ca ? () => false : force,
      ...(ca ? { ca: 'start' as const } : finish ? { ca: 'finish' as const } : {}),
    });
    if (result.changed) {
      lock ??= await lockNewState(opts.stateDir);
      await commitState(opts.stateDir, { text: result.nextText, keys: result.nextKeys, encrypted: result.encrypted }, read, adoptFrom);
    }
    return {
      reissued: result.issued,
      warnings: plainKeysWarning(result, opts.stateDir),
      phase: result.phase,
      ...(opts.ca ? { caAction: 'started' as const } : opts.finish ? { caAction: 'finished' as const } : {}),
      changed: result.changed,
      material: result.material,
      findings: result.findings,
    };
  } finally {
    await lock?.release();
  }
}

/** Makes the state directory and locks it, for a state that did not exist when the work began. */
async function lockNewState(stateDir: string): Promise<Lock> {
  ensureStateDir(stateDir);
  const lock = acquireLock(stateDir);
  if (hasState(stateDir)) {
    await lock.release();
    throw new UserError(`certificate state ${stateDir} was made by another meshc while this one ran`, 2, 'run it again');
  }
  return lock;
}

