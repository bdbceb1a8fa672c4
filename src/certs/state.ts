/**
 * The certificate state of one mesh (default `.meshc/<mesh file name>/` beside the mesh file, see
 * location.ts). Public and secret parts live in separate files, so the public part can be
 * committed and the keys can never be staged by accident:
 *
 *   .meshc/<name>/              mode 0700
 *     state.json                public: the mesh it belongs to, every CA, leaf and ingress
 *                               certificate, the rotation phase (what check, diff and status need)
 *     keys.encrypted.json       secret, with MESHC_STATE_PASSPHRASE: every private key as encrypted
 *                               PKCS#8 (AES-256-CBC); safe to commit
 *     private/keys.json         secret, without a passphrase: plain PKCS#8 keys, mode 0600, in a
 *                               directory whose own `.gitignore` ignores everything in it
 *     .gitignore, lock, builds.json, leaf-facts.json   (caches and the lock: never committed)
 *
 * Keys are stored by the sha256 of their certificate's PEM, so the two parts need no common
 * transaction: a commit writes the keys of the old and the new certificates first, then
 * state.json (one rename), then drops the keys no certificate uses. A crash anywhere leaves a
 * state.json whose every key is on disk.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { chmodSync, closeSync, constants as fsConstants, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import { crashPoint, isAlive } from '../process.js';
import { cmp } from '../model/mesh.js';

export const STATE_FILE = 'state.json';
export const LOCK_FILE = 'lock';
export const PRIVATE_DIR = 'private';
/** Plain keys, relative to the state directory. */
export const PLAIN_KEYS_FILE = `${PRIVATE_DIR}/keys.json`;
export const ENCRYPTED_KEYS_FILE = 'keys.encrypted.json';
const FORMAT = 'meshc-cert-state';
const KEYS_FORMAT = 'meshc-cert-keys';
const VERSION = 2;

export type Phase = 'stable' | 'ca-rotation';

/** The mesh a state belongs to: a state made for another mesh is never used. */
export interface MeshBinding {
  name: string;
  trustDomain: string;
}

/** A certificate as stored (its key lives in the secret part). */
export interface StoredCert {
  certPem: string;
}

/** A supplied ingress certificate, recorded (public part only) so `certs status` can watch it. */
export interface StoredSuppliedCert {
  certPem: string;
  certFile: string;
}

/** The public part. */
export interface StateData {
  /** Absent only in a state written by an older meshc (version 1). */
  mesh?: MeshBinding;
  phase: Phase;
  /** Oldest first; the last one issues. Two during a CA rotation. */
  cas: StoredCert[];
  /** By identity name. */
  workloads: Record<string, StoredCert>;
  /** Generated ingress certificates, by host. */
  ingress: Record<string, StoredCert>;
  /** Supplied ingress certificates, by host. */
  suppliedIngress: Record<string, StoredSuppliedCert>;
}

/** Private keys as stored, by the sha256 of their certificate's PEM (see certKeyId). */
export type KeyMap = Record<string, string>;

/** The secret part as found on disk: either store may be absent. */
export interface StoredKeys {
  plain?: KeyMap;
  encrypted?: KeyMap;
}

export interface ReadState {
  state: StateData;
  /** state.json's text; undefined when there is no state. */
  text: string | undefined;
  keys: StoredKeys;
  /** Texts of the key stores as read (plain, encrypted), for the build fingerprint. */
  keyTexts: [string | undefined, string | undefined];
  /** 1: an older meshc's single file with the keys inside. */
  version: 1 | 2;
}

export function emptyState(): StateData {
  return { phase: 'stable', cas: [], workloads: {}, ingress: {}, suppliedIngress: {} };
}

/** The id a key is stored under: the sha256 of its certificate's PEM. */
export function certKeyId(certPem: string): string {
  return crypto.createHash('sha256').update(certPem).digest('hex');
}

function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const key of Object.keys(record).sort(cmp)) out[key] = record[key]!;
  return out;
}

