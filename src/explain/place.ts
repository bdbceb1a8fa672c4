/** Explanations placed in the source: every reason and fix at mesh.yaml:LINE:COL, like a diagnostic. */
import { locate, type Source } from '../source/parse.js';
import type { Explanation, Fix, Reason } from './index.js';

export interface Place {
  file: string;
  line: number;
  col: number;
}

export type PlacedExplanation = Omit<Explanation, 'reasons' | 'fixes'> & { reasons: (Reason & Place)[]; fixes: (Fix & Place)[] };

function place<T extends { pointer: string; atKey?: boolean }>(source: Source, x: T): T & Place {
  const d = locate(source, { code: 'x', severity: 'error', message: '', pointer: x.pointer, ...(x.atKey ? { atKey: true } : {}) });
  return { ...x, file: d.file, line: d.line, col: d.col };
}

export function placeExplanation(source: Source, e: Explanation): PlacedExplanation {
  return { ...e, reasons: e.reasons.map((r) => place(source, r)), fixes: e.fixes.map((f) => place(source, f)) };
}
