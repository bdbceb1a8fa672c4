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
      code = reportError(e, debug, wantsJson(process.argv));
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

/** Whether the command line asks for JSON (`--format json` or `--format=json`): then errors are JSON too. */
export function wantsJson(argv: readonly string[]): boolean {
  return argv.some((a, i) => a === '--format=json' || (a === '--format' && argv[i + 1] === 'json'));
}

/**
 * An error as JSON on stdout, where a `--format json` reader looks: `{"ok": false, "error": {kind,
 * message, hint?}}`. kind: usage, io, user or internal.
 */
export function printJsonError(kind: 'usage' | 'io' | 'user' | 'internal', message: string, hint?: string, stack?: string): void {
  process.stdout.write(JSON.stringify({ ok: false, error: { kind, message, ...(hint ? { hint } : {}), ...(stack ? { stack } : {}) } }, null, 2) + '\n');
}

/** Prints an error the way the CLI always does and returns its exit code. */
export function reportError(e: unknown, debug: boolean, json = false): number {
  if (json) {
    if (isUserError(e)) printJsonError('user', e.message, e.hint);
    else if (isSystemError(e)) printJsonError('io', `cannot read or write a file: ${e.message}`, 'check the path it names: the output (-o) and state (--state) directories must be directories this user may write');
    else {
      const err = e as Error;
      printJsonError('internal', err?.message ?? String(e), 'this is a bug in meshc: run again with --debug and report the output', debug ? err?.stack : undefined);
    }
    return isUserError(e) ? e.exitCode : EXIT.ERROR;
  }
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