/** Stable serialization: the same state always gives the same bytes, so "changed" is a string compare. */
export function serializeState(state: StateData): string {
  const certs = (r: Record<string, StoredCert>) => Object.fromEntries(Object.entries(sortedRecord(r)).map(([k, c]) => [k, { certPem: c.certPem }]));
  return (
    JSON.stringify(
      {
        format: FORMAT,
        version: VERSION,
        ...(state.mesh ? { mesh: { name: state.mesh.name, trustDomain: state.mesh.trustDomain } } : {}),
        phase: state.phase,
        cas: state.cas.map((c) => ({ certPem: c.certPem })),
        workloads: certs(state.workloads),
        ingress: certs(state.ingress),
        suppliedIngress: sortedRecord(state.suppliedIngress),
      },
      null,
      2,
    ) + '\n'
  );
}

export function serializeKeys(keys: KeyMap, encrypted: boolean): string {
  return JSON.stringify({ format: KEYS_FORMAT, version: 1, encrypted, keys: sortedRecord(keys) }, null, 2) + '\n';
}

function unreadable(file: string, why: string): UserError {
  return new UserError(`certificate state ${file} is unreadable: ${why}`, 2, 'restore it from a backup, or remove it to start a new CA (every peer must then be redeployed)');
}

function parseState(text: string, file: string): { state: StateData; keys: StoredKeys; version: 1 | 2 } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw unreadable(file, `not JSON (${(e as Error).message})`);
  }
  type Raw = { format?: unknown; version?: unknown; mesh?: Partial<MeshBinding>; phase?: unknown; keysEncrypted?: unknown; cas?: unknown; workloads?: unknown; ingress?: unknown; suppliedIngress?: unknown };
  const obj = raw as Raw;
  if (!obj || typeof obj !== 'object' || obj.format !== FORMAT) throw unreadable(file, 'not a meshc certificate state');
  if (obj.version !== 1 && obj.version !== VERSION) throw unreadable(file, `unsupported version ${String(obj.version)}`);
  const version = obj.version;
  // Version 1 kept each key beside its certificate.
  const isCert = (c: unknown): c is StoredCert & { keyPem?: string } =>
    !!c && typeof (c as StoredCert).certPem === 'string' && (version === 2 || typeof (c as { keyPem?: unknown }).keyPem === 'string');
  const isRecord = (r: unknown, check: (c: unknown) => boolean): r is Record<string, StoredCert & { keyPem?: string }> =>
    !!r && typeof r === 'object' && !Array.isArray(r) && Object.values(r).every(check);
  if (obj.phase !== 'stable' && obj.phase !== 'ca-rotation') throw unreadable(file, 'bad phase');
  if (!Array.isArray(obj.cas) || !obj.cas.every(isCert)) throw unreadable(file, 'bad CA list');
  if (!isRecord(obj.workloads, isCert) || !isRecord(obj.ingress, isCert)) throw unreadable(file, 'bad certificate list');
  const supplied = obj.suppliedIngress ?? {};
  if (!isRecord(supplied, (c) => !!c && typeof (c as StoredSuppliedCert).certPem === 'string')) throw unreadable(file, 'bad supplied list');
  if (version === 2 && (typeof obj.mesh?.name !== 'string' || typeof obj.mesh.trustDomain !== 'string')) throw unreadable(file, 'no mesh name');
  const keys: KeyMap = {};
  const strip = (r: Record<string, StoredCert & { keyPem?: string }>) =>
    Object.fromEntries(
      Object.entries(r).map(([name, c]) => {
        if (c.keyPem !== undefined) keys[certKeyId(c.certPem)] = c.keyPem;
        return [name, { certPem: c.certPem }];
      }),
    );
  const state: StateData = {
    ...(version === 2 ? { mesh: { name: obj.mesh!.name!, trustDomain: obj.mesh!.trustDomain! } } : {}),
    phase: obj.phase,
    cas: (obj.cas as (StoredCert & { keyPem?: string })[]).map((c) => {
      if (c.keyPem !== undefined) keys[certKeyId(c.certPem)] = c.keyPem;
      return { certPem: c.certPem };
    }),
    workloads: strip(obj.workloads),
    ingress: strip(obj.ingress),
    suppliedIngress: supplied as Record<string, StoredSuppliedCert>,
  };
  return { state, keys: version === 1 ? (obj.keysEncrypted === true ? { encrypted: keys } : { plain: keys }) : {}, version };
}

