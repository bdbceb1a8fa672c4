/**
 * `meshc verify` for the nginx target: every `<outDir>/nginx/*.conf` checked by the real binary
 * with `nginx -t`, which parses the config, loads the stream module and reads every certificate
 * and key it names (resolving them against the config's own directory, as when it runs).
 *
 * Two adjustments keep the check about the config rather than about the machine verify runs on:
 *   - the runtime files the configs put under the prefix (`run/`, `tmp/`) go to a throw-away
 *     prefix, so verify writes nothing into the output;
 *   - `nginx -t` resolves the host names of static `upstream` servers (open-source nginx 1.22
 *     resolves them at start; see the capability row `dns-endpoints-static`). Names such as
 *     `cart.shop.svc.cluster.local` resolve only where the mesh runs, so the check runs on a copy
 *     in which those names are replaced by 127.0.0.1, and the output says which names were
 *     replaced. Everything else is checked as written.
 * Where the config loads the stream module from a place this nginx does not have it (another
 * distribution's layout, or a build with it compiled in), the result says what to set
 * `spec.nginx.streamModule` to, before nginx's own message.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { loadExeca, withStdoutPipe } from '../../process.js';
import { verifyEach, type Verifier, type VerifyResult } from '../verifier.js';
import { parseNginxBuild, streamModuleProblem, type NginxBuild } from './stream-module.js';

/** `nginx -V` of each binary, asked once. */
const builds = new Map<string, Promise<NginxBuild>>();
function nginxBuild(nginxPath: string): Promise<NginxBuild> {
  let b = builds.get(nginxPath);
  if (!b) {
    b = loadExeca().then(async (execa) => {
      const run = await execa(nginxPath, ['-V'], { reject: false, all: true, timeout: 60_000, stdin: 'ignore' });
      return parseNginxBuild(run.all ?? '');
    });
    builds.set(nginxPath, b);
  }
  return b;
}

/** Host names of `server` lines inside `upstream { }` blocks (not IPv4 literals), in order, unique. */
export function staticUpstreamNames(config: string): string[] {
  const names: string[] = [];
  for (const block of config.matchAll(/^\s*upstream\s+\S+\s*\{([^}]*)\}/gm)) {
    for (const m of block[1].matchAll(/^\s*server\s+([A-Za-z0-9.-]+):\d+/gm)) {
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(m[1]) && !names.includes(m[1])) names.push(m[1]);
    }
  }
  return names;
}

/** `nginx -t` of one config (`nginx/<name>.conf`, output-relative). */
export async function verifyNginxFile(outDir: string, file: string, nginxPath: string): Promise<VerifyResult> {
  const prefix = await mkdtemp(join(os.tmpdir(), 'meshc-verify-nginx-'));
  try {
    await mkdir(join(prefix, 'run'));
    await mkdir(join(prefix, 'tmp'));
    const original = join(outDir, file);
    const text = await readFile(original, 'utf8');
    const names = staticUpstreamNames(text);
    let configPath = original;
    let note = '';
    if (names.length > 0) {
      // The copy lives outside nginx/, so its certificate paths (relative to nginx/) become absolute.
      let copy = text.replace(/ \.\.\//g, ` ${outDir}/`);
      for (const name of names) copy = copy.replace(new RegExp(`(^\\s*server\\s+)${name.replace(/\./g, '\\.')}(:\\d+)`, 'gm'), '$1127.0.0.1$2');
      configPath = join(prefix, 'nginx.conf');
      await writeFile(configPath, copy);
      note = `note: names in static upstreams are resolved where nginx runs; checked with 127.0.0.1 instead of: ${names.join(', ')}\n`;
    }
    // -e stderr: without it nginx first opens its compiled-in error log (/var/log/nginx/error.log).
    const execa = await loadExeca();
    // Through a pipe: nginx opens its access log, `/dev/stdout` by default, and cannot open a socket.
    const run = await execa(...withStdoutPipe(nginxPath, ['-t', '-q', '-e', 'stderr', '-p', `${prefix}/`, '-c', configPath]), {
      cwd: prefix,
      reject: false,
      all: true,
      timeout: 60_000,
      stdin: 'ignore',
    });
    const problem = streamModuleProblem(file, text, await nginxBuild(nginxPath));
    return { file, ok: run.exitCode === 0 && !problem, output: ((problem ? problem + '\n' : '') + note + (run.all ?? '')).trim() };
  } finally {
    await rm(prefix, { recursive: true, force: true });
  }
}

/** Validates every `nginx/*.conf` in `outDir`, sorted by path; an empty list when there are none. */
export function verifyNginx(outDir: string, nginxPath: string): Promise<VerifyResult[]> {
  return verifyEach(outDir, 'nginx', '.conf', (file) => verifyNginxFile(outDir, file, nginxPath));
}

export const nginxVerifier: Verifier = { binary: 'nginx', verify: verifyNginx };
