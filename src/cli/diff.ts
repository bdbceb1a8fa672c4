import type { ChalkInstance } from 'chalk';
import type { Command } from 'commander';
import { AgainstInvalid, diffAgainstRef, diffOutput, type DiffReport, type DiffResult } from '../output/diff.js';
import { addDebug, addFile, addFormat, addOut, addState, addTargets, passphrase, stateDir, targetList, type CommonOptions } from './options.js';
import { countLine, formatDiagnostics, report, type Reporter } from './render.js';
import { action, EXIT } from './run.js';
import { UserError } from '../errors.js';

export interface DiffCliOptions extends CommonOptions {
  stat?: boolean;
  against?: string;
}

function colourPatch(patch: string, c: ChalkInstance): string {
  return patch
    .split('\n')
    .map((l) => {
      if (l.startsWith('--- ') || l.startsWith('+++ ')) return c.bold(l);
      if (l.startsWith('@@')) return c.cyan(l);
      if (l.startsWith('+')) return c.green(l);
      if (l.startsWith('-')) return c.red(l);
      return l;
    })
    .join('\n');
}

/** The text report: summary, file list, then (without --stat) the unified diffs. */
export function renderDiff(r: DiffReport, opts: { stat?: boolean; title: string }, c: ChalkInstance): string {
  const out: string[] = [];
  if (!r.changed) {
    out.push(`no changes: ${opts.title}`);
    for (const n of r.notes) out.push(c.dim(`note: ${n}`));
    return out.join('\n') + '\n';
  }
  out.push(c.bold(`Summary (${opts.title})`));
  for (const s of r.summary) {
    const t = s.text;
    const coloured = /\badded\b|\bissued\b| \+ /.test(t) ? c.green(t) : /\bremoved\b| − /.test(t) ? c.red(t) : c.yellow(t);
    out.push(`  ${coloured}`);
  }
  for (const n of r.notes) out.push(c.dim(`  note: ${n}`));
  const count = (s: string) => r.files.filter((f) => f.status === s).length;
  out.push('');
  out.push(c.bold(`Files: ${count('added')} added, ${count('changed')} changed, ${count('removed')} removed`));
  for (const f of r.files) {
    const tag = f.status === 'added' ? c.green('added  ') : f.status === 'removed' ? c.red('removed') : c.yellow('changed');
    out.push(`  ${tag}  ${f.path}${f.note ? c.dim(`  (${f.note})`) : ''}`);
  }
  if (!opts.stat) {
    const patches = r.files.filter((f) => f.diff);
    if (patches.length) out.push('');
    for (const f of patches) out.push(colourPatch(f.diff!.replace(/\n$/, ''), c));
  }
  return out.join('\n') + '\n';
}

/** A diff's result, or the diagnostics of a mesh that could not be compiled. */
function diffReporter(o: DiffCliOptions): Reporter<DiffResult> {
  return {
    json: (r) =>
      !r.ok || !r.report
        ? { ok: false, changed: false, diagnostics: r.diagnostics, summary: [], files: [] }
        : {
            changed: r.report.changed,
            summary: r.report.summary,
            files: r.report.files.map((f) => ({ path: f.path, status: f.status, ...(f.diff !== undefined ? { diff: f.diff } : {}), ...(f.note ? { note: f.note } : {}) })),
            notes: r.report.notes,
            ...(o.against ? { against: o.against } : { out: o.out }),
          },
    text: (r, c) =>
      !r.ok || !r.report
        ? formatDiagnostics(r.diagnostics, c) + `\n${o.file} is invalid: ${countLine(r.diagnostics)}; nothing to compare\n`
        : renderDiff(r.report, { stat: o.stat, title: o.against ? `${o.against} → working copy of ${o.file}` : `${o.file} → ${o.out}` }, c),
  };
}

export function registerDiff(program: Command): void {
  const cmd = program
    .command('diff')
    .description('show what a build would change: a per-resource summary, then unified diffs; writes nothing, never shows key material')
    .option('--stat', 'print the summary and the list of files only, no unified diffs')
    .option('--against <git-ref>', 'compare the build of mesh.yaml at this git revision with the working copy (both in memory) instead of the output directory')
    .addHelpText('after', `
Examples:
  $ meshc diff                          # what \`meshc build\` would change in out/
  $ meshc diff --stat                   # summary and file list only
  $ meshc diff --against origin/main    # in a pull request: what this branch changes, out/ not needed
  $ meshc diff --format json | jq '.summary[].text'

Exit codes: 0 no changes, 1 changes, 2 error (invalid mesh, unknown revision, I/O or internal error).
This is the \`kubectl diff\` convention; note that \`terraform plan -detailed-exitcode\` uses 2 for changes.
Nothing is written: certificates a build would issue are issued in memory only (and show as added).
Files under secrets/ are listed without a diff; certificate and key PEM blocks are replaced by one-line placeholders.`);
  for (const add of [addFile, addOut, addState, addTargets, addFormat, addDebug]) add(cmd);
  cmd.action(
    action(async (o: DiffCliOptions) => {
      // An empty revision (an unset variable in a CI script, say) must not fall back to out/.
      if (o.against !== undefined && o.against.trim() === '')
        throw new UserError('--against needs a git revision, and it was given an empty one', 2, 'name a branch, tag or commit (for example --against origin/main), or leave --against out to compare with the output directory');
      const common = { file: o.file, out: o.out, state: stateDir(o), targets: targetList(o), passphrase: passphrase(), stat: o.stat };
      try {
        const r = o.against ? await diffAgainstRef({ ...common, against: o.against }) : await diffOutput(common);
        report(o.format, diffReporter(o), r);
        return !r.ok || !r.report ? EXIT.ERROR : r.report.changed ? EXIT.FINDINGS : EXIT.OK;
      } catch (e) {
        if (e instanceof AgainstInvalid) {
          report(o.format, { json: () => ({ ok: false, changed: false, error: e.message, diagnostics: e.diagnostics, summary: [], files: [] }), text: (_, c) => formatDiagnostics(e.diagnostics, c) + '\n' }, e);
        }
        throw e;
      }
    }),
  );
}
