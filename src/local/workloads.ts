/**
 * Running one workload's generated config with its real proxy: a service's sidecar, the ingress
 * gateway or the egress gateway, from a built output directory. Another replica of the same
 * service runs a copy of the config with the address replaced by its own.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Proc, StartOptions } from './procs.js';
import { startEnvoy, startHaproxy, startNginx } from './proxies.js';

export type ProxyTarget = 'envoy' | 'nginx' | 'haproxy';
export const PROXY_TARGETS: readonly ProxyTarget[] = ['envoy', 'nginx', 'haproxy'];

/** Replaces an IPv4 address as a whole token (127.0.0.1 never matches inside 127.0.0.10). */
export function rewriteAddress(text: string, from: string, to: string): string {
  const escaped = from.replace(/\./g, '\\.');
  return text.replace(new RegExp(`(?<![0-9.])${escaped}(?![0-9])`, 'g'), to);
}

/** Every `address:port` a config listens on (0.0.0.0 is waited for on 127.0.0.1). */
export function listenPorts(text: string, pattern: RegExp): { host: string; port: number }[] {
  const seen = new Map<string, { host: string; port: number }>();
  for (const m of text.matchAll(pattern)) {
    const host = m[1] === '0.0.0.0' ? '127.0.0.1' : m[1];
    seen.set(`${host}:${m[2]}`, { host, port: Number(m[2]) });
  }
  return [...seen.values()];
}

const NGINX_LISTEN = /^\s*listen\s+(\d+\.\d+\.\d+\.\d+):(\d+)/gm;
const HAPROXY_BIND = /^\s*bind\s+(\d+\.\d+\.\d+\.\d+):(\d+)/gm;

export interface WorkloadOptions {
  /** An empty directory that lives as long as the process: a rewritten copy, nginx's runtime prefix. */
  scratch: string;
  /** Another replica: replace this address with that one in a copy of the config. */
  rewrite?: [from: string, to: string];
  bin?: string;
  onLine?: StartOptions['onLine'];
  /** Envoy's log level (default warn). */
  logLevel?: string;
  /** HAProxy in master-worker mode (reloadable with SIGUSR2 to the master). */
  masterWorker?: boolean;
}

/**
 * Starts `<target>/<workload>.<ext>` from outDir and resolves once it serves. Envoy and HAProxy
 * run with their working directory at outDir (paths in their configs are relative to it); nginx
 * gets the scratch directory as its prefix, and a rewritten copy names certificates by absolute path.
 */
export async function startWorkload(target: ProxyTarget, outDir: string, workload: string, o: WorkloadOptions): Promise<Proc> {
  if (target === 'envoy') {
    const configPath = path.join(outDir, 'envoy', `${workload}.yaml`);
    const base = { cwd: outDir, scratchDir: o.scratch, bin: o.bin, onLine: o.onLine, ...(o.logLevel ? { logLevel: o.logLevel } : {}) };
    if (!o.rewrite) return startEnvoy({ configPath, ...base });
    const copy = path.join(o.scratch, `${workload}.yaml`);
    await writeFile(copy, rewriteAddress(await readFile(configPath, 'utf8'), ...o.rewrite));
    return startEnvoy({ configPath: copy, ...base });
  }
  if (target === 'haproxy') {
    const original = path.join(outDir, 'haproxy', `${workload}.cfg`);
    let text = await readFile(original, 'utf8');
    let configPath = original;
    if (o.rewrite) {
      text = rewriteAddress(text, ...o.rewrite);
      configPath = path.join(o.scratch, `${workload}.cfg`);
      await writeFile(configPath, text);
    }
    return startHaproxy({ configPath, cwd: outDir, waitPorts: listenPorts(text, HAPROXY_BIND), bin: o.bin, onLine: o.onLine, ...(o.masterWorker ? { masterWorker: true } : {}) });
  }
  const original = path.join(outDir, 'nginx', `${workload}.conf`);
  await mkdir(path.join(o.scratch, 'run'), { recursive: true });
  await mkdir(path.join(o.scratch, 'tmp'), { recursive: true });
  let configPath = original;
  let text = await readFile(original, 'utf8');
  if (o.rewrite) {
    text = rewriteAddress(text, ...o.rewrite).replace(/ \.\.\//g, ` ${outDir}/`);
    configPath = path.join(o.scratch, `${workload}.conf`);
    await writeFile(configPath, text);
  }
  return startNginx({ configPath, prefix: o.scratch, waitPorts: listenPorts(text, NGINX_LISTEN), bin: o.bin, onLine: o.onLine });
}
