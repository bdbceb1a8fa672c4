import { Command, Option } from 'commander';
import { certsRotate, certsStatus, type StatusReport } from '../certs/index.js';
import { UserError } from '../errors.js';
import { locate } from '../source/parse.js';
import { validate } from '../pipeline/validate.js';
import { hasErrors } from '../model/diagnostic.js';
import { addDebug, addFile, addFormat, addState, passphrase, stateDir } from './options.js';
import { stateLocation } from '../certs/location.js';
import { progressReporter } from './progress.js';
import { colours, countLine, formatDiagnostics, report } from './render.js';
import { action, EXIT } from './run.js';

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => stripAnsi(r[i]).length)));
  return rows.map((r) => r.map((cell, i) => cell + ' '.repeat(widths[i] - stripAnsi(cell).length)).join('  ').trimEnd()).join('\n');
}
// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');

export function renderStatus(r: StatusReport): string {
  const c = colours();
  const rows = [['KIND', 'NAME', 'SUBJECT / SANS', 'ISSUER', 'SERIAL', 'NOT AFTER', 'DAYS', 'STATUS']];
  for (const row of r.rows) {
    const who = row.kind === 'ca' ? row.subject : row.sans.length ? row.sans.join(' ') : row.subject;
    const status = row.status === 'ok' ? c.green('ok') : row.status === 'expiring' ? c.yellow('expiring') : c.red('expired');
    const issuer = row.kind === 'ca' ? '-' : row.issuer === 'ca-previous' ? c.yellow('ca-previous') : (row.issuer ?? '-');
    rows.push([row.kind, row.name, who.length > 70 ? who.slice(0, 67) + '...' : who, issuer, row.serial.slice(0, 16), row.notAfter.slice(0, 10), String(row.daysLeft), status]);
  }
  const stillOld = r.rows.filter((x) => x.issuer === 'ca-previous').length;
  const phase =
    r.phase === 'stable'
      ? 'stable (one CA)'
      : c.yellow(
          stillOld
            ? `${r.phase}: the trust bundle holds the old and the new CA; ${stillOld} leaf certificate${stillOld === 1 ? ' is' : 's are'} still issued by the old one: next (once the bundles holding both CAs are deployed everywhere), \`${r.next} && meshc build\` and deploy everywhere`
            : `${r.phase}: the trust bundle holds the old and the new CA; every leaf is issued by the new one: next, \`${r.next} && meshc build\` and deploy`,
        );
  const summary = r.expired || r.expiring ? c.red(`${r.expired} expired, ${r.expiring} expiring within ${r.warnDays} days`) : `all ${r.rows.length} certificates valid for more than ${r.warnDays} days`;
  return `CA phase: ${phase}\n\n${table(rows)}\n\n${summary}\n`;
}

