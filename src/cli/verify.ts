import type { Command } from 'commander';
import { dirname, resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { UserError } from '../errors.js';
import { TARGETS } from '../targets/registry.js';
import { findProxy, type VerifyResult } from '../targets/verifier.js';
import { addDebug, addFile, addFormat, addOut } from './options.js';
import { report } from './render.js';
import { action, EXIT } from './run.js';

/** The targets `meshc verify` checks with a real proxy, each its own folder of the output. */
const VERIFIED = TARGETS.filter((t) => t.verifier);

export function registerVerify(program: Command): void {
  const cmd = program
    .command('verify')
    .description('check every generated proxy config with the real proxy: envoy --mode validate, nginx -t, haproxy -c')
    .addHelpText('after', `
Examples:
  $ meshc build && meshc verify
  $ meshc verify -o deploy/generated --envoy ./.venv/envoy/bin/envoy

Run it on the machine's own output directory: the proxies read the certificate files the configs name.
A proxy that is not installed is reported as skipped; a path given with --envoy, --nginx or --haproxy
that is not an executable is an error (exit 2).
Exit codes: 0 every checked file accepted, 1 a file rejected, 2 nothing could be checked or I/O error.`);
  for (const t of VERIFIED) {
    const { binary, search } = t.verifier!;
    cmd.option(`--${binary} <path>`, `${binary} binary (default: found on PATH${search ? `, else in ${search.said}` : ''})`);
  }
  for (const add of [addFile, addOut, addFormat, addDebug]) add(cmd);
  cmd.action(
    action(async (o: { file: string; out: string; format: string } & Record<string, string | undefined>) => {
      const out = resolve(o.out);
      for (const proxy of VERIFIED.map((t) => t.verifier!.binary)) {
        const named = o[proxy];
        if (named !== undefined && !findProxy(proxy, named)) throw new UserError(`--${proxy} ${named}: no executable there`, 2, `pass the path of the ${proxy} binary, or leave --${proxy} out to look for it`);
      }
      try {
        await stat(out);
      } catch {
        throw new UserError(`${o.out} does not exist`, 2, 'run `meshc build` first');
      }
      const results: (VerifyResult & { proxy: string })[] = [];
      const skipped: string[] = [];
      const binaries: Record<string, string> = {};
      for (const { name, verifier } of VERIFIED) {
        const exists = await stat(resolve(out, name)).then(() => true, () => false);
        if (!exists) continue;
        const proxy = verifier!.binary;
        const bin = findProxy(proxy, o[proxy], verifier!.search?.dirs(dirname(resolve(o.file))));
        if (!bin) {
          skipped.push(`${proxy} (not found on PATH${verifier!.search ? ` or in ${verifier!.search.said}` : ''}; pass --${proxy} PATH)`);
          continue;
        }
        binaries[proxy] = bin;
        for (const r of await verifier!.verify(out, bin)) results.push({ ...r, proxy });
      }
      const failed = results.filter((r) => !r.ok);
      report(o.format, {
        json: () => ({ ok: failed.length === 0 && results.length > 0, binaries, results, skipped }),
        text: (_, c) => {
          const lines: string[] = [];
          for (const [proxy, bin] of Object.entries(binaries)) lines.push(c.dim(`${proxy}: ${bin}`));
          for (const r of results) {
            lines.push(`${r.ok ? c.green('ok  ') : c.red('FAIL')}  ${r.file}`);
            if (!r.ok) lines.push(r.output.split('\n').map((l) => `      ${l}`).join('\n'));
          }
          for (const s of skipped) lines.push(`${c.yellow('skip')}  ${s}`);
          lines.push(`${results.length - failed.length} accepted, ${failed.length} rejected, ${skipped.length} proxies skipped`);
          return lines.join('\n') + '\n';
        },
      }, results);
      if (results.length === 0) return EXIT.ERROR;
      return failed.length ? EXIT.FINDINGS : EXIT.OK;
    }),
  );
}
