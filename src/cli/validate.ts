import type { Command } from 'commander';
import { validate, type ValidateResult } from '../pipeline/validate.js';
import { addDebug, addFile, addFormat, addTargets, targetList, type CommonOptions } from './options.js';
import { countLine, formatDiagnostics, report, type Reporter } from './render.js';
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
      report(o.format, validateReporter(o.file), r);
      return r.ok ? EXIT.OK : EXIT.FINDINGS;
    }),
  );
}

function validateReporter(file: string): Reporter<ValidateResult> {
  return {
    json: (r) => ({ ok: r.ok, diagnostics: r.diagnostics }),
    text: (r, c) =>
      (r.diagnostics.length ? formatDiagnostics(r.diagnostics, c) + '\n' : '') +
      (r.ok ? `${file} is valid (${countLine(r.diagnostics)})\n` : `${file} is invalid: ${countLine(r.diagnostics)}\n`),
  };
}
