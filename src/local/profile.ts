/**
 * The local profile: the mesh as written, rewritten to run on one machine. Every service replica
 * and each gateway gets its own loopback address (127.B.x.y, B derived from the mesh file's path so
 * two meshes can run side by side), every listener a port above 1024 that is free there, every
 * endpoint an IP, and names resolve through the built-in DNS. Only the copy that `meshc up` builds
 * into its own directory changes; what `meshc build` writes for deployment never does.
 */
import net from 'node:net';
import path from 'node:path';
import { derivedLocalPort, DEFAULTS } from '../model/normalize.js';
import { cmp, type Mesh } from '../model/mesh.js';
import type { WrittenMesh } from '../schema/written-mesh.js';
import type { DnsRecords } from './dns.js';

export interface LocalService {
  name: string;
  protocol: Mesh['services'][number]['protocol'];
  /** One per replica; the built config names [0], replica i runs a copy with [0] replaced by [i]. */
  addresses: string[];
  appPort: number;
  inboundPort: number;
  probePort: number;
  adminPort: number;
  egressHttpPort: number;
  egressTlsPort: number;
  healthPath: string;
  /** Local outbound port per upstream, on each replica's address. */
  upstreams: { service: string; localPort: number }[];
}

export interface LocalPlan {
  dns: { host: string; port: number };
  services: LocalService[];
  ingress?: { address: string; httpPort: number; httpsPort: number; adminPort: number; hosts: string[] };
  egressGateway?: { address: string; httpPort: number; tlsPort: number; adminPort: number };
  /** What the built-in DNS answers for the mesh's own names. */
  records: DnsRecords;
  /** The local mesh, as written: what the profile build compiles. */
  written: WrittenMesh;
}

export interface ProfileOptions {
  /** The user's mesh file (addresses derive from its absolute path; relative TLS files resolve beside it). */
  file: string;
  mesh: Mesh;
  written: WrittenMesh;
  /** The port the built-in DNS already listens on, at meshAddress(file, 0). */
  dnsPort: number;
  /** Ports external sites are reached on (live tests point them at stand-in servers). */
  egressPorts?: { tlsPort: number; httpPort: number };
}

/**
 * The gateways' admin listeners bind 127.0.0.1 in every target (not the gateway's own address):
 * their ports are picked by the kernel there, so two meshes running side by side never clash.
 */
const GATEWAY_ADMIN_HOST = '127.0.0.1';

/** The second octet of the mesh's addresses: a hash of the mesh file's absolute path, 1..254. */
export function meshOctet(file: string): number {
  let h = 0x811c9dc5;
  const p = path.resolve(file);
  for (let i = 0; i < p.length; i++) h = Math.imul(h ^ p.charCodeAt(i), 0x01000193) >>> 0;
  return 1 + (h % 254);
}

/** The k-th loopback address of a mesh: 127.B.x.y; 0 is the built-in DNS, 1 the ingress, 2 the egress gateway. */
export function meshAddress(file: string, k: number): string {
  return `127.${meshOctet(file)}.${1 + Math.floor(k / 250)}.${2 + (k % 250)}`;
}

/** Can host:port be bound right now (TCP)? */
export function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

async function kernelPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host, port: 0, exclusive: true }, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Ports for one workload: each wanted port is kept when it is above 1024, distinct and free on
 * every address; otherwise the kernel picks one that is.
 */
async function choosePorts(addresses: string[], wanted: number[]): Promise<number[]> {
  const taken = new Set<number>();
  const out: number[] = [];
  for (const w of wanted) {
    let port = w;
    for (let tries = 0; ; tries++) {
      const ok = port > 1024 && !taken.has(port) && (await Promise.all(addresses.map((a) => canBind(a, port)))).every(Boolean);
      if (ok) break;
      if (tries > 50) throw new Error(`no free port on ${addresses.join(', ')}`);
      port = await kernelPort(addresses[0]);
    }
    taken.add(port);
    out.push(port);
  }
  return out;
}

