import type { Command } from 'commander';
import type { ChalkInstance } from 'chalk';
import { UserError } from '../errors.js';
import { explain } from '../explain/index.js';
import { placeExplanation, type PlacedExplanation } from '../explain/place.js';
import { validate } from '../pipeline/validate.js';
import type { Mesh } from '../model/mesh.js';
import type { WrittenMesh } from '../schema/written-mesh.js';
import type { Source } from '../source/parse.js';
import { addDebug, addFile, addFormat } from './options.js';
import { colours, countLine, formatDiagnostics, printJson } from './render.js';
import { action, EXIT } from './run.js';

export function registerExplain(program: Command): void {
  const cmd = program
    .command('explain')
    .description('say whether FROM may call TO and why, at the mesh.yaml lines that decide it')
    .argument('<from>', 'a service, or "internet"')
    .argument('<to>', 'a service, an external domain, or a URL through the ingress (https://HOST/PATH)')
    .addHelpText('after', `
Examples:
  $ meshc explain frontend catalog                          # mTLS: upstream and allowFrom
  $ meshc explain payments api.stripe.com                   # egress: the name or wildcard that matched
  $ meshc explain internet https://shop.example.com/api/cart  # ingress: host, winning route, load balancing
  $ meshc explain web ledger --format json

A refusal names the nearest change that would allow the call.
Exit codes: 0 allowed, 1 refused, 2 usage, invalid mesh or I/O error (as \`kubectl auth can-i\`).`);
  for (const add of [addFile, addFormat, addDebug]) add(cmd);
  cmd.action(
    action(async (from: string, to: string, o: { file: string; format: 'text' | 'json' }) => {
      const m = await loadPolicy(o.file);
      const placed = placeExplanation(m.source, explain(m.mesh, m.written, from, to));
      if (o.format === 'json') printJson(placed);
      else process.stdout.write(formatExplanation(placed) + '\n');
      return placed.decision === 'allow' ? EXIT.OK : EXIT.FINDINGS;
    }),
  );
}

export interface Policy {
  mesh: Mesh;
  written: WrittenMesh;
  source: Source;
}

/** The mesh as policy (no target checks); an invalid mesh is printed and ends the command with exit 2. */
export async function loadPolicy(file: string): Promise<Policy> {
  const v = await validate({ file, targets: [] });
  if (!v.ok || !v.mesh || !v.written || !v.source) {
    process.stderr.write(formatDiagnostics(v.diagnostics, colours(process.stderr)) + '\n');
    throw new UserError(`${file} is invalid: ${countLine(v.diagnostics)}`, 2, 'run `meshc validate` and fix the mesh first');
  }
  return { mesh: v.mesh, written: v.written, source: v.source };
}

/** The decision, then each reason and fix at its place, indented. */
export function formatExplanation(e: PlacedExplanation, c: ChalkInstance = colours(), indent = ''): string {
  const head = e.decision === 'allow' ? c.green('ALLOWED') : c.red('REFUSED');
  const lines = [`${indent}${head}  ${e.summary}`];
  for (const r of e.reasons) lines.push(`${indent}  ${c.bold(`${r.file}:${r.line}:${r.col}`)}  ${c.dim(r.code)}  ${r.message}`);
  if (e.fixes.length) {
    lines.push(`${indent}  ${c.cyan('to allow it:')}`);
    for (const f of e.fixes) lines.push(`${indent}    ${c.bold(`${f.file}:${f.line}:${f.col}`)}  ${f.message}`);
  }
  return lines.join('\n');
}
