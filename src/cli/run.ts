import { isUserError } from '../errors.js';

/** Exit codes everywhere: 0 success, 1 findings, 2 usage, I/O or internal error. */
export const EXIT = { OK: 0, FINDINGS: 1, ERROR: 2 } as const;

/**
 * Wraps a command action: user errors print one line (and a hint), internal errors print a stack
 * only with --debug and ask for a bug report. The action returns its exit code.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const debug = process.argv.includes('--debug');
    let code: number;
    try {
      code = await fn(...args);
    } catch (e) {
      code = reportError(e, debug);
    }
    process.exitCode = code;
  };
}

/**
 * An error the operating system reported for a file or directory (ENOENT, EACCES, ENOSPC, ...):
 * a path that cannot be read or written, not a bug in meshc.
 */
function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  const x = e as NodeJS.ErrnoException | null;
  return x instanceof Error && typeof x.code === 'string' && /^E[A-Z]+$/.test(x.code) && typeof x.syscall === 'string';
}

/** Prints an error the way the CLI always does and returns its exit code. */
export function reportError(e: unknown, debug: boolean): number {
  if (isUserError(e)) {
    process.stderr.write(`meshc: ${e.message}\n`);
    if (e.hint) process.stderr.write(`  hint: ${e.hint}\n`);
    return e.exitCode;
  }
  if (isSystemError(e)) {
    // Node's message names the error, the call and the path: "ENOSPC: no space left on device, open '...'".
    process.stderr.write(`meshc: cannot read or write a file: ${e.message}\n`);
    process.stderr.write('  hint: check the path it names: the output (-o) and state (--state) directories must be directories this user may write\n');
    if (debug) process.stderr.write(`${e.stack ?? ''}\n`);
    return EXIT.ERROR;
  }
  const err = e as Error;
  process.stderr.write(`meshc: internal error: ${err?.message ?? String(e)}\n`);
  if (debug) process.stderr.write(`${err?.stack ?? ''}\n`);
  else process.stderr.write('  this is a bug in meshc: run again with --debug and report the output\n');
  return EXIT.ERROR;
}
