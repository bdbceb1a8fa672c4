import type { Command } from 'commander';
import { resolve } from 'node:path';
import { build } from '../pipeline/build.js';
import { addDebug, addFile, addFormat, addOut, addQuiet, addState, addTargets, passphrase, stateDir, targetList, type CommonOptions } from './options.js';
import { countReporter, progressReporter } from './progress.js';
import type { BuildResult } from '../pipeline/build.js';
import { colours, countLine, formatDiagnostics, report, type Reporter } from './render.js';
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

Diagnostics and progress go to stderr, the result to stdout; --quiet prints only errors.
Exit codes: 0 built (or up to date with --check), 1 invalid mesh or stale output, 2 usage, I/O or internal error.
Private keys are written only under <out>/secrets/ (mode 0600, git-ignored). The state (.meshc/<mesh file name>/) keeps
certificates in state.json (commit it) and keys in private/ (git-ignored), or, with MESHC_STATE_PASSPHRASE set, encrypted
in keys.encrypted.json (safe to commit). --check needs no keys and no passphrase.`);
  for (const add of [addFile, addOut, addState, addTargets, addFormat, addQuiet, addDebug]) add(cmd);
  cmd.action(
    action(async (o: CommonOptions & { check?: boolean; quiet?: boolean }) => {
      const out = resolve(o.out);
      const text = o.format === 'text';
      const writing = text && !o.quiet && !o.check ? countReporter('rendering and writing') : undefined;
      const r = await build({
        file: o.file,
        out,
        state: stateDir(o),
        targets: targetList(o),
        check: o.check,
        passphrase: passphrase(),
        progress: text && !o.quiet ? progressReporter('issuing certificates') : undefined,
        ...(writing ? { writeProgress: (n: number) => writing.update(n) } : {}),
      });
      writing?.end();
      for (const w of r.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
      // Diagnostics and the invalid-mesh line go to stderr (warnings are not the result; kubectl's
      // convention); the result goes to stdout. --quiet keeps only the errors.
      if (o.format !== 'json') {
        const shown = o.quiet ? r.diagnostics.filter((d) => d.severity === 'error') : r.diagnostics;
        if (shown.length) process.stderr.write(formatDiagnostics(shown, colours(process.stderr)) + '\n');
        if (!r.ok) process.stderr.write(`${o.file} is invalid: ${countLine(r.diagnostics)}; nothing was written\n`);
      }
      if (o.format === 'json' || (r.ok && !o.quiet)) report(o.format, buildReporter(o), r);
      if (!r.ok) return EXIT.FINDINGS;
      if (o.check && !r.plan!.upToDate) return EXIT.FINDINGS;
      return EXIT.OK;
    }),
  );
}

function buildReporter(o: CommonOptions & { check?: boolean }): Reporter<BuildResult> {
  return {
    json: (r) => ({ ok: r.ok, cached: r.cached ?? false, diagnostics: r.diagnostics, ...(r.plan ? { upToDate: r.plan.upToDate, added: r.plan.added, changed: r.plan.changed, removed: r.plan.removed, modeChanged: r.plan.modeChanged } : {}) }),
    // The result of a valid build (the diagnostics went to stderr).
    text: (r, c) => {
      const lines: string[] = [];
      const plan = r.plan!;
      if (o.check) {
        const stale = [...plan.added, ...plan.changed, ...plan.removed, ...plan.modeChanged];
        if (plan.upToDate) lines.push(`${o.out} is up to date`);
        else {
          lines.push(`${o.out} is stale: ${stale.length} file${stale.length === 1 ? ' differs' : 's differ'} from what meshc build would write`);
          for (const p of plan.added) lines.push(`  ${c.green('missing')}  ${p}`);
          for (const p of plan.changed) lines.push(`  ${c.yellow('changed')}  ${p}`);
          for (const p of plan.modeChanged) lines.push(`  ${c.yellow('mode')}     ${p}`);
          for (const p of plan.removed) lines.push(`  ${c.red('extra')}    ${p}`);
          lines.push('run meshc build to update it');
        }
      } else if (r.cached) lines.push(`${o.out} is up to date (mesh.yaml, certificates and meshc unchanged since the last build)`);
      else if (plan.upToDate) lines.push(`${o.out} is up to date (${r.fileCount!} files)`);
      else lines.push(`wrote ${o.out}: ${r.fileCount!} files (${plan.added.length} added, ${plan.changed.length + plan.modeChanged.length} changed, ${plan.removed.length} removed)`);
      return lines.join('\n') + '\n';
    },
  };
}
