import { Chalk, type ChalkInstance } from 'chalk';
import type { Diagnostic } from '../model/diagnostic.js';

/** Colour only on a terminal and never under NO_COLOR; CI logs stay plain. */
export function colours(stream: NodeJS.WriteStream = process.stdout): ChalkInstance {
  const enabled = stream.isTTY === true && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb';
  return new Chalk({ level: enabled ? 1 : 0 });
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
