import type { Command } from 'commander';
import { dirname, resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { UserError } from '../errors.js';
import { findProxy, type ProxyName } from '../verify/binaries.js';
import { verifyEnvoy, type VerifyResult } from '../verify/envoy.js';
import { verifyHaproxy } from '../verify/haproxy.js';
import { verifyNginx } from '../verify/nginx.js';
import { addDebug, addFile, addFormat, addOut } from './options.js';
import { colours, printJson } from './render.js';
import { action, EXIT } from './run.js';

/** The validators, by proxy. Each checks its own folder of the output. */
const VERIFIERS: Record<ProxyName, (outDir: string, bin: string) => Promise<VerifyResult[]>> = {
  envoy: verifyEnvoy,
  nginx: verifyNginx,
  haproxy: verifyHaproxy,
};

export function registerVerify(program: Command): void {
  const cmd = program
    .command('verify')
    .description('check every generated proxy config with the real proxy: envoy --mode validate, nginx -t, haproxy -c')
    .option('--envoy <path>', 'envoy binary (default: found on PATH, else .venv/envoy/bin/envoy beside the mesh file or above it, as scripts/install-proxies.sh installs it)')
    .option('--nginx <path>', 'nginx binary (default: found on PATH)')
    .option('--haproxy <path>', 'haproxy binary (default: found on PATH)')
    .addHelpText('after', `
Examples:
  $ meshc build && meshc verify
  $ meshc verify -o deploy/generated --envoy ./.venv/envoy/bin/envoy

Run it on the machine's own output directory: the proxies read the certificate files the configs name.
A proxy that is not installed is reported as skipped; a path given with --envoy, --nginx or --haproxy
that is not an executable is an error (exit 2).
Exit codes: 0 every checked file accepted, 1 a file rejected, 2 nothing could be checked or I/O error.`);
  for (const add of [addFile, addOut, addFormat, addDebug]) add(cmd);
  cmd.action(
    action(async (o: { file: string; out: string; format: string; envoy?: string; nginx?: string; haproxy?: string }) => {
      const out = resolve(o.out);
      for (const proxy of ['envoy', 'nginx', 'haproxy'] as const) {
        const named = o[proxy];
        if (named !== undefined && !findProxy(proxy, named)) throw new UserError(`--${proxy} ${named}: no executable there`, 2, `pass the path of the ${proxy} binary, or leave --${proxy} out to look for it`);
      }
      try {
        await stat(out);
      } catch {
        throw new UserError(`${o.out} does not exist`, 2, 'run `meshc build` first');
      }
      const c = colours();
      const results: (VerifyResult & { proxy: string })[] = [];
      const skipped: string[] = [];
      const binaries: Partial<Record<ProxyName, string>> = {};
      for (const proxy of ['envoy', 'nginx', 'haproxy'] as const) {
        const exists = await stat(resolve(out, proxy)).then(() => true, () => false);
        if (!exists) continue;
        const bin = findProxy(proxy, o[proxy], dirname(resolve(o.file)));
        if (!bin) {
          skipped.push(`${proxy} (not found on PATH${proxy === 'envoy' ? ' or in .venv/envoy' : ''}; pass --${proxy} PATH)`);
          continue;
        }
        binaries[proxy] = bin;
        for (const r of await VERIFIERS[proxy](out, bin)) results.push({ ...r, proxy });
      }
      const failed = results.filter((r) => !r.ok);
      if (o.format === 'json') printJson({ ok: failed.length === 0 && results.length > 0, binaries, results, skipped });
      else {
        for (const [proxy, bin] of Object.entries(binaries)) process.stdout.write(c.dim(`${proxy}: ${bin}\n`));
        for (const r of results) {
          process.stdout.write(`${r.ok ? c.green('ok  ') : c.red('FAIL')}  ${r.file}\n`);
          if (!r.ok) process.stdout.write(r.output.split('\n').map((l) => `      ${l}`).join('\n') + '\n');
        }
        for (const s of skipped) process.stdout.write(`${c.yellow('skip')}  ${s}\n`);
        process.stdout.write(`${results.length - failed.length} accepted, ${failed.length} rejected, ${skipped.length} proxies skipped\n`);
      }
      if (results.length === 0) return EXIT.ERROR;
      return failed.length ? EXIT.FINDINGS : EXIT.OK;
    }),
  );
}
