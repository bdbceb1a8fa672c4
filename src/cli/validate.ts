import type { Command } from 'commander';
import { validate } from '../pipeline/validate.js';
import { addDebug, addFile, addFormat, addTargets, targetList, type CommonOptions } from './options.js';
import { countLine, formatDiagnostics, printJson } from './render.js';
import { action, EXIT } from './run.js';

export function registerValidate(program: Command): void {
  const cmd = program
    .command('validate')
    .description('check mesh.yaml against the schema, the rules and what each target can express; print every problem')
    .addHelpText('after', `
Examples:
  $ meshc validate
  $ meshc validate -f deploy/mesh.yaml --targets envoy,k8s
  $ meshc validate --format json | jq '.diagnostics[] | select(.severity=="error")'

Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage or I/O error.`);
  for (const add of [addFile, addTargets, addFormat, addDebug]) add(cmd);
  cmd.action(
    action(async (o: CommonOptions) => {
      const r = await validate({ file: o.file, targets: targetList(o) });
      if (o.format === 'json') printJson({ ok: r.ok, diagnostics: r.diagnostics });
      else {
        if (r.diagnostics.length) process.stdout.write(formatDiagnostics(r.diagnostics) + '\n');
        process.stdout.write(r.ok ? `${o.file} is valid (${countLine(r.diagnostics)})\n` : `${o.file} is invalid: ${countLine(r.diagnostics)}\n`);
      }
      return r.ok ? EXIT.OK : EXIT.FINDINGS;
    }),
  );
}
