/**
 * `meshc test --live`: the mesh started as `meshc up --echo` starts it, every expectation checked
 * with real traffic through the real proxies, then everything stopped. External domains the
 * expectations name are answered by local stand-in servers (the built-in DNS points them at
 * loopback and forwards nothing), so a live run never leaves the machine.
 *
 * A refusal must come from a proxy: the callee's sidecar is first shown to be listening, then to
 * refuse; an egress stand-in is shown to get no connection; the ingress answers 404 or refuses the SNI.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { generate } from 'selfsigned';
import { explain, type Explanation } from '../explain/index.js';
import { judge, type Expectation, type TestResult } from '../explain/tests.js';
import { derivedLocalPort } from '../model/normalize.js';
import { serviceByName, type Mesh } from '../model/mesh.js';
import type { WrittenMesh } from '../schema/written-mesh.js';
import { startHttpBackend, startTlsBackend, type Backend, type TlsBackend } from './backends.js';
import { http2Get, httpGet, type HttpResult } from './clients.js';
import { isListening } from './net.js';
import { meshAddress, canBind } from './profile.js';
import { up, type RunningMesh } from './up.js';
import type { ProxyTarget } from './workloads.js';

export interface LiveOptions {
  file: string;
  target: ProxyTarget;
  mesh: Mesh;
  written: WrittenMesh;
  tests: readonly Expectation[];
  /** Progress and the processes' output. */
  log: (line: string) => void;
}

interface StandIns {
  byDomain: Map<string, { address: string; tls: TlsBackend; http: Backend }>;
  tlsPort: number;
  httpPort: number;
  close(): Promise<void>;
}

