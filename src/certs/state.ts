/**
 * The certificate state directory (default `.meshc/` beside mesh.yaml):
 *
 *   .meshc/            mode 0700
 *     state.json       mode 0600: every CA, leaf and generated ingress certificate with its key
 *     lock             mode 0600: pid of the meshc holding the state (from prepare to release)
 *
 * One file on purpose: a commit that adds, re-issues and drops many certificates at once (a CA
 * rotation re-issues every leaf) becomes a single `rename`, so a crash or a failed build leaves
 * either the old state or the new one, never a mix. The file is written to a temporary name in
 * the same directory, fsynced, renamed over state.json, and the directory fsynced.
 *
 * With `MESHC_STATE_PASSPHRASE`, private keys are stored as encrypted PKCS#8 (AES-256-CBC); the
 * certificates are public and stay readable, so `certs status` needs no passphrase.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { chmodSync, closeSync, constants as fsConstants, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import { isAlive } from '../process.js';

export const STATE_FILE = 'state.json';
export const LOCK_FILE = 'lock';
const FORMAT = 'meshc-cert-state';
const VERSION = 1;

export type Phase = 'stable' | 'ca-rotation';

/** A certificate and its key as stored (`keyPem` encrypted when the state is). */
export interface StoredCert {
  certPem: string;
  keyPem: string;
}

/** A supplied ingress certificate, recorded (public part only) so `certs status` can watch it. */
export interface StoredSuppliedCert {
  certPem: string;
  certFile: string;
}

export interface StateData {
  phase: Phase;
  keysEncrypted: boolean;
  /** Oldest first; the last one issues. Two during a CA rotation. */
  cas: StoredCert[];
  /** By identity name. */
  workloads: Record<string, StoredCert>;
  /** Generated ingress certificates, by host. */
  ingress: Record<string, StoredCert>;
  /** Supplied ingress certificates, by host. */
  suppliedIngress: Record<string, StoredSuppliedCert>;
}

export function emptyState(): StateData {
  return { phase: 'stable', keysEncrypted: false, cas: [], workloads: {}, ingress: {}, suppliedIngress: {} };
}

function sortedRecord<T>(record: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const key of Object.keys(record).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) out[key] = record[key]!;
  return out;
}

/** Stable serialization: the same state always gives the same bytes, so "changed" is a string compare. */
export function serializeState(state: StateData): string {
  return (
    JSON.stringify(
      {
        format: FORMAT,
        version: VERSION,
        phase: state.phase,
        keysEncrypted: state.keysEncrypted,
        cas: state.cas.map((c) => ({ certPem: c.certPem, keyPem: c.keyPem })),
        workloads: sortedRecord(state.workloads),
        ingress: sortedRecord(state.ingress),
        suppliedIngress: sortedRecord(state.suppliedIngress),
      },
      null,
      2,
    ) + '\n'
  );
}

function parseState(text: string, file: string): StateData {
  const unreadable = (why: string) =>
    new UserError(`certificate state ${file} is unreadable: ${why}`, 2, 'restore it from a backup, or remove it to start a new CA (every peer must then be redeployed)');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw unreadable(`not JSON (${(e as Error).message})`);
  }
  const obj = raw as Partial<StateData> & { format?: unknown; version?: unknown };
  if (!obj || typeof obj !== 'object' || obj.format !== FORMAT) throw unreadable('not a meshc certificate state');
  if (obj.version !== VERSION) throw unreadable(`unsupported version ${String(obj.version)}`);
  const isCert = (c: unknown): c is StoredCert =>
    !!c && typeof (c as StoredCert).certPem === 'string' && typeof (c as StoredCert).keyPem === 'string';
  const isRecord = (r: unknown, check: (c: unknown) => boolean) =>
    !!r && typeof r === 'object' && !Array.isArray(r) && Object.values(r).every(check);
  if (obj.phase !== 'stable' && obj.phase !== 'ca-rotation') throw unreadable('bad phase');
  if (!Array.isArray(obj.cas) || !obj.cas.every(isCert)) throw unreadable('bad CA list');
  if (!isRecord(obj.workloads, isCert) || !isRecord(obj.ingress, isCert)) throw unreadable('bad certificate list');
  const supplied = obj.suppliedIngress ?? {};
  if (!isRecord(supplied, (c) => !!c && typeof (c as StoredSuppliedCert).certPem === 'string')) throw unreadable('bad supplied list');
  return {
    phase: obj.phase,
    keysEncrypted: obj.keysEncrypted === true,
    cas: obj.cas,
    workloads: obj.workloads!,
    ingress: obj.ingress!,
    suppliedIngress: supplied,
  };
}

