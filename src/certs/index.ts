/**
 * The certificate stage: the mesh CA, one leaf per identity, ingress certificates, the state that
 * keeps them between builds, rotation and status. See design.md "Identity and certificates".
 *
 * The build calls `prepareCerts` (takes the state lock, computes material without writing), emits
 * and writes the output, then `commit()`s the state and always `release()`s the lock.
 */
import { X509Certificate } from 'node:crypto';
import { UserError } from '../errors.js';
import type { Finding } from '../model/diagnostic.js';
import { cmp, type Mesh } from '../model/mesh.js';
import { GENERATED_HEADER, type OutputFile } from '../targets/target.js';
import { computeCerts, leafLabel, wantedLeaves, type WantedLeaf } from './engine.js';
import { TRUST_BUNDLE_PATH, type CertMaterial } from './material.js';
import { acquireLock, readState, writeState, type Phase } from './state.js';
import { DAY_MS, serialHex, subjectAltNames, validity } from './x509.js';

export type { CertMaterial, IssuedCert } from './material.js';
export type { Phase } from './state.js';

export interface CertStageOptions {
  /** State directory, e.g. `/abs/path/.meshc` (created with mode 0700). */
  stateDir: string;
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
  /** Identities (and `ingress/<host>`) issued by this prepare, sorted. */
  issued: string[];
  /** The state file's text as it is after `commit` (the build's input fingerprint uses it). */
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
  const lock = acquireLock(opts.stateDir);
  try {
    const { state, text } = readState(opts.stateDir);
    const result = await computeCerts(mesh, state, text, opts);
    let committed = false;
    return {
      material: result.material,
      findings: result.findings,
      changed: result.changed,
      issued: result.issued,
      stateText: result.nextText,
      async commit() {
        if (lock.held) await result.facts.save(opts.stateDir);
        if (committed || !result.changed) return;
        if (!lock.held) throw new Error('certificate state committed after its lock was released');
        await writeState(opts.stateDir, result.nextText);
        committed = true;
      },
      release: () => lock.release(),
    };
  } catch (e) {
    await lock.release();
    throw e;
  }
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
  opts: { clock: () => Date; warnDays: number; passphrase?: string },
): Promise<StatusReport> {
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
    const left = notAfter.getTime() - now;
    rows.push({
      kind,
      name,
      subject: certificate.subject.split('\n').join(', '),
      sans: subjectAltNames(certificate),
      ...(source ? { source } : {}),
      serial: serialHex(certificate),
      notAfter: notAfter.toISOString(),
      daysLeft: Math.floor(left / DAY_MS),
      status: left <= 0 ? 'expired' : left <= opts.warnDays * DAY_MS ? 'expiring' : 'ok',
    });
  };
  state.cas.forEach((ca, i) => add('ca', i === state.cas.length - 1 ? 'ca' : 'ca-previous', ca.certPem));
  for (const [name, stored] of Object.entries(state.workloads)) add('workload', name, stored.certPem);
  for (const [host, stored] of Object.entries(state.ingress)) add('ingress', host, stored.certPem, 'generated');
  for (const [host, stored] of Object.entries(state.suppliedIngress)) add('ingress', host, stored.certPem, 'supplied');
  const kindOrder = { ca: 0, workload: 1, ingress: 2 };
  rows.sort((a, b) => cmp(a.notAfter, b.notAfter) || kindOrder[a.kind] - kindOrder[b.kind] || cmp(a.name, b.name));
  return {
    stateDir,
    phase: state.phase,
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
    const list = leaves.map(leafLabel).sort(cmp).join(', ');
    throw new UserError(`unknown certificate ${unknown.map((n) => `"${n}"`).join(', ')}; known: ${list}`, 2);
  }
  const byName = new Map(leaves.map((leaf) => [leaf.name, leafLabel(leaf)]));
  const named = new Set((opts.services ?? []).map((name) => byName.get(name) ?? name));
  const renewMs = mesh.pki.renewBeforeDays * DAY_MS;
  const force = (leaf: WantedLeaf, notAfter: Date): boolean =>
    opts.all === true || named.has(leafLabel(leaf)) || notAfter.getTime() - opts.clock().getTime() <= renewMs;

  const lock = acquireLock(opts.stateDir);
  try {
    const { state, text } = readState(opts.stateDir);
    const { services: _services, all: _all, ca, finish, ...stage } = opts;
    const result = await computeCerts(mesh, state, text, {
      ...stage,
      rotating: !ca, // starting a rotation re-issues nothing: it only adds the new CA to the bundles
      force: ca ? () => false : force,
      ...(ca ? { ca: 'start' as const } : finish ? { ca: 'finish' as const } : {}),
    });
    if (result.changed) await writeState(opts.stateDir, result.nextText);
    return {
      reissued: result.issued,
      phase: result.phase,
      ...(opts.ca ? { caAction: 'started' as const } : opts.finish ? { caAction: 'finished' as const } : {}),
      changed: result.changed,
      material: result.material,
      findings: result.findings,
    };
  } finally {
    await lock.release();
  }
}