export function registerCerts(program: Command): void {
  const certs = program.command('certs').description('inspect and rotate the mesh CA and workload certificates');

  const status = certs
    .command('status')
    .description('every certificate with its expiry, sorted by expiry; exit 1 when one is expired or expiring')
    .addOption(new Option('--warn-days <n>', 'days before expiry that count as expiring').default('14').argParser((v) => {
      if (!/^\d+$/.test(v)) throw new UserError(`--warn-days takes a whole number of days, not "${v}"`, 2);
      return v;
    }))
    .addHelpText('after', `
Examples:
  $ meshc certs status
  $ meshc certs status --warn-days 30 --format json     # a scheduled CI job

Exit codes: 0 every certificate valid beyond the window, 1 one expired or inside it, 2 no state or I/O error.`);
  for (const add of [addFile, addState, addFormat, addDebug]) add(status);
  status.action(
    action(async (o: { file: string; state?: string; format: string; warnDays: string }) => {
      const location = stateLocation(o.file, stateDir(o));
      const r = await certsStatus(location.dir, { clock: () => new Date(), warnDays: Number(o.warnDays), ...(location.legacy ? { legacyStateDir: location.legacy } : {}) });
      report(o.format, { json: (x) => x, text: (x) => renderStatus(x) }, r);
      return r.expired + r.expiring > 0 ? EXIT.FINDINGS : EXIT.OK;
    }),
  );

  const rotate = certs
    .command('rotate')
    .description('re-issue leaf certificates that are due (or named, or all); --ca and --finish rotate the CA without breaking a connection')
    .option('--service <name>', 'force this identity (repeatable; a service, ingress-gateway, egress-gateway or ingress/<host>)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--all', 'force every leaf')
    .option('--ca', 'start a CA rotation: a new CA joins the trust bundles; leaves are unchanged')
    .option('--finish', 'finish the CA rotation (same as --ca --finish) and drop the old CA from the bundles')
    .addHelpText('after', `
Examples:
  $ meshc certs rotate                       # leaves inside pki.renewBeforeDays
  $ meshc certs rotate --service cart --service payments

A CA rotation takes three deploys, so that no two workloads ever fail to verify each other, even
while a rolling deploy is half done:
  $ meshc certs rotate --ca     && meshc build   # 1. bundles hold the old and the new CA; deploy everywhere
  $ meshc certs rotate --all    && meshc build   # 2. every leaf re-issued by the new CA; deploy everywhere
  $ meshc certs rotate --finish && meshc build   # 3. the old CA leaves the bundles; deploy
(--finish refuses while a leaf is still issued by the old CA.)

Then run \`meshc build\` to write the new certificates to the output, and put them under the running
proxies without a restart: \`kubectl apply -k out/secrets/k8s\` (no pod rolls), or \`meshc install\`
per workload followed by nginx -s reload / SIGUSR2 to HAProxy's master (Envoy reloads by itself).
Exit codes: 0 done, 1 invalid mesh, 2 usage or state error (for example --finish with no rotation in progress).`);
  for (const add of [addFile, addState, addFormat, addDebug]) add(rotate);
  rotate.action(
    action(async (o: { file: string; state?: string; format: string; service?: string[]; all?: boolean; ca?: boolean; finish?: boolean }) => {
      const v = await validate({ file: o.file, targets: [] });
      if (!v.ok || !v.mesh) {
        report(o.format, { json: () => ({ ok: false, diagnostics: v.diagnostics }), text: (_, c) => formatDiagnostics(v.diagnostics, c) + `\n${o.file} is invalid: ${countLine(v.diagnostics)}; nothing was rotated\n` }, v);
        return EXIT.FINDINGS;
      }
      const location = stateLocation(o.file, stateDir(o));
      const r = await certsRotate(v.mesh, {
        stateDir: location.dir,
        ...(location.legacy ? { legacyStateDir: location.legacy } : {}),
        meshFile: o.file,
        meshDir: (await import('node:path')).dirname((await import('node:path')).resolve(o.file)),
        clock: () => new Date(),
        passphrase: passphrase(),
        services: o.service,
        all: o.all,
        ca: o.ca && !o.finish,
        finish: o.finish,
        progress: o.format === 'text' ? progressReporter('issuing certificates') : undefined,
      });
      const diagnostics = r.findings.map((f) => locate(v.source!, f));
      for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
      report(o.format, {
        json: () => ({ reissued: r.reissued, phase: r.phase, caAction: r.caAction ?? null, changed: r.changed, diagnostics }),
        text: (_, c) => {
          const lines: string[] = [];
          if (diagnostics.length) lines.push(formatDiagnostics(diagnostics, c));
          if (r.caAction === 'started')
            lines.push('CA rotation started: the trust bundles now hold the old and the new CA (leaves unchanged)', 'next: meshc build and deploy everywhere; then meshc certs rotate --all, build and deploy; then meshc certs rotate --finish');
          if (r.caAction === 'finished') lines.push('CA rotation finished: the old CA is no longer trusted');
          // Starting or finishing a CA rotation re-issues no leaf by design: no "nothing was due" then.
          if (r.reissued.length) lines.push(`re-issued ${r.reissued.length}: ${r.reissued.join(', ')}`);
          else if (!r.caAction) lines.push('no certificate was due');
          if (r.changed) lines.push('run `meshc build` to write them to the output, then apply or `meshc install` them (no restart needed; see meshc certs rotate --help)');
          return lines.join('\n') + '\n';
        },
      }, r);
      return hasErrors(diagnostics) ? EXIT.FINDINGS : EXIT.OK;
    }),
  );
}
