/**
 * Running and validating the three real proxies (`meshc up`, `meshc test --live`, the tests).
 *
 * Configs are the caller's (meshc output or hand-written). These helpers only add what makes
 * several instances coexist on one machine and tell when each is ready. `bin`: the proxy binary
 * (default: found as `meshc verify` finds it).
 */
import { randomInt } from 'node:crypto';
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { TARGETS } from '../targets/registry.js';
import { findProxy } from '../targets/verifier.js';
import { UserError } from '../errors.js';
import { processGroupMembers, startProcess, type Proc, type StartOptions } from './procs.js';
import { loadExeca, withStdoutPipe } from '../process.js';

type ProxyName = 'envoy' | 'nginx' | 'haproxy';

function requireBinary(name: ProxyName, bin?: string): string {
  const found = bin ?? findProxy(name, undefined, TARGETS.find((t) => t.verifier?.binary === name)?.verifier?.search?.dirs(process.cwd()));
  if (!found) throw new UserError(`${name} not found on PATH`, 2, 'install it (npm run install:proxies), or pick another proxy with --target');
  return found;
}
import { waitForListening } from './net.js';

export interface WaitPort {
  host: string;
  port: number;
}

export interface ValidateResult {
  ok: boolean;
  output: string;
}

function getStatus(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
  });
}

/** Waits until every port LISTENs (read from /proc/net/tcp: no connection is made). */
async function waitPorts(ports: WaitPort[] | undefined, timeoutMs: number): Promise<void> {
  for (const p of ports ?? []) await waitForListening(p.host, p.port, timeoutMs);
}

const LOOPBACK_PORT = String.raw`(127\.\d{1,3}\.\d{1,3}\.\d{1,3}):(\d{1,5})`;

/**
 * The loopback ports a config listens on: nginx `listen 127.a.b.c:P`, HAProxy `bind 127.a.b.c:P`
 * (top-level file only; includes are not followed; commented lines skipped).
 */
export function configuredListenPorts(configText: string, keyword: 'listen' | 'bind'): WaitPort[] {
  const re = new RegExp(String.raw`^[ \t]*${keyword}[ \t]+${LOOPBACK_PORT}\b`, 'gm');
  const seen = new Map<string, WaitPort>();
  for (const m of configText.matchAll(re)) {
    const port = Number(m[2]);
    if (port > 0) seen.set(`${m[1]}:${port}`, { host: m[1], port });
  }
  return [...seen.values()];
}

/**
 * Starts Envoy: -c configPath --base-id <random> --disable-hot-restart --concurrency 1
 * --admin-address-path <tmp file> -l <logLevel, default warn>.
 * The config must define the admin listener (port 0 is fine: the chosen address is read back
 * from --admin-address-path). Ready when GET <admin>/ready answers 200 LIVE.
 */
