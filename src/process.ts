import { writeSync } from 'node:fs';
/** Whether a process exists (EPERM: it exists but belongs to someone else). For stale lock files and staging directories. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** execa, imported on first use: importing it takes about 70 ms, and most commands run no process. */
export function loadExeca(): Promise<typeof import('execa').execa> {
  return import('execa').then((m) => m.execa);
}

/**
 * `cmd args` run with its standard output through a pipe (`| cat`): Node gives a child a socket
 * for its output, and nginx cannot open `/dev/stdout` (its access log by default) when that is a
 * socket. Exit status is the command's (pipefail). A stop signal to the process group reaches the
 * command; the shell waits for it to exit and `cat` reads to the end, so the process counts as
 * stopped only once the command has.
 */
export function withStdoutPipe(cmd: string, args: string[]): [string, string[]] {
  const script = `set -o pipefail; trap : ${SIGNALS}; "$@" | (trap '' ${SIGNALS}; exec cat)`;
  return ['/bin/bash', ['-c', script, 'meshc-pipe', cmd, ...args]];
}
const SIGNALS = 'TERM INT QUIT HUP';

let STOP_AT = process.env.MESHC_TEST_STOP_AT;

/**
 * A named point where the crash tests kill a build: with MESHC_TEST_STOP_AT=<name>, the process
 * says so on stderr and stops itself there (SIGSTOP), the first time only, and the test sends
 * SIGKILL, or another signal and SIGCONT. A no-op otherwise.
 */
export function crashPoint(name: string): void {
  if (STOP_AT !== name) return;
  STOP_AT = undefined; // a point reached per batch ('writing') must not stop a continued build again
  writeSync(2, `meshc-test-stopped-at ${name}\n`);
  process.kill(process.pid, 'SIGSTOP');
}