function parseKeys(text: string, file: string, encrypted: boolean): KeyMap {
  let raw: { format?: unknown; encrypted?: unknown; keys?: unknown };
  try {
    raw = JSON.parse(text) as typeof raw;
  } catch (e) {
    throw unreadable(file, `not JSON (${(e as Error).message})`);
  }
  if (!raw || raw.format !== KEYS_FORMAT || raw.encrypted !== encrypted) throw unreadable(file, 'not a meshc key store');
  const keys = raw.keys;
  if (!keys || typeof keys !== 'object' || Array.isArray(keys) || !Object.values(keys).every((k) => typeof k === 'string')) throw unreadable(file, 'bad key list');
  return keys as KeyMap;
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UserError(`certificate state ${file} is unreadable: ${(e as Error).message}`);
  }
}

/** Reads the state, public and secret parts; an absent state.json is an empty state (`text: undefined`). */
export function readState(stateDir: string): ReadState {
  const file = path.join(stateDir, STATE_FILE);
  const text = readOptional(file);
  if (text === undefined) return { state: emptyState(), text: undefined, keys: {}, keyTexts: [undefined, undefined], version: VERSION };
  const parsed = parseState(text, file);
  const keys: StoredKeys = { ...parsed.keys };
  const plainFile = path.join(stateDir, ...PLAIN_KEYS_FILE.split('/'));
  const encryptedFile = path.join(stateDir, ENCRYPTED_KEYS_FILE);
  const plainText = readOptional(plainFile);
  const encryptedText = readOptional(encryptedFile);
  if (plainText !== undefined) keys.plain = { ...keys.plain, ...parseKeys(plainText, plainFile, false) };
  if (encryptedText !== undefined) keys.encrypted = { ...keys.encrypted, ...parseKeys(encryptedText, encryptedFile, true) };
  return { state: parsed.state, text, keys, keyTexts: [plainText, encryptedText], version: parsed.version };
}

/**
 * What the build's input fingerprint takes of the state: state.json and both key stores, so a
 * changed, added or removed key store sends the next build down the full path.
 */
export function stateFingerprintText(r: Pick<ReadState, 'text' | 'keyTexts'>): string | undefined {
  if (r.text === undefined) return undefined;
  return `${r.text}\0${r.keyTexts[0] ?? ''}\0${r.keyTexts[1] ?? ''}`;
}

/** The same, read from disk: for the rebuild shortcut and diff's incremental path, which parse nothing. */
export function readStateFingerprint(stateDir: string): string | undefined {
  const opt = (p: string) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  };
  return stateFingerprintText({
    text: opt(path.join(stateDir, STATE_FILE)),
    keyTexts: [opt(path.join(stateDir, ...PLAIN_KEYS_FILE.split('/'))), opt(path.join(stateDir, ENCRYPTED_KEYS_FILE))],
  });
}

/** Creates the state directory with mode 0700 (and tightens it if it already exists). */
export function ensureStateDir(stateDir: string): void {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    chmodSync(stateDir, 0o700);
  } catch (e) {
    throw new UserError(`cannot create certificate state directory ${stateDir}: ${(e as Error).message}`);
  }
}

/**
 * The public part of the state directory is meant to be committed; the caches beside state.json
 * (build stamps, leaf facts), the lock and the plain keys are not: a `.gitignore` there keeps them
 * out of git. The plain keys' directory has its own `.gitignore` too (see ensurePrivateDir), which
 * holds even where the user replaced this one.
 */
export const STATE_GITIGNORE = '# meshc: caches, the lock and unencrypted private keys: not for version control\n/builds.json\n/leaf-facts.json\n/lock\n/private/\n';
const OLD_GITIGNORE_PREFIX = '# meshc caches';

