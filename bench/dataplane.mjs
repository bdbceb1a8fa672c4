// Data-plane overhead of the generated configs, on loopback with the real proxies: requests per
// second and median / p99 latency for a client calling a backend directly, and through a pair of
// generated sidecars with mutual TLS (client sidecar → server sidecar → backend), for Envoy,
// nginx and HAProxy. Load: wrk (Debian's package), bounded in time, 127.x addresses only.
// Target: the Envoy pair adds at most 1 ms at the median under moderate load. Each pair's CPU per
// request (user + system, both sidecars, from the kernel's accounting) shows what the latency follows
// when the load keeps the two cores busy.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { build } from '../dist/index.js';
import { printTable, saveResults } from './lib.mjs';

const DURATION = process.env.BENCH_SECONDS ?? '8';
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4);
const root = new URL('..', import.meta.url).pathname;

const which = (name, extra = []) => [...(process.env.PATH ?? '').split(':'), '/usr/sbin', ...extra].map((d) => join(d, name)).find((p) => existsSync(p));
const bins = { envoy: which('envoy', [join(root, '.venv/envoy/bin')]), nginx: which('nginx'), haproxy: which('haproxy'), wrk: which('wrk') };
if (!bins.wrk) {
  console.log('dataplane: wrk not found (apt-get install wrk); skipped');
  process.exit(0);
}

const rnd = () => 2 + Math.floor(Math.random() * 250);
const addr = () => `127.${rnd()}.${rnd()}.${rnd()}`;
const freePort = (host) =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitHttp(url, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {}
    await sleep(100);
  }
  throw new Error(`not ready: ${url}`);
}

const procs = [];
function start(cmd, args, opts = {}) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...opts });
  let err = '';
  p.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  p.errText = () => err;
  procs.push(p);
  return p;
}
function stopAll() {
  for (const p of procs.splice(0)) {
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {}
  }
}
process.on('exit', stopAll);

// CPU seconds (user + system) used so far by every process in these process groups (each proxy
// runs in a group of its own: nginx's master and worker, HAProxy, Envoy).
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
function cpuSeconds(groups) {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    if (groups.includes(Number(f[2]))) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / CLK_TCK;
}

function wrk(url) {
  const out = execFileSync(bins.wrk, ['-t', '1', '-c', String(CONNECTIONS), '-d', `${DURATION}s`, '--latency', '--timeout', '5s', url], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const ms = (label) => {
    const m = new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0';
  if (errors !== '0') throw new Error(`wrk saw ${errors} error responses:\n${out}`);
  const requests = Number(/(\d+) requests in/.exec(out)[1]);
  return { rps, requests, p50: ms('50'), p99: ms('99') };
}

/**
 * Envoy's own floor, to tell its per-request cost from the generated configuration's: one Envoy with
 * one plaintext HTTP listener, the router and one static cluster in front of the same backend (no
 * TLS, no RBAC, no client-certificate header, no request id).
 */
async function envoyFloor(backendAddr, backendPort) {
  const a = addr();
  const port = await freePort(a);
  const config = {
    static_resources: {
      listeners: [
        {
          address: { socket_address: { address: a, port_value: port } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'floor',
                    codec_type: 'HTTP1',
                    generate_request_id: false,
                    route_config: { virtual_hosts: [{ name: 'app', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'app' } }] }] },
                    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', suppress_envoy_headers: true } }],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'app',
          type: 'STATIC',
          load_assignment: { cluster_name: 'app', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: backendAddr, port_value: backendPort } } } }] }] },
        },
      ],
    },
  };
  const file = join(dir, 'envoy-floor.yaml');
  writeFileSync(file, stringify(config));
  const p = start(bins.envoy, ['-c', file, '--concurrency', '1', '--base-id', String(1000 + procs.length), '--disable-hot-restart', '-l', 'error']);
  const url = `http://${a}:${port}/`;
  try {
    await waitHttp(url);
  } catch {
    throw new Error(`envoy (floor) did not serve: ${p.errText()}`);
  }
  const base = wrk(`http://${backendAddr}:${backendPort}/`);
  const before = cpuSeconds([p.pid]);
  const one = wrk(url);
  const cpu = cpuSeconds([p.pid]) - before;
  return [
    { figure: `envoy alone, minimal plaintext HTTP proxy: added median latency (direct ${base.p50.toFixed(2)} ms)`, value: one.p50 - base.p50, unit: 'ms' },
    { figure: 'envoy alone, minimal plaintext HTTP proxy: CPU per request', value: (cpu / one.requests) * 1e6, unit: 'µs' },
  ];
}

