import type { Command } from 'commander';
import { addDebug, addFormat } from './options.js';
import { countLine, formatDiagnostics, printJson } from './render.js';
import { action } from './run.js';

export function registerImport(program: Command): void {
  const imp = program.command('import').description('write a mesh.yaml from another mesh\'s configuration');
  const cmd = imp
    .command('istio')
    .description('read Kubernetes and Istio YAML (files or directories) and print the equivalent mesh.yaml; report what does not carry over')
    .argument('<path...>', 'YAML or JSON files, or directories of them (multi-document files and List objects are read)')
    .addHelpText('after', `
Examples:
  $ meshc import istio ./manifests > mesh.yaml          # the mesh on stdout, what does not carry over on stderr
  $ meshc import istio bookinfo.yaml networking/ --format json | jq '.diagnostics[] | select(.severity!="note")'

Every part of the input that mesh.yaml cannot express is a diagnostic at its FILE:LINE:COL, naming the
object and the field, with the nearest equivalent where there is one. Notes are information only.
Exit codes: 0 everything carried over, 1 something was reported (the printed mesh is partial),
2 usage error or input that cannot be read or parsed (nothing is printed).`);
  for (const add of [addFormat, addDebug]) add(cmd);
  cmd.action(
    action(async (paths: string[], o: { format: 'text' | 'json' }) => {
      const { importIstio } = await import('../import/istio/index.js');
      const r = await importIstio(paths);
      if (o.format === 'json') {
        printJson({ ok: r.exitCode === 0, exitCode: r.exitCode, ...(r.yaml !== undefined ? { mesh: r.yaml } : {}), diagnostics: r.diagnostics });
        return r.exitCode;
      }
      if (r.yaml !== undefined) process.stdout.write(r.yaml);
      if (r.diagnostics.length > 0) process.stderr.write(formatDiagnostics(r.diagnostics, undefined) + '\n');
      const summary = r.exitCode === 2 ? 'the input cannot be read: nothing imported' : r.exitCode === 1 ? 'the printed mesh is partial' : 'everything carried over';
      process.stderr.write(`meshc import istio: ${summary} (${countLine(r.diagnostics)})\n`);
      return r.exitCode;
    }),
  );
}
