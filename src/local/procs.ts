/**
 * Starting and stopping the real programs `meshc up` and the tests run.
 *
 * Every process is started in its own process group (detached), so stop() signals the whole
 * group: nginx's worker processes go with their master even when the master has to be SIGKILLed.
 * Every started process is tracked; stopAll() and a last-resort 'exit' hook kill whatever was
 * left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface Proc {
  pid: number;
  /** SIGTERM (to the process group), wait up to 5 s, then SIGKILL. Idempotent. */
  stop(): Promise<void>;
  /** stdout and stderr so far, interleaved as received (for failure messages). */
  output(): string;
  /** Settles when the process exits, with how (`exited with code 1`, `killed by SIGTERM`). */
  exited: Promise<string>;
}

export interface StartOptions {
  cwd?: string;
  /** Added to process.env. */
  env?: Record<string, string>;
  /**
   * Readiness check, given the child's pid. Called repeatedly (100 ms apart) until it resolves;
   * a check that itself waits (waitForPort) is fine too. Without it (and without readyPattern)
   * the process counts as started once spawned.
   */
  ready?: (pid: number) => Promise<void>;
  /** Also (or instead) ready once stdout+stderr matches this pattern. */
  readyPattern?: RegExp;
  /** Default 15 000 ms. */
  readyTimeoutMs?: number;
  /** Signal for the graceful stop; default SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** How long stop() waits before SIGKILL; default 5 000 ms. */
  stopTimeoutMs?: number;
  /** Called with every complete line of stdout and stderr. */
  onLine?: (line: string) => void;
}

const MAX_OUTPUT = 1 << 20;

interface Tracked {
  child: ChildProcess;
  exited: boolean;
}

const running = new Set<Tracked>();

/** Signals the process group led by pid; falls back to the pid alone unless groupOnly. */
function signalGroup(pid: number, signal: NodeJS.Signals, groupOnly = false): void {
  try {
    process.kill(-pid, signal);
  } catch {
    if (groupOnly) return;
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

function killLeftovers(): void {
  for (const t of running) if (!t.exited && t.child.pid) signalGroup(t.child.pid, 'SIGKILL');
}

let hooksInstalled = false;
/**
 * The signal hooks below suit a test process; a command that handles SIGINT and SIGTERM itself
 * (and stops its processes gracefully) turns them off before its first start. The 'exit' hook stays.
 */
export const lastResort = { signals: true };
/**
 * Last-resort cleanup, installed on the first start: on 'exit', and on SIGTERM/SIGINT/SIGHUP
 * (vitest stops its fork workers with SIGTERM, whose default action skips 'exit' handlers). The
 * signal handler kills our process groups, then, if nobody else listens for that signal,
 * re-raises it so the default action (termination) still happens.
 */
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killLeftovers);
  if (!lastResort.signals) return;
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = () => {
      killLeftovers();
      process.off(sig, onSignal);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

export { isAlive } from '../process.js';

/**
 * Pids of the live (non-zombie) processes in process group pgid, read from /proc (Linux).
 * A started Proc leads its own group, so this lists it and its children (nginx workers).
 */
export function processGroupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z' && Number(fields[2]) === pgid) members.push(Number(entry));
  }
  return members;
}

/** Stops every process this module started that is still running. Use in afterAll. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((t) => stopTracked(t, 'SIGTERM', 5_000)));
}

function waitExit(t: Tracked, timeoutMs: number): Promise<boolean> {
  if (t.exited) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      t.child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    t.child.once('exit', onExit);
  });
}

async function stopTracked(t: Tracked, signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
  const pid = t.child.pid;
  if (!t.exited && pid) {
    signalGroup(pid, signal);
    if (!(await waitExit(t, timeoutMs))) {
      signalGroup(pid, 'SIGKILL');
      await waitExit(t, 5_000);
    }
  }
  // A leader that died on its own may have left children in its group (nginx workers): the
  // group outlives its leader's pid only while it has members, so signalling it is safe.
  if (pid) signalGroup(pid, 'SIGKILL', true);
  t.child.stdout?.destroy();
  t.child.stderr?.destroy();
  running.delete(t);
}

/**
 * Spawns cmd with args and waits until ready() succeeds. If the process exits first, ready() does
 * not succeed within readyTimeoutMs, or the program cannot be spawned, the process is stopped and
 * the returned promise rejects with an Error that includes the command line and its output.
 */
