/**
 * A problem the user can fix (unreadable file, locked state, bad flag): printed as one line, no
 * stack. `exitCode` 1 means findings, 2 usage or I/O. Anything else thrown is an internal error.
 */
export class UserError extends Error {
  constructor(
    message: string,
    public exitCode: 1 | 2 = 2,
    public hint?: string,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** A broken invariant inside meshc: the CLI reports it as a bug (stack with --debug). */
export class InternalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InternalError';
  }
}
