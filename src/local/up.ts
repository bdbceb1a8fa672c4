/**
 * `meshc up`: the mesh's local profile built into a directory of its own and run with the real
 * proxies on loopback, with the built-in DNS and (with `echo`) a small application per replica.
 * Everything it starts it stops, and everything it writes it removes, in `stop()`.
 */
import { createHash } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../errors.js';
import { EGRESS_GATEWAY, INGRESS_GATEWAY, type Mesh } from '../model/mesh.js';
import { build } from '../pipeline/build.js';
import type { WrittenMesh } from '../schema/written-mesh.js';
import type { Diagnostic } from '../model/diagnostic.js';
import { startHttpBackend, type Backend, type BackendRequest } from './backends.js';
import { startDns, type DnsRecords, type DnsServer } from './dns.js';
import { isAlive, lastResort, type Proc } from './procs.js';
import { localProfile, meshAddress, type LocalPlan, type LocalService } from './profile.js';
import { startWorkload, type ProxyTarget } from './workloads.js';

export interface UpOptions {
  /** The user's mesh file (already validated: `mesh` and `written` are its model). */
  file: string;
  mesh: Mesh;
  written: WrittenMesh;
  target: ProxyTarget;
  /** Start an echo application per service replica. */
  echo: boolean;
  /**
   * Where the built-in DNS sends names the mesh does not own: `host:port`, `system` (the
   * machine's resolvers, the default) or `none` (NXDOMAIN: nothing leaves the machine).
   */
  resolver?: string;
  /** Extra names for the built-in DNS (live tests: external domains answered by stand-ins). */
  records?: DnsRecords;
  /** Ports external sites are reached on (live tests: the stand-ins' ports). */
  egressPorts?: { tlsPort: number; httpPort: number };
  /** One line of a process's output, or of meshc about it. */
  log: (name: string, line: string) => void;
  /** A process exited while the mesh ran: its name, how, and its last output lines. */
  onExit?: (name: string, how: string, lastLines: string[]) => void;
}

/**
 * The local profile did not compile for the target (a feature the proxy cannot express). Its
 * diagnostics' pointers name the same places in the user's mesh.yaml, where the CLI shows them.
 */
export class ProfileError extends Error {
  constructor(public diagnostics: Diagnostic[]) {
    super(`the mesh cannot run with this proxy: ${diagnostics.length} error${diagnostics.length === 1 ? '' : 's'}`);
  }
}

export interface RunningMesh {
  plan: LocalPlan;
  target: ProxyTarget;
  /** The directory everything is written to (removed by stop). */
  dir: string;
  out: string;
  /** The mesh CA bundle a client trusts to call the ingress. */
  caBundle: string;
  dns: DnsServer;
  echoes: Backend[];
  /** The processes, by name (`frontend-0`, `ingress-gateway`, ...). */
  procs: Map<string, Proc>;
  stop(): Promise<void>;
}

function meshKey(file: string): string {
  return createHash('sha256').update(path.resolve(file)).digest('hex').slice(0, 12);
}

/** Where a running `up` of this mesh file keeps its lock and its files. */
export function upPaths(file: string): { lock: string; dir: string } {
  const key = meshKey(file);
  return { lock: path.join(os.tmpdir(), `meshc-up-${key}.lock`), dir: path.join(os.tmpdir(), `meshc-up-${key}`) };
}

/** Takes the lock of this mesh, or refuses while another `up` of it runs. */
async function lock(file: string, lockPath: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const h = await open(lockPath, 'wx', 0o644);
      await h.writeFile(String(process.pid));
      await h.close();
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
      if (pid && pid !== process.pid && isAlive(pid)) {
        throw new UserError(`${file} is already running (meshc up, pid ${pid})`, 2, 'stop that one first (Ctrl-C in its terminal), or use its listeners');
      }
      await rm(lockPath, { force: true }); // left by a run that was killed
    }
  }
  throw new UserError(`cannot take the lock ${lockPath}`, 2);
}

/** The caller identity the echo application was given: Envoy's x-forwarded-client-cert URI. */
function callerOf(req: BackendRequest): string | null {
  const xfcc = req.headers['x-forwarded-client-cert'];
  const m = /URI=([^;,]+)/.exec(Array.isArray(xfcc) ? xfcc.join(',') : (xfcc ?? ''));
  return m ? m[1] : null;
}

function resolverFor(spec: string | undefined): ((name: string) => Promise<string[] | undefined>) | undefined {
  if (spec === 'none') return undefined;
  const r = new Resolver({ timeout: 2_000, tries: 2 });
  if (spec && spec !== 'system') r.setServers([spec]);
  return async (name) => {
    try {
      return await r.resolve4(name);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') return undefined;
      throw e;
    }
  };
}

/** Runs `fn` over items, at most `limit` at a time. */
async function inBatches<T>(items: T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, async () => {
    for (let x = queue.shift(); x !== undefined; x = queue.shift()) await fn(x);
  }));
}