/** Reads state.json; an absent file is an empty state (`exists: false`). */
export function readState(stateDir: string): { state: StateData; text: string | undefined } {
  const file = path.join(stateDir, STATE_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { state: emptyState(), text: undefined };
    throw new UserError(`certificate state ${file} is unreadable: ${(e as Error).message}`);
  }
  return { state: parseState(text, file), text };
}

/** Creates the state directory with mode 0700 (and tightens it if it already exists). */
function ensureStateDir(stateDir: string): void {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    chmodSync(stateDir, 0o700);
  } catch (e) {
    throw new UserError(`cannot create certificate state directory ${stateDir}: ${(e as Error).message}`);
  }
}

/**
 * The state directory is meant to be committed (keys encrypted); the caches beside state.json
 * (build stamps, leaf facts) are not: a `.gitignore` there keeps them out of git.
 */
export const STATE_GITIGNORE = '# meshc caches: derived, safe to delete, not for version control\n/builds.json\n/leaf-facts.json\n';

export async function ignoreCaches(stateDir: string): Promise<void> {
  const file = path.join(stateDir, '.gitignore');
  const current = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (current === STATE_GITIGNORE) return;
  // A file the user wrote is left alone.
  if (current !== undefined && !current.startsWith('# meshc caches')) return;
  await fs.writeFile(file, STATE_GITIGNORE, { mode: 0o644 }).catch(() => undefined);
}

/** Atomically replaces state.json (temp file, fsync, rename, fsync the directory). */
export async function writeState(stateDir: string, text: string): Promise<void> {
  ensureStateDir(stateDir);
  const file = path.join(stateDir, STATE_FILE);
  const temp = path.join(stateDir, `.${STATE_FILE}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'wx', 0o600);
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
  const dir = await fs.open(stateDir, fsConstants.O_RDONLY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}


/** A held lock; `release` is idempotent and only removes the lock if it is still ours. */
export interface Lock {
  release(): Promise<void>;
  readonly held: boolean;
}

/**
 * Takes `<stateDir>/lock` with O_EXCL, writing our pid. A lock whose pid is no longer running is
 * stale and taken over; a live one is a UserError (exit 2). Synchronous, as is readState: a few
 * system calls that took 10-25 ms as a chain of promises through the libuv pool at the start of
 * a build, and take under 1 ms as plain calls.
 */
export function acquireLock(stateDir: string): Lock {
  ensureStateDir(stateDir);
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

/** Reads a stored key, decrypting it with the passphrase when the state is encrypted. */
export function loadKey(stored: StoredCert, state: StateData, passphrase: string | undefined, stateDir: string): KeyObject {
  if (!state.keysEncrypted) return crypto.createPrivateKey(stored.keyPem);
  if (passphrase === undefined || passphrase === '') {
    throw new UserError(
      `certificate state ${stateDir} is encrypted; set MESHC_STATE_PASSPHRASE to its passphrase`,
      2,
    );
  }
  try {
    return crypto.createPrivateKey({ key: stored.keyPem, format: 'pem', passphrase });
  } catch {
    throw new UserError(`wrong MESHC_STATE_PASSPHRASE for certificate state ${stateDir}`, 2);
  }
}

/** A key as it goes into state.json: encrypted PKCS#8 when a passphrase is set. */
export function storeKey(key: KeyObject, passphrase: string | undefined): string {
  if (passphrase === undefined || passphrase === '') return key.export({ type: 'pkcs8', format: 'pem' }) as string;
  return key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
}
