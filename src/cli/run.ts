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

/** Prints an error the way the CLI always does and returns its exit code. */
export function reportError(e: unknown, debug: boolean): number {
  if (isUserError(e)) {
    process.stderr.write(`meshc: ${e.message}\n`);
    if (e.hint) process.stderr.write(`  hint: ${e.hint}\n`);
    return e.exitCode;
  }
  const err = e as Error;
  process.stderr.write(`meshc: internal error: ${err?.message ?? String(e)}\n`);
  if (debug) process.stderr.write(`${err?.stack ?? ''}\n`);
  else process.stderr.write('  this is a bug in meshc: run again with --debug and report the output\n');
  return EXIT.ERROR;
}
