import { Chalk, type ChalkInstance } from 'chalk';
import type { Diagnostic } from '../model/diagnostic.js';

let colourFlag: boolean | undefined;

/** `--color` (true) or `--no-color` (false) from the command line; undefined: decide from the environment. */
export function setColourFlag(flag: boolean | undefined): void {
  colourFlag = flag;
}

/**
 * Colour, in this order: --no-color / --color; FORCE_COLOR (any value but 0 or false turns it on,
 * also in a pipe or in CI); NO_COLOR (any value turns it off); else only on a terminal whose TERM is
 * not dumb. CI logs stay plain.
 */
export function colourEnabled(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (colourFlag !== undefined) return colourFlag;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  if ('NO_COLOR' in env) return false;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function colours(stream: NodeJS.WriteStream = process.stdout): ChalkInstance {
  return new Chalk({ level: colourEnabled(stream) ? 1 : 0 });
}

/** `mesh.yaml:12:7  error  unknown-service  message` then an indented hint. */
export function formatDiagnostics(list: readonly Diagnostic[], c: ChalkInstance = colours()): string {
  const lines: string[] = [];
  for (const d of list) {
    const sev = d.severity === 'error' ? c.red('error') : d.severity === 'warning' ? c.yellow('warning') : c.cyan('note');
    lines.push(`${c.bold(`${d.file}:${d.line}:${d.col}`)}  ${sev}  ${c.dim(d.code)}  ${d.message}`);
    if (d.hint) lines.push(`    ${c.cyan('hint:')} ${d.hint}`);
  }
  return lines.join('\n');
}

export function countLine(list: readonly Diagnostic[]): string {
  const e = list.filter((d) => d.severity === 'error').length;
  const w = list.filter((d) => d.severity === 'warning').length;
  const n = list.length - e - w;
  return `${e} error${e === 1 ? '' : 's'}, ${w} warning${w === 1 ? '' : 's'}${n > 0 ? `, ${n} note${n === 1 ? '' : 's'}` : ''}`;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** How a command shows its result: `json` for `--format json`, `text` (with colours) otherwise. */
export interface Reporter<R> {
  json(r: R): unknown;
  text(r: R, c: ChalkInstance): string;
}

/** Prints `r` through `reporter` in the chosen format. */
export function report<R>(format: string, reporter: Reporter<R>, r: R): void {
  if (format === 'json') printJson(reporter.json(r));
  else process.stdout.write(reporter.text(r, colours()));
}