export async function ignoreCaches(stateDir: string): Promise<void> {
  const file = path.join(stateDir, '.gitignore');
  const current = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (current === STATE_GITIGNORE) return;
  // A file the user wrote is left alone.
  if (current !== undefined && !current.startsWith(OLD_GITIGNORE_PREFIX) && !current.startsWith('# meshc:')) return;
  await fs.writeFile(file, STATE_GITIGNORE, { mode: 0o644 }).catch(() => undefined);
}

/** A `.gitignore` that ignores everything in its directory, itself included. */
export const IGNORE_ALL = '# meshc: private keys; nothing here is ever to be committed\n*\n';

/** The plain keys' directory: mode 0700, and its `.gitignore` is written before any key. */
function ensurePrivateDir(stateDir: string): void {
  const dir = path.join(stateDir, PRIVATE_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const ignore = path.join(dir, '.gitignore');
  if (readOptional(ignore) !== IGNORE_ALL) writeFileSync(ignore, IGNORE_ALL, { mode: 0o644 });
}

/** Atomically replaces a file (temp file, fsync, rename, fsync the directory). */
async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'wx', mode);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (e) {
    await handle.close();
    await fs.rm(temp, { force: true });
    throw e;
  }
  await handle.close();
  try {
    await fs.rename(temp, file);
  } catch (e) {
    await fs.rm(temp, { force: true });
    throw e;
  }
  const d = await fs.open(dir, fsConstants.O_RDONLY);
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** The next state, as a commit writes it. */
export interface NextState {
  text: string;
  /** Every key the next state's certificates use, stored as `encrypted` says. */
  keys: KeyMap;
  encrypted: boolean;
}

/**
 * Writes the next state over `current` (read from `stateDir`, or from `adoptFrom`, an older
 * meshc's state directory shared by every mesh file beside it, whose files are removed once the
 * state is in its own directory). Keys first (old and new), then state.json, then the keys alone
 * that state.json uses; moving to encrypted keys removes the plain ones.
 */
export async function commitState(stateDir: string, next: NextState, current: ReadState, adoptFrom?: string): Promise<void> {
  ensureStateDir(stateDir);
  const target = path.join(stateDir, ...(next.encrypted ? [ENCRYPTED_KEYS_FILE] : PLAIN_KEYS_FILE.split('/')));
  const other = path.join(stateDir, ...(next.encrypted ? PLAIN_KEYS_FILE.split('/') : [ENCRYPTED_KEYS_FILE]));
  const targetText = adoptFrom ? undefined : current.keyTexts[next.encrypted ? 1 : 0];
  const finalText = serializeKeys(next.keys, next.encrypted);
  if (!next.encrypted) ensurePrivateDir(stateDir);
  if (targetText !== finalText) {
    const before = targetText === undefined ? {} : parseKeys(targetText, target, next.encrypted);
    const union = serializeKeys({ ...before, ...next.keys }, next.encrypted);
    await writeAtomic(target, union, 0o600);
    crashPoint('keys-written');
    if (next.text !== current.text || adoptFrom) await writeAtomic(path.join(stateDir, STATE_FILE), next.text, 0o644);
    crashPoint('state-written');
    if (union !== finalText) await writeAtomic(target, finalText, 0o600);
  } else if (next.text !== current.text || adoptFrom) {
    await writeAtomic(path.join(stateDir, STATE_FILE), next.text, 0o644);
  }
  // Once the keys are encrypted, the plain ones go. (A build without the passphrase never
  // commits over encrypted keys: it stops first, see keys.ts.)
  if (next.encrypted) await fs.rm(other, { force: true });
  await ignoreCaches(stateDir);
  if (adoptFrom) {
    for (const name of [STATE_FILE, 'builds.json', 'leaf-facts.json', ENCRYPTED_KEYS_FILE, PLAIN_KEYS_FILE]) await fs.rm(path.join(adoptFrom, ...name.split('/')), { force: true });
  }
}

/** Whether the state directory holds a state. */
export function hasState(stateDir: string): boolean {
  return existsSync(path.join(stateDir, STATE_FILE));
}

/** A held lock; `release` is idempotent and only removes the lock if it is still ours. */
export interface Lock {
  release(): Promise<void>;
  readonly held: boolean;
}

