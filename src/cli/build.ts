import type { Command } from 'commander';
import { resolve } from 'node:path';
import { build } from '../pipeline/build.js';
import { addDebug, addFile, addFormat, addOut, addState, addTargets, passphrase, stateDir, targetList, type CommonOptions } from './options.js';
import { progressReporter } from './progress.js';
import { colours, countLine, formatDiagnostics, printJson } from './render.js';
import { action, EXIT } from './run.js';

export function registerBuild(program: Command): void {
  const cmd = program
    .command('build')
    .description('compile mesh.yaml: issue or reuse certificates and write every target to the output directory, atomically')
    .option('--check', 'write nothing; exit 1 and name the files when the output directory is stale')
    .addHelpText('after', `
Examples:
  $ meshc build                         # mesh.yaml -> out/, state in .meshc/mesh/
  $ meshc build --targets envoy,k8s -o deploy/generated
  $ meshc build --check                 # in CI: fail when committed output is stale

Exit codes: 0 built (or up to date with --check), 1 invalid mesh or stale output, 2 usage, I/O or internal error.
Private keys are written only under <out>/secrets/ (mode 0600, git-ignored). The state (.meshc/<mesh file name>/) keeps
certificates in state.json (commit it) and keys in private/ (git-ignored), or, with MESHC_STATE_PASSPHRASE set, encrypted
in keys.encrypted.json (safe to commit). --check needs no keys and no passphrase.`);
  for (const add of [addFile, addOut, addState, addTargets, addFormat, addDebug]) add(cmd);
  cmd.action(
    action(async (o: CommonOptions & { check?: boolean }) => {
      const out = resolve(o.out);
      const r = await build({
        file: o.file,
        out,
        state: stateDir(o),
        targets: targetList(o),
        check: o.check,
        passphrase: passphrase(),
        progress: o.format === 'text' ? progressReporter('issuing certificates') : undefined,
      });
      const c = colours();
      for (const w of r.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
      const stale = r.plan ? [...r.plan.added, ...r.plan.changed, ...r.plan.removed, ...r.plan.modeChanged] : [];
      if (o.format === 'json') {
        printJson({ ok: r.ok, cached: r.cached ?? false, diagnostics: r.diagnostics, ...(r.plan ? { upToDate: r.plan.upToDate, added: r.plan.added, changed: r.plan.changed, removed: r.plan.removed, modeChanged: r.plan.modeChanged } : {}) });
      } else {
        if (r.diagnostics.length) process.stdout.write(formatDiagnostics(r.diagnostics, c) + '\n');
        if (!r.ok) process.stdout.write(`${o.file} is invalid: ${countLine(r.diagnostics)}; nothing was written\n`);
        else if (o.check) {
          if (r.plan!.upToDate) process.stdout.write(`${o.out} is up to date\n`);
          else {
            process.stdout.write(`${o.out} is stale: ${stale.length} file${stale.length === 1 ? ' differs' : 's differ'} from what meshc build would write\n`);
            for (const p of r.plan!.added) process.stdout.write(`  ${c.green('missing')}  ${p}\n`);
            for (const p of r.plan!.changed) process.stdout.write(`  ${c.yellow('changed')}  ${p}\n`);
            for (const p of r.plan!.modeChanged) process.stdout.write(`  ${c.yellow('mode')}     ${p}\n`);
            for (const p of r.plan!.removed) process.stdout.write(`  ${c.red('extra')}    ${p}\n`);
            process.stdout.write(`run meshc build to update it\n`);
          }
        } else if (r.cached) process.stdout.write(`${o.out} is up to date (mesh.yaml, certificates and meshc unchanged since the last build)\n`);
        else if (r.plan!.upToDate) process.stdout.write(`${o.out} is up to date (${r.fileCount!} files)\n`);
        else process.stdout.write(`wrote ${o.out}: ${r.fileCount!} files (${r.plan!.added.length} added, ${r.plan!.changed.length + r.plan!.modeChanged.length} changed, ${r.plan!.removed.length} removed)\n`);
      }
      if (!r.ok) return EXIT.FINDINGS;
      if (o.check && !r.plan!.upToDate) return EXIT.FINDINGS;
      return EXIT.OK;
    }),
  );
}