/** One stand-in (HTTPS and HTTP) per external domain, each on its own loopback address. */
async function startStandIns(file: string, domains: string[]): Promise<StandIns> {
  const byDomain: StandIns['byDomain'] = new Map();
  const addresses = domains.map((_, i) => meshAddress(file, 60_000 + i));
  const ports = { tlsPort: 18443, httpPort: 18080 };
  for (const key of ['tlsPort', 'httpPort'] as const) {
    while (!(await Promise.all(addresses.map((a) => canBind(a, ports[key])))).every(Boolean) || ports.tlsPort === ports.httpPort) ports[key]++;
  }
  const pem = domains.length
    ? await generate([{ name: 'commonName', value: 'meshc stand-in' }], { keyType: 'ec', algorithm: 'sha256', extensions: [{ name: 'subjectAltName', altNames: domains.map((d) => ({ type: 2, value: d })) }] })
    : undefined;
  const close = async () => {
    for (const s of byDomain.values()) await Promise.all([s.tls.close(), s.http.close()]);
  };
  try {
    for (const [i, domain] of domains.entries()) {
      const answer = () => `stand-in for ${domain}\n`;
      const tls = await startTlsBackend({ name: domain, host: addresses[i], port: ports.tlsPort, cert: pem!.cert, key: pem!.private, answer });
      const http = await startHttpBackend({ name: domain, host: addresses[i], port: ports.httpPort, answer });
      byDomain.set(domain, { address: addresses[i], tls, http });
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { byDomain, ...ports, close };
}

type Observation = { decision: 'allow' | 'deny'; observed: string; served?: string };

const get = (url: string, o: Parameters<typeof httpGet>[1] = {}): Promise<HttpResult | Error> => httpGet(url, { timeoutMs: 5_000, ...o }).catch((e: Error) => e);
/** `HTTP 403`, or the network or TLS error in a few words (`TLS alert: certificate required`). */
const statusOf = (r: HttpResult | Error) => {
  if (!(r instanceof Error)) return `HTTP ${r.status}`;
  const alert = /ssl3_read_bytes:(?:tlsv1\d? )?(?:alert )?([a-z ]+?):/.exec(r.message);
  return alert ? `TLS alert: ${alert[1]}` : r.message.split('\n')[0];
};
const bodyService = (r: HttpResult | Error): string | undefined => {
  if (r instanceof Error || r.status !== 200) return undefined;
  try {
    return (JSON.parse(r.body) as { service?: string }).service;
  } catch {
    return undefined;
  }
};

/** Checks one call with traffic. */
async function observe(m: RunningMesh, mesh: Mesh, stand: StandIns, e: Explanation, ca: string): Promise<Observation> {
  const plan = m.plan;
  const svc = (name: string) => plan.services.find((s) => s.name === name)!;
  const pem = async (name: string) => ({ cert: await readFile(path.join(m.out, 'certs', `${name}.pem`), 'utf8'), key: await readFile(path.join(m.out, 'secrets', `${name}.key`), 'utf8') });

  if (e.kind === 'ingress') {
    const ing = plan.ingress;
    if (!ing) return { decision: 'deny', observed: 'the mesh has no ingress gateway' };
    const url = new URL(e.to);
    const local = `${url.protocol}//${url.hostname}:${url.protocol === 'http:' ? ing.httpPort : ing.httpsPort}${url.pathname}${url.search}`;
    const r = await get(local, { lookupHost: ing.address, ca });
    if (!(r instanceof Error) && (r.status === 301 || r.status === 308)) return { decision: 'allow', observed: `redirected to ${String(r.headers.location)}` };
    const served = bodyService(r);
    return served ? { decision: 'allow', observed: `served by ${served}`, served } : { decision: 'deny', observed: `the ingress gateway answered ${statusOf(r)}` };
  }

  if (e.from !== 'internet' && !svc(e.from).addresses.length) return { decision: 'deny', observed: `${e.from} has no replica running (replicas: 0)` };
  if (e.kind === 'egress') {
    const caller = svc(e.from);
    const s = stand.byDomain.get(e.domain!)!;
    const before = s.tls.connections.length;
    const r = await get(`https://${e.domain}:${caller.egressTlsPort}/`, { lookupHost: caller.addresses[0], rejectUnauthorized: false });
    if (!(r instanceof Error) && r.body === `stand-in for ${e.domain}\n`) return { decision: 'allow', observed: `reached the stand-in for ${e.domain}` };
    const reached = s.tls.connections.length > before;
    return { decision: reached ? 'allow' : 'deny', observed: reached ? `${e.domain} was reached, but answered ${statusOf(r)}` : `${e.from}'s sidecar dropped it (${statusOf(r)}); the stand-in got no connection` };
  }

  // A service call: from a service, through its sidecar; from the internet, straight at the callee's sidecar.
  const callee = svc(e.service!);
  const calleeModel = serviceByName(mesh, callee.name)!;
  if (!callee.addresses.length) return { decision: 'deny', observed: `${callee.name} has no replica running` };
  const inbound = m.plan.written.spec.services[callee.name].sidecar!.inboundPort!;
  if (!isListening(callee.addresses[0], inbound)) return { decision: 'deny', observed: `${callee.name}'s sidecar is not listening (not a policy refusal)` };
  const direct = `https://${calleeModel.dnsNames[3]}:${inbound}/`;
  if (e.from === 'internet') {
    const r = await get(direct, { lookupHost: callee.addresses[0], ca });
    return bodyService(r) ? { decision: 'allow', observed: `served by ${callee.name} without a certificate` } : { decision: 'deny', observed: `${callee.name}'s sidecar refused a caller without a certificate (${statusOf(r)})` };
  }
  const caller = svc(e.from);
  const up = caller.upstreams.find((u) => u.service === callee.name);
  if (up) {
    const url = `http://${caller.addresses[0]}:${up.localPort}/`;
    const h2 = calleeModel.protocol === 'http2' || calleeModel.protocol === 'grpc';
    const r = h2 ? await http2Get(url, { timeoutMs: 5_000 }).catch((x: Error) => x) : await get(url);
    const served = bodyService(r as HttpResult | Error);
    if (served === callee.name) return { decision: 'allow', observed: `served by ${callee.name} through ${e.from}'s sidecar`, served };
    return { decision: 'deny', observed: `${e.from}'s sidecar answered ${statusOf(r as HttpResult | Error)}: ${callee.name}'s sidecar refused ${e.from}` };
  }
  // No upstream: the caller's sidecar has no listener, and the callee's sidecar refuses an
  // application that calls it directly (it has no certificate; with the caller's, allowFrom decides).
  const derived = derivedLocalPort(callee.name);
  const noListener = !isListening(caller.addresses[0], derived);
  const bare = await get(direct, { lookupHost: callee.addresses[0], ca });
  const withCert = await get(direct, { lookupHost: callee.addresses[0], ca, ...(await pem(e.from)) });
  const allowedWithCert = Boolean(bodyService(withCert));
  const refused = noListener && !bodyService(bare);
  return {
    decision: refused ? 'deny' : 'allow',
    observed: `${e.from}'s sidecar has no listener for ${callee.name}; ${callee.name}'s sidecar refused a call without a certificate (${statusOf(bare)})${allowedWithCert ? ` but serves ${e.from}'s certificate` : ` and with ${e.from}'s (${statusOf(withCert)})`}`,
  };
}

/** Every expectation, checked with traffic; each result carries the static explanation too. */
export async function runLive(o: LiveOptions): Promise<TestResult[]> {
  const explained = o.tests.map((t) => ({ t, e: explain(o.mesh, o.written, t.from, t.to) }));
  const domains = [...new Set(explained.filter((x) => x.e.kind === 'egress').map((x) => x.e.domain!))].sort();
  const stand = await startStandIns(o.file, domains);
  let running: RunningMesh | undefined;
  // Ctrl-C stops what the run started and removes what it wrote, like `meshc up`.
  const interrupted = () => void Promise.allSettled([running?.stop(), stand.close()]).finally(() => process.exit(130));
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    running = await up({
      file: o.file,
      mesh: o.mesh,
      written: o.written,
      target: o.target,
      echo: true,
      resolver: 'none',
      records: Object.fromEntries([...stand.byDomain].map(([d, s]) => [d, s.address])),
      egressPorts: { tlsPort: stand.tlsPort, httpPort: stand.httpPort },
      log: () => {},
      onExit: (name, how, last) => o.log(`[${name}] ${how}; its last lines:\n${last.map((l) => `  ${l}`).join('\n')}`),
    });
    o.log(`live: ${running.procs.size} ${o.target} processes on loopback`);
    const ca = await readFile(running.caBundle, 'utf8');
    const results: TestResult[] = [];
    for (const { t, e } of explained) {
      const seen = await observe(running, o.mesh, stand, e, ca);
      // The failure reads as the static one would; traffic that contradicts the policy is said so.
      const failure = seen.decision !== e.decision
        ? `live traffic ${seen.decision === 'allow' ? 'went through' : 'was refused'}, but the policy ${e.decision === 'allow' ? 'allows' : 'refuses'} it`
        : seen.served && e.service && seen.served !== e.service
          ? `live traffic was served by ${seen.served}, but the policy routes it to ${e.service}`
          : judge(t, e);
      results.push({ test: t, passed: failure === undefined, ...(failure ? { failure } : {}), explanation: e, observed: `live: ${seen.observed}` });
    }
    return results;
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    await running?.stop();
    await stand.close();
  }
}