const rows = [];
const dir = mkdtempSync(join(tmpdir(), 'meshc-bench-dataplane-'));
try {
  // The backend: a small Node HTTP server in its own process.
  const backendAddr = addr();
  const backendPort = await freePort(backendAddr);
  start('node', ['-e', `require('http').createServer((q,s)=>{s.setHeader('content-type','text/plain');s.end('server')}).listen(${backendPort}, '${backendAddr}')`]);
  await waitHttp(`http://${backendAddr}:${backendPort}/`);
  const direct = wrk(`http://${backendAddr}:${backendPort}/`);
  rows.push({ figure: 'direct: client → backend, requests/s', value: direct.rps, unit: 'req/s' });
  rows.push({ figure: 'direct: median latency', value: direct.p50, unit: 'ms' });
  rows.push({ figure: 'direct: p99 latency', value: direct.p99, unit: 'ms' });

  for (const proxy of (process.env.BENCH_PROXIES ?? 'envoy,nginx,haproxy').split(',')) {
    if (!bins[proxy]) {
      console.log(`dataplane: ${proxy} not found; run scripts/install-proxies.sh`);
      continue;
    }
    const clientAddr = addr();
    const serverAddr = backendAddr; // the server sidecar finds its app on its own address
    const ports = {};
    for (const k of ['clientAdmin', 'clientLocal', 'clientIn', 'clientProbe', 'clientEh', 'clientEt']) ports[k] = await freePort(clientAddr);
    for (const k of ['serverAdmin', 'serverIn', 'serverProbe', 'serverEh', 'serverEt']) ports[k] = await freePort(serverAddr);
    const sidecar = (a, p) => ({ bindAddress: a, localAddress: a, appAddress: a, ...p });
    const mesh = {
      apiVersion: 'meshc.dev/v1',
      kind: 'Mesh',
      metadata: { name: 'bench' },
      spec: {
        trustDomain: 'bench.example',
        namespace: 'bench',
        services: {
          client: { port: await freePort(clientAddr), upstreams: [{ service: 'server', localPort: ports.clientLocal }], sidecar: sidecar(clientAddr, { adminPort: ports.clientAdmin, inboundPort: ports.clientIn, probePort: ports.clientProbe, egressHttpPort: ports.clientEh, egressTlsPort: ports.clientEt }) },
          server: { port: backendPort, allowFrom: ['client'], endpoints: [`${serverAddr}:${ports.serverIn}`], sidecar: sidecar(serverAddr, { adminPort: ports.serverAdmin, inboundPort: ports.serverIn, probePort: ports.serverProbe, egressHttpPort: ports.serverEh, egressTlsPort: ports.serverEt }) },
        },
      },
    };
    const work = join(dir, proxy);
    execFileSync('mkdir', ['-p', work]);
    writeFileSync(join(work, 'mesh.yaml'), stringify(mesh));
    const out = join(work, 'out');
    const r = await build({ file: join(work, 'mesh.yaml'), out, state: join(work, 'state'), targets: [proxy] });
    if (!r.ok) throw new Error(`${proxy}: ${JSON.stringify(r.diagnostics)}`);
    for (const w of ['server', 'client']) {
      if (proxy === 'envoy') start(bins.envoy, ['-c', `envoy/${w}.yaml`, '--concurrency', '1', '--base-id', String(1000 + procs.length), '--disable-hot-restart', '-l', 'error'], { cwd: out });
      if (proxy === 'nginx') {
        // nginx's runtime prefix (pid file, temp paths) lives outside out/, which builds replace.
        const prefix = join(work, `nginx-${w}`);
        execFileSync('mkdir', ['-p', join(prefix, 'run'), join(prefix, 'tmp')]);
        start(bins.nginx, ['-p', `${prefix}/`, '-c', `${out}/nginx/${w}.conf`, '-e', 'stderr'], { cwd: out });
      }
      if (proxy === 'haproxy') start(bins.haproxy, ['-db', '-f', `haproxy/${w}.cfg`], { cwd: out });
    }
    const url = `http://${clientAddr}:${ports.clientLocal}/`;
    try {
      await waitHttp(url);
    } catch (e) {
      throw new Error(`${proxy} did not serve: ${procs.map((p) => p.errText()).join('\n')}`);
    }
    // The direct baseline again, right before the pair: the machine's state drifts between runs.
    const base = wrk(`http://${backendAddr}:${backendPort}/`);
    const sidecars = procs.slice(1).map((p) => p.pid);
    const cpuBefore = cpuSeconds(sidecars);
    const pair = wrk(url);
    const cpu = cpuSeconds(sidecars) - cpuBefore;
    rows.push({ figure: `${proxy} pair: requests/s`, value: pair.rps, unit: 'req/s' });
    rows.push({ figure: `${proxy} pair: throughput ratio to direct`, value: pair.rps / base.rps, unit: 'x' });
    rows.push({ figure: `${proxy} pair: median latency`, value: pair.p50, unit: 'ms' });
    rows.push({ figure: `${proxy} pair: p99 latency`, value: pair.p99, unit: 'ms' });
    rows.push({ figure: `${proxy} pair: added median latency (direct ${base.p50.toFixed(2)} ms)`, value: pair.p50 - base.p50, unit: 'ms', target: proxy === 'envoy' ? 1 : undefined, better: 'lower' });
    rows.push({ figure: `${proxy} pair: added p99 latency (direct ${base.p99.toFixed(2)} ms)`, value: pair.p99 - base.p99, unit: 'ms' });
    rows.push({ figure: `${proxy} pair: CPU per request, both sidecars`, value: (cpu / pair.requests) * 1e6, unit: 'µs' });
    // Stop this proxy pair (the backend stays for the next one).
    for (const p of procs.splice(1)) {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {}
    }
    await sleep(300);
  }
  if (bins.envoy && (process.env.BENCH_PROXIES ?? 'envoy').split(',').includes('envoy')) rows.push(...(await envoyFloor(backendAddr, backendPort)));
} finally {
  stopAll();
  rmSync(dir, { recursive: true, force: true });
}
saveResults('dataplane', printTable(`data plane (wrk: 1 thread, ${CONNECTIONS} connections, ${DURATION} s per run)`, rows));