/** Builds the local profile and starts everything; on any failure stops what it started and rethrows. */
export async function up(o: UpOptions): Promise<RunningMesh> {
  lastResort.signals = false; // the command stops its processes itself on SIGINT and SIGTERM
  const paths = upPaths(o.file);
  await lock(o.file, paths.lock);
  const procs = new Map<string, Proc>();
  const echoes: Backend[] = [];
  let dns: DnsServer | undefined;
  let stopping = false;
  const stop = async () => {
    stopping = true;
    await Promise.all([...procs.values()].map((p) => p.stop()));
    await Promise.all(echoes.map((b) => b.close()));
    await dns?.close();
    await rm(paths.dir, { recursive: true, force: true });
    await rm(paths.lock, { force: true });
  };
  try {
    await rm(paths.dir, { recursive: true, force: true }); // what a killed run left
    await mkdir(paths.dir, { recursive: true, mode: 0o755 });
    dns = await startDns({ host: meshAddress(o.file, 0), records: {}, forward: resolverFor(o.resolver) });
    const plan = await localProfile({ file: o.file, mesh: o.mesh, written: o.written, dnsPort: dns.port, ...(o.egressPorts ? { egressPorts: o.egressPorts } : {}) });
    for (const [name, ip] of Object.entries({ ...plan.records, ...o.records })) dns.setRecord(name, ip);

    const file = path.join(paths.dir, 'mesh.yaml');
    const out = path.join(paths.dir, 'out');
    await writeFile(file, JSON.stringify(plan.written, null, 2) + '\n');
    const built = await build({ file, out, state: path.join(paths.dir, 'state'), targets: [o.target] });
    if (!built.ok) throw new ProfileError(built.diagnostics.filter((d) => d.severity === 'error'));

    if (o.echo) {
      for (const s of plan.services) {
        for (const [i, address] of s.addresses.entries()) {
          const name = `${s.name}-${i}`;
          echoes.push(
            await startHttpBackend({
              name,
              host: address,
              port: s.appPort,
              healthPath: s.healthPath,
              protocol: s.protocol === 'http2' || s.protocol === 'grpc' ? 'h2c' : 'http1',
              answer: (req) => {
                const caller = callerOf(req);
                o.log(`echo ${name}`, `${req.method} ${req.path} from ${caller ?? req.remoteAddress}`);
                return JSON.stringify({ service: s.name, replica: i, address, caller, method: req.method, path: req.path }) + '\n';
              },
            }),
          );
        }
      }
    }

    const starts: { name: string; workload: string; rewrite?: [string, string] }[] = [];
    for (const s of plan.services) s.addresses.forEach((a, i) => starts.push({ name: `${s.name}-${i}`, workload: s.name, ...(i ? { rewrite: [s.addresses[0], a] as [string, string] } : {}) }));
    if (plan.egressGateway) starts.push({ name: EGRESS_GATEWAY, workload: EGRESS_GATEWAY });
    if (plan.ingress) starts.push({ name: INGRESS_GATEWAY, workload: INGRESS_GATEWAY });
    await inBatches(starts, 4, async (st) => {
      const scratch = path.join(paths.dir, 'run', st.name);
      await mkdir(scratch, { recursive: true, mode: 0o755 });
      const proc = await startWorkload(o.target, out, st.workload, { scratch, ...(st.rewrite ? { rewrite: st.rewrite } : {}), onLine: (line) => o.log(st.name, line), logLevel: 'error' });
      procs.set(st.name, proc);
      void proc.exited.then((how) => {
        if (!stopping) o.onExit?.(st.name, how, proc.output().trimEnd().split('\n').slice(-20));
      });
    });
    return { plan, target: o.target, dir: paths.dir, out, caBundle: path.join(out, 'certs', 'ca-bundle.pem'), dns, echoes, procs, stop };
  } catch (e) {
    await stop();
    if (e instanceof Error && !(e instanceof UserError) && /not ready|before it was ready|not found/.test(e.message)) {
      throw new UserError(`a proxy did not start: ${e.message}`, 2);
    }
    throw e;
  }
}

/** What to call, as lines of text: the ingress URLs, each replica's listeners, the DNS. */
export function callTable(m: RunningMesh, mesh: Mesh): string[] {
  const p = m.plan;
  const lines: string[] = [];
  const replicas = p.services.reduce((n, s) => n + s.addresses.length, 0);
  lines.push(`${mesh.name}: ${p.services.length} services, ${replicas} replicas, ${m.procs.size} ${m.target} processes; DNS ${p.dns.host}:${p.dns.port}; files in ${m.dir}`);
  if (p.ingress) {
    lines.push('', 'ingress (TLS from the mesh CA):');
    for (const host of p.ingress.hosts) {
      const h = host.replace(/^\*\./, 'www.');
      lines.push(`  https://${h}:${p.ingress.httpsPort}/    curl --cacert ${m.caBundle} --resolve ${h}:${p.ingress.httpsPort}:${p.ingress.address} https://${h}:${p.ingress.httpsPort}/`);
      lines.push(`  http://${h}:${p.ingress.httpPort}/     curl --resolve ${h}:${p.ingress.httpPort}:${p.ingress.address} http://${h}:${p.ingress.httpPort}/`);
    }
  }
  lines.push('', 'services: the application listens on app; it calls each upstream in plain HTTP on its own address; egress by SNI (tls) or Host (http)');
  const rows = [['replica', 'address', 'app', 'upstreams', 'egress http/tls']];
  for (const s of p.services) rows.push(...serviceRows(s));
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) lines.push('  ' + r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
  if (p.egressGateway) lines.push('', `egress gateway: ${p.egressGateway.address} http ${p.egressGateway.httpPort}, tls ${p.egressGateway.tlsPort}`);
  return lines;
}

function serviceRows(s: LocalService): string[][] {
  if (!s.addresses.length) return [[`${s.name} (0 replicas)`, '-', '-', '-', '-']];
  return s.addresses.map((a, i) => [
    `${s.name}-${i}`,
    a,
    String(s.appPort),
    s.upstreams.map((u) => `${u.service}:${u.localPort}`).join(' ') || '-',
    `${s.egressHttpPort}/${s.egressTlsPort}`,
  ]);
}