export async function startProcess(cmd: string, args: string[], opts: StartOptions = {}): Promise<Proc> {
  installHooks();
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const t: Tracked = { child, exited: false };
  let out = '';
  const partial = { stdout: '', stderr: '' };
  const append = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    out += text;
    if (out.length > MAX_OUTPUT) out = out.slice(out.length - MAX_OUTPUT);
    if (opts.onLine) {
      const lines = (partial[stream] + text).split('\n');
      partial[stream] = lines.pop() ?? '';
      for (const l of lines) opts.onLine(l);
    }
  };
  child.stdout!.on('data', append('stdout'));
  child.stderr!.on('data', append('stderr'));
  let exitInfo: string | undefined;
  let onExited: (how: string) => void = () => {};
  const exited = new Promise<string>((resolve) => (onExited = resolve));
  const closed = new Promise<void>((resolve) =>
    child.once('close', () => {
      for (const stream of ['stdout', 'stderr'] as const) if (partial[stream] && opts.onLine) opts.onLine(partial[stream]);
      onExited(exitInfo ?? 'exited');
      resolve();
    }),
  );
  child.on('exit', (code, signal) => {
    t.exited = true;
    exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
    running.delete(t);
    // Children still holding its output (nginx workers) would delay 'close' for ever.
    setTimeout(() => onExited(exitInfo ?? 'exited'), 500).unref();
  });
  const commandLine = [cmd, ...args].join(' ');
  const describe = (what: string) =>
    `${what}\n  command: ${commandLine}${opts.cwd ? `\n  cwd: ${opts.cwd}` : ''}\n  output:\n${indent(out)}`;

  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (err) => reject(new Error(describe(`could not start ${cmd}: ${err.message}`))));
  });
  running.add(t);

  const stopSignal = opts.stopSignal ?? 'SIGTERM';
  const stopTimeoutMs = opts.stopTimeoutMs ?? 5_000;
  let stopping: Promise<void> | undefined;
  const proc: Proc = {
    pid: child.pid!,
    stop: () => (stopping ??= stopTracked(t, stopSignal, stopTimeoutMs)),
    output: () => out,
    exited,
  };

  const userReady = opts.ready;
  const pattern = opts.readyPattern;
  const ready =
    userReady || pattern
      ? async () => {
          if (pattern && !pattern.test(out)) throw new Error(`output does not match ${pattern} yet`);
          if (userReady) await userReady(child.pid!);
        }
      : undefined;
  if (ready) {
    const timeoutMs = opts.readyTimeoutMs ?? 15_000;
    const deadline = Date.now() + timeoutMs;
    const exited = new Promise<'exited'>((resolve) => {
      if (t.exited) resolve('exited');
      child.once('exit', () => resolve('exited'));
    });
    let lastError: unknown;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        await proc.stop();
        const why = lastError instanceof Error ? `: ${lastError.message}` : '';
        throw new Error(describe(`${cmd} not ready after ${timeoutMs} ms${why}`));
      }
      let timer: NodeJS.Timeout | undefined;
      const attempt = ready().then(
        () => 'ok' as const,
        (err: unknown) => {
          lastError = err;
          return 'failed' as const;
        },
      );
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), left)));
      const result = await Promise.race([attempt, exited, timedOut]);
      clearTimeout(timer);
      if (result === 'ok') {
        if (t.exited) {
          signalGroup(child.pid!, 'SIGKILL', true);
          throw new Error(describe(`${cmd} ${exitInfo} right after it became ready`));
        }
        break;
      }
      if (result === 'exited') {
        // Children it left (an nginx worker) are still in its group; the leader itself is reaped,
        // so signal the group only, never the (possibly reused) pid.
        signalGroup(child.pid!, 'SIGKILL', true);
        await Promise.race([closed, new Promise((r) => setTimeout(r, 500))]); // let the last output arrive
        throw new Error(describe(`${cmd} ${exitInfo} before it was ready`));
      }
      if (result === 'failed') await new Promise((r) => setTimeout(r, Math.min(100, Math.max(0, deadline - Date.now()))));
    }
  }
  return proc;
}

function indent(text: string): string {
  const trimmed = text.trimEnd();
  return trimmed ? trimmed.split('\n').map((l) => `    ${l}`).join('\n') : '    (no output)';
}