/**
 * Takes `<stateDir>/lock` (the directory must exist) with O_EXCL, writing our pid. A lock whose
 * pid is no longer running is stale and taken over; a live one is a UserError (exit 2).
 * Synchronous, as is readState: a few system calls, cheaper as plain calls than as a chain of
 * promises through the libuv pool.
 */
export function acquireLock(stateDir: string): Lock {
  const lockFile = path.join(stateDir, LOCK_FILE);
  // The pid, a nonce (so release removes only our own lock) and the pid's start time (see lockHolder).
  const token = `${process.pid}\n${crypto.randomBytes(8).toString('hex')}\n${processStart(process.pid) ?? ''}\n`;
  const readLock = () => {
    try {
      return readFileSync(lockFile, 'utf8');
    } catch {
      return undefined;
    }
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx', 0o600);
      try {
        writeFileSync(fd, token, 'utf8');
      } finally {
        closeSync(fd);
      }
      let held = true;
      return {
        get held() {
          return held;
        },
        async release() {
          if (!held) return;
          held = false;
          const current = await fs.readFile(lockFile, 'utf8').catch(() => undefined);
          if (current === token) await fs.rm(lockFile, { force: true });
        },
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new UserError(`cannot lock certificate state ${lockFile}: ${(e as Error).message}`);
    }
    const content = readLock();
    if (content === undefined) continue; // released meanwhile: try again
    const holder = lockHolder(content);
    if (holder.stale) {
      // Stale: its owner died. Re-read right before removing so a fresh lock is not removed.
      if (readLock() === content) rmSync(lockFile, { force: true });
      continue;
    }
    throw new UserError(`state ${stateDir} is locked by ${holder.who}`, 2, holder.hint(lockFile));
  }
  throw new UserError(`state ${stateDir} is locked (lock ${lockFile} keeps changing); try again`, 2);
}

/** A process's start time in clock ticks since boot (Linux /proc), or undefined where unknown. */
function processStart(pid: number): string | undefined {
  try {
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The command line of a live process (Linux /proc), shortened for a message. */
function commandLine(pid: number): string | undefined {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const line = args.join(' ');
    return args.length === 0 ? undefined : line.length > 80 ? `${line.slice(0, 77)}...` : line;
  } catch {
    return undefined;
  }
}

/**
 * Who holds a lock, from what it records (pid, nonce, start time). A dead pid, or a live pid that
 * started at another time than the one recorded (the pid was reused after the owner was killed),
 * is stale. A lock without a start time (an older meshc) held by a live program that is not
 * meshc is reported as such, not as "another meshc".
 */
function lockHolder(content: string): { stale: boolean; who: string; hint: (lockFile: string) => string } {
  const [pidText, , recordedStart] = content.split('\n');
  const pid = Number.parseInt(pidText ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0)
    return { stale: false, who: 'an unknown process (the lock file records no pid)', hint: (f) => `remove ${f} if no meshc is running` };
  if (!isAlive(pid)) return { stale: true, who: '', hint: () => '' };
  const start = processStart(pid);
  if (recordedStart && start !== undefined && start !== recordedStart) return { stale: true, who: '', hint: () => '' };
  const cmd = commandLine(pid);
  const wait = (f: string) => `wait for it to finish; remove ${f} only if that process is not meshc`;
  if (recordedStart || cmd === undefined) return { stale: false, who: `pid ${pid}${cmd ? ` (${cmd})` : ''}, a meshc run in progress`, hint: wait };
  if (/(^|[/ ])meshc(\.js)?( |$)/.test(cmd)) return { stale: false, who: `pid ${pid} (${cmd}), another meshc run in progress`, hint: wait };
  return {
    stale: false,
    who: `pid ${pid} (${cmd}), which is not meshc: the meshc that took the lock ended without releasing it and its pid now belongs to another program`,
    hint: (f) => `remove ${f} if no meshc is running`,
  };
}

/** A key as stored: encrypted PKCS#8 with a passphrase, plain PKCS#8 without. */
export function storeKey(key: KeyObject, passphrase: string | undefined): string {
  if (passphrase === undefined || passphrase === '') return key.export({ type: 'pkcs8', format: 'pem' }) as string;
  return key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
}
