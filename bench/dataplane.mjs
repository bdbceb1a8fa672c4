// Data-plane overhead of the generated configs, on loopback with the real proxies: requests per
// second and median / p99 latency for a client calling a backend directly, and through a pair of
// generated sidecars with mutual TLS (client sidecar → server sidecar → backend), for Envoy,
// nginx and HAProxy. Load: wrk (Debian's package), bounded in time, 127.x addresses only.
// Target: the Envoy pair adds at most 1 ms at the median under moderate load.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
  return { rps, p50: ms('50'), p99: ms('99') };
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
    const pair = wrk(url);
    rows.push({ figure: `${proxy} pair: requests/s`, value: pair.rps, unit: 'req/s' });
    rows.push({ figure: `${proxy} pair: throughput ratio to direct`, value: pair.rps / base.rps, unit: 'x' });
    rows.push({ figure: `${proxy} pair: median latency`, value: pair.p50, unit: 'ms' });
    rows.push({ figure: `${proxy} pair: p99 latency`, value: pair.p99, unit: 'ms' });
    rows.push({ figure: `${proxy} pair: added median latency (direct ${base.p50.toFixed(2)} ms)`, value: pair.p50 - base.p50, unit: 'ms', target: proxy === 'envoy' ? 1 : undefined, better: 'lower' });
    rows.push({ figure: `${proxy} pair: added p99 latency (direct ${base.p99.toFixed(2)} ms)`, value: pair.p99 - base.p99, unit: 'ms' });
    // Stop this proxy pair (the backend stays for the next one).
    for (const p of procs.splice(1)) {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {}
    }
    await sleep(300);
  }
} finally {
  stopAll();
  rmSync(dir, { recursive: true, force: true });
}
saveResults('dataplane', printTable(`data plane (wrk: 1 thread, ${CONNECTIONS} connections, ${DURATION} s per run)`, rows));