/** The local profile of a valid mesh (see the file comment). */
export async function localProfile(o: ProfileOptions): Promise<LocalPlan> {
  let n = 0;
  const next = () => meshAddress(o.file, n++);
  const dnsHost = next();
  const ingressAddr = next();
  const egwAddr = next();
  const w = structuredClone(o.written);
  const spec = w.spec;
  const records: DnsRecords = {};
  const services: LocalService[] = [];

  for (const svc of [...o.mesh.services].sort((x, y) => cmp(x.name, y.name))) {
    const ws = spec.services[svc.name];
    const weights = ws.endpoints ? svc.endpoints.map((e) => e.weight) : Array.from({ length: svc.replicas }, () => 1);
    // A service with no replicas still gets an address (its callers' configs name one); nothing runs there.
    const addresses = Array.from({ length: Math.max(1, weights.length) }, next);
    const sc = svc.sidecar;
    const upstreams = svc.upstreams.map((u) => ({ service: u.service, localPort: u.localPort }));
    const [appPort, inboundPort, probePort, adminPort, egressHttpPort, egressTlsPort, ...upPorts] = await choosePorts(addresses, [
      svc.port < 1024 ? 8000 + svc.port : svc.port,
      sc.inboundPort,
      sc.probePort,
      sc.adminPort,
      sc.egressHttpPort,
      sc.egressTlsPort,
      ...upstreams.map((u) => (u.localPort > 1024 ? u.localPort : derivedLocalPort(u.service))),
    ]);
    upstreams.forEach((u, i) => (u.localPort = upPorts[i]));
    services.push({ name: svc.name, protocol: svc.protocol, addresses: weights.length ? addresses : [], appPort, inboundPort, probePort, adminPort, egressHttpPort, egressTlsPort, healthPath: svc.healthPath, upstreams });
    ws.port = appPort;
    ws.sidecar = { bindAddress: addresses[0], localAddress: addresses[0], appAddress: addresses[0], inboundPort, probePort, adminPort, egressHttpPort, egressTlsPort };
    ws.endpoints = addresses.map((a, i) => ((weights[i] ?? 1) === 1 ? `${a}:${inboundPort}` : { address: `${a}:${inboundPort}`, weight: weights[i] })) as typeof ws.endpoints;
    if (ws.replicas !== undefined) ws.replicas = weights.length;
    ws.upstreams = upstreams.map((u) => ({ service: u.service, localPort: u.localPort }));
    for (const name of svc.dnsNames) records[name] = weights.length ? addresses : [];
  }
  delete spec.sidecar;

  const ing = o.mesh.ingress;
  let ingress: LocalPlan['ingress'];
  if (ing.hosts.length) {
    const [httpPort, httpsPort] = await choosePorts([ingressAddr], [ing.httpPort < 1024 ? 8000 + ing.httpPort : ing.httpPort, ing.httpsPort < 1024 ? 8000 + ing.httpsPort : ing.httpsPort]);
    const [adminPort] = await choosePorts([GATEWAY_ADMIN_HOST], [0]);
    ingress = { address: ingressAddr, httpPort, httpsPort, adminPort, hosts: ing.hosts.map((h) => h.host) };
    for (const h of ing.hosts) records[h.host] = ingressAddr;
    for (const name of ing.dnsNames) records[name] = ingressAddr;
  }
  const dir = path.dirname(path.resolve(o.file));
  const hosts = Object.fromEntries(
    Object.entries(spec.ingress?.hosts ?? {}).map(([host, h]) => [
      host,
      typeof h.tls === 'object' ? { ...h, tls: { certFile: path.resolve(dir, h.tls.certFile), keyFile: path.resolve(dir, h.tls.keyFile) } } : h,
    ]),
  );
  spec.ingress = {
    ...(spec.ingress ?? {}),
    bindAddress: ingressAddr,
    httpPort: ingress?.httpPort ?? 18080,
    httpsPort: ingress?.httpsPort ?? 18443,
    adminPort: ingress?.adminPort ?? DEFAULTS.ingress.adminPort,
    ...(spec.ingress?.hosts ? { hosts } : {}),
  };

  const eg = o.mesh.egressGateway;
  const [egwHttp, egwTls] = await choosePorts([egwAddr], [eg.httpPort, eg.tlsPort]);
  const [egwAdmin] = await choosePorts([GATEWAY_ADMIN_HOST], [0]);
  const egressGateway = o.mesh.egress.viaGateway ? { address: egwAddr, httpPort: egwHttp, tlsPort: egwTls, adminPort: egwAdmin } : undefined;
  for (const name of eg.dnsNames) records[name] = egwAddr;
  spec.egress = {
    ...(spec.egress ?? {}),
    ...(o.egressPorts ?? {}),
    gateway: { bindAddress: egwAddr, address: egwAddr, httpPort: egwHttp, tlsPort: egwTls, adminPort: egwAdmin },
  };

  const dnsPort = o.dnsPort;
  spec.dns = { resolvers: [`${dnsHost}:${dnsPort}`], ipFamily: 'v4' };
  return { dns: { host: dnsHost, port: dnsPort }, services, ...(ingress ? { ingress } : {}), ...(egressGateway ? { egressGateway } : {}), records, written: w };
}
