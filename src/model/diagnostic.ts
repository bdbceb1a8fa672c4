/**
 * A problem found in mesh.yaml (or in what a target can express), tied to a place in the file.
 * `note`: information that is not a problem (for example an object `meshc import` ignores).
 */
export type Severity = 'error' | 'warning' | 'note';

export interface Diagnostic {
  /** Stable, kebab-case code (for example `unknown-service`); documented in docs/reference.md. */
  code: string;
  severity: Severity;
  /** One sentence saying what is wrong. */
  message: string;
  /** What to do about it (a did-you-mean, the nearest equivalent, ...). */
  hint?: string;
  /** JSON pointer into the document (`/spec/services/cart/upstreams/0`). */
  pointer: string;
  /** Path of the file as the user named it, and the 1-based position the pointer maps to. */
  file: string;
  line: number;
  col: number;
}

/** A diagnostic before it is mapped to a position: what stages and targets produce. */
export type Finding = Omit<Diagnostic, 'file' | 'line' | 'col'> & {
  /** Point at the key of the last pointer segment rather than its value (unknown fields, bad names). */
  atKey?: boolean;
};

export function error(code: string, pointer: string, message: string, hint?: string): Finding {
  return { code, severity: 'error', pointer, message, ...(hint ? { hint } : {}) };
}

export function warning(code: string, pointer: string, message: string, hint?: string): Finding {
  return { code, severity: 'warning', pointer, message, ...(hint ? { hint } : {}) };
}

export function hasErrors(list: readonly { severity: Severity }[]): boolean {
  return list.some((d) => d.severity === 'error');
}

/** Builds a JSON pointer from segments, escaping `~` and `/` (RFC 6901). */
export function pointer(...segments: (string | number)[]): string {
  return segments.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}