export async function startEnvoy(opts: {
  configPath: string;
  cwd: string;
  logLevel?: string;
  /** Extra ports to wait for after /ready (listeners are usually up by then already). */
  waitPorts?: WaitPort[];
  readyTimeoutMs?: number;
  extraArgs?: string[];
  bin?: string;
  /** Where the admin address file goes (a fresh directory inside it; default the system's temporary directory). */
  scratchDir?: string;
  onLine?: StartOptions['onLine'];
}): Promise<Proc & { adminUrl: string }> {
  const envoy = requireBinary('envoy', opts.bin);
  const scratch = await mkdtemp(path.join(opts.scratchDir ?? os.tmpdir(), 'meshc-envoy-admin-'));
  const adminPathFile = path.join(scratch, 'admin-address');
  let adminUrl = '';
  const args = [
    '-c', opts.configPath,
    // With hot restart disabled Envoy uses no shared memory, so base ids cannot clash; a random
    // base id is kept anyway in case a config or flag turns it back on.
    '--base-id', String(randomInt(1, 2 ** 31 - 1)),
    '--disable-hot-restart',
    '--concurrency', '1',
    '--admin-address-path', adminPathFile,
    '-l', opts.logLevel ?? 'warn',
    // Access log lines reach the output within a fifth of a second (Envoy's default is 10 s).
    '--file-flush-interval-msec', '200',
    ...(opts.extraArgs ?? []),
  ];
  let proc: Proc;
  try {
    proc = await startProcess(envoy, args, {
      cwd: opts.cwd,
      onLine: opts.onLine,
      readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
      ready: async () => {
        if (!adminUrl) {
          const addr = (await readFile(adminPathFile, 'utf8')).trim();
          if (!addr) throw new Error('admin address file is empty');
          adminUrl = `http://${addr}`;
        }
        const res = await getStatus(`${adminUrl}/ready`, 1_000);
        if (res.status !== 200 || res.body.trim() !== 'LIVE') {
          throw new Error(`${adminUrl}/ready: ${res.status} ${res.body.trim()}`);
        }
        await waitPorts(opts.waitPorts, 5_000);
      },
    });
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
  const stop = proc.stop;
  return {
    ...proc,
    adminUrl,
    stop: async () => {
      await stop();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

/**
 * Starts nginx: nginx -p <prefix> -c <configPath> -e stderr.
 * The config must say `daemon off;`, put `pid` and the *_temp_path directives inside the prefix
 * (generated configs do). Ready when the pid file names the new master (nginx writes it after it
 * has opened every listening socket) and every waitPorts entry LISTENs. waitPorts defaults to the
 * `listen 127.a.b.c:PORT` lines of the config file.
 */
export async function startNginx(opts: {
  configPath: string;
  prefix: string;
  waitPorts?: WaitPort[];
  readyTimeoutMs?: number;
  bin?: string;
  onLine?: StartOptions['onLine'];
}): Promise<Proc> {
  const nginx = requireBinary('nginx', opts.bin);
  const prefix = opts.prefix.endsWith('/') ? opts.prefix : `${opts.prefix}/`;
  const configText = await readFile(path.resolve(opts.prefix, opts.configPath), 'utf8');
  const ports = opts.waitPorts ?? configuredListenPorts(configText, 'listen');
  const pidDirective = /^[ \t]*pid[ \t]+([^;\s]+)[ \t]*;/m.exec(configText)?.[1];
  const pidFile = pidDirective ? path.resolve(opts.prefix, pidDirective) : undefined;
  const [cmd, args] = withStdoutPipe(nginx, ['-p', prefix, '-c', opts.configPath, '-e', 'stderr']);
  return startProcess(cmd, args, {
    cwd: opts.prefix,
    onLine: opts.onLine,
    readyTimeoutMs: opts.readyTimeoutMs ?? 15_000,
    ready: async (pid) => {
      if (pidFile) {
        // nginx runs under the shell that pipes its output: the pid file names a member of the group.
        const written = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
        if (!processGroupMembers(pid).includes(written)) throw new Error(`pid file ${pidFile} does not name this nginx yet`);
      }
      await waitPorts(ports, 15_000);
    },
    // SIGTERM is nginx's fast shutdown (SIGQUIT would wait for open connections to finish).
    stopSignal: 'SIGTERM',
  });
}

/**
 * Starts HAProxy in the foreground: haproxy -db -f configPath (no user/chroot/daemon in the config).
 * Ready when every waitPorts entry LISTENs; waitPorts defaults to the `bind 127.a.b.c:PORT` lines
 * of the config file.
 */
export async function startHaproxy(opts: {
  configPath: string;
  cwd: string;
  waitPorts?: WaitPort[];
  readyTimeoutMs?: number;
  bin?: string;
  onLine?: StartOptions['onLine'];
  /** Master-worker mode (`-W`): SIGUSR2 to the returned pid (the master) reloads the configuration gracefully. */
  masterWorker?: boolean;
}): Promise<Proc> {
  const haproxy = requireBinary('haproxy', opts.bin);
  const configText = await readFile(path.resolve(opts.cwd, opts.configPath), 'utf8');
  const ports = opts.waitPorts ?? configuredListenPorts(configText, 'bind');
  return startProcess(haproxy, [...(opts.masterWorker ? ['-W'] : []), '-db', '-f', opts.configPath], {
    cwd: opts.cwd,
    onLine: opts.onLine,
    readyTimeoutMs: opts.readyTimeoutMs ?? 15_000,
    ready: ports.length ? () => waitPorts(ports, 15_000) : undefined,
    stopSignal: 'SIGTERM',
  });
}

async function run(cmd: string, args: string[], cwd: string): Promise<ValidateResult> {
  const execa = await loadExeca();
  const res = await execa(cmd, args, { cwd, reject: false, all: true, timeout: 60_000, stdin: 'ignore' });
  return { ok: res.exitCode === 0 && !res.timedOut, output: res.all ?? '' };
}

/** envoy --mode validate -c configPath (reads certificate files; binds nothing, resolves nothing). */
export async function validateEnvoy(configPath: string, cwd: string, bin?: string): Promise<ValidateResult> {
  return run(requireBinary('envoy', bin), ['--mode', 'validate', '-c', configPath, '-l', 'warn', '--disable-hot-restart'], cwd);
}

/** nginx -t -p prefix -c configPath -e stderr (-e keeps it from opening /var/log/nginx/error.log). */
export async function validateNginx(configPath: string, prefix: string, bin?: string): Promise<ValidateResult> {
  const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return run(...withStdoutPipe(requireBinary('nginx', bin), ['-t', '-p', p, '-c', configPath, '-e', 'stderr']), prefix);
}

/** haproxy -c -f configPath (does not contact nameservers). */
export async function validateHaproxy(configPath: string, cwd: string, bin?: string): Promise<ValidateResult> {
  return run(requireBinary('haproxy', bin), ['-c', '-f', configPath], cwd);
}

