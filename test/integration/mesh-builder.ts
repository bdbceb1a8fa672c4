/**
 * Builds a test mesh for the integration scenarios: a JS description → mesh.yaml in a temp dir →
 * `build()` (real certificates in a state dir, every target's output in out/).
 *
 * Every workload gets its own random loopback address and ports picked at run time:
 *   - a service's sidecar listens on, and finds its app at, its address (bindAddress =
 *     localAddress = appAddress); with `replicas: N` it gets N addresses, the endpoints list all
 *     of them, and replica i is the same sidecar config with address[0] rewritten to address[i];
 *   - every upstream's local port is pinned (no derived ports that might be taken);
 *   - `sites` are fake external domains: each gets an address, answered by a harness DNS server
 *     (started here) that the mesh names in `dns.resolvers`; all sites listen on the same
 *     `egress.tlsPort` / `egress.httpPort`;
 *   - the gateways have their own addresses.
 * Only 127.0.0.0/8 is used. cleanup() stops the DNS server and removes the directory.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Mesh } from '../../src/model/mesh.js';
import { build } from '../../src/pipeline/build.js';
import { freePort, loopbackAddress, startDns, tempDir, type DnsServer } from '../harness/index.js';

export interface TestService {
  protocol?: 'http' | 'http2' | 'grpc' | 'tcp';
  allowFrom?: string[];
  upstreams?: string[];
  egress?: string[];
  loadBalancing?: Record<string, unknown>;
  retries?: Record<string, unknown>;
  timeouts?: Record<string, unknown>;
  outlierDetection?: Record<string, unknown>;
  connectionLimits?: Record<string, unknown>;
  health?: { path: string };
  /** Sidecar instances (endpoints). Default 1. */
  replicas?: number;
  /** Endpoint weights, one per replica. */
  weights?: number[];
  /**
   * One DNS name for every replica (`<service>.svc.it.test`, answered by the test DNS with all the
   * replicas' addresses) instead of one IP endpoint each: what a headless Service looks like.
   */
  dnsEndpoint?: boolean;
}

export interface TestMeshSpec {
  /** Targets to build (the driver's own: other targets may refuse features this proxy has). */
  targets: string[];
  services: Record<string, TestService>;
  /** Mesh-wide egress allow-list. */
  egressAllow?: string[];
  /** Sidecars send egress through the egress gateway (`egress.viaGateway`). */
  egressViaGateway?: boolean;
  /** Fake external domains the test DNS answers (each with its own loopback address). */
  sites?: string[];
  /** `spec.telemetry` as written. */
  telemetry?: Record<string, unknown>;
  ingress?: {
    trustForwardedProto?: boolean;
    hosts: Record<string, { redirectHttp?: boolean; routes: { pathPrefix: string; service: string }[] }>;
  };
}

export interface ServiceInfo {
  /** One per replica; [0] is the address written in the config. */
  addresses: string[];
  /** The application's port (start a backend on address:appPort). */
  appPort: number;
  inboundPort: number;
  probePort: number;
  adminPort: number;
  egressHttpPort: number;
  egressTlsPort: number;
  /** Local outbound port per upstream, on addresses[i]. */
  localPorts: Record<string, number>;
}

export interface TestMesh {
  dir: string;
  file: string;
  out: string;
  state: string;
  written: unknown;
  /** The normalized mesh of the last build. */
  model: Mesh;
  services: Record<string, ServiceInfo>;
  ingress: { address: string; httpPort: number; httpsPort: number };
  egressGateway: { address: string; httpPort: number; tlsPort: number };
  /** Ports of the fake external sites. */
  egress: { tlsPort: number; httpPort: number };
  /** Fake external domain → its loopback address. */
  sites: Record<string, string>;
  /** Port of every workload's metrics listener, on the workload's own address. */
  metricsPort: number;
  dns: DnsServer;
  /** PEM material as written to out/ (read fresh on each call). */
  pem: {
    bundle(): Promise<string>;
    workload(name: string): Promise<{ cert: string; key: string }>;
    ingress(host: string): Promise<{ cert: string; key: string }>;
  };
  /** Runs build() again (after editing the written mesh, or to pick up rotated certificates). */
  rebuild(): Promise<void>;
  cleanup(): Promise<void>;
}

/** The mesh a build compiled; undefined for a build that found nothing changed (and wrote nothing). */
async function buildOrThrow(file: string, out: string, state: string, targets: string[]): Promise<Mesh | undefined> {
  const res = await build({ file, out, state, targets });
  if (res.ok && res.cached) return undefined;
  if (!res.ok || !res.mesh) {
    const lines = res.diagnostics.map((d) => `${d.line}:${d.col} ${d.severity} ${d.code} ${d.message}`);
    throw new Error(`meshc build failed:\n${lines.join('\n')}`);
  }
  return res.mesh;
}

export async function buildTestMesh(spec: TestMeshSpec): Promise<TestMesh> {
  const dir = await tempDir('it-mesh');
  const dns = await startDns({ host: loopbackAddress(), records: {} });
  try {
    const sites: Record<string, string> = {};
    for (const name of spec.sites ?? []) {
      sites[name] = loopbackAddress();
      dns.setRecord(name, sites[name]);
    }
    // Site ports: free on one random address; every site address is fresh, so they are free there too.
    const siteProbe = loopbackAddress();
    const egressPorts = { tlsPort: await freePort(siteProbe), httpPort: await freePort(siteProbe) };

    const services: Record<string, ServiceInfo> = {};
    const writtenServices: Record<string, unknown> = {};
    for (const [name, s] of Object.entries(spec.services)) {
      const addresses = Array.from({ length: s.replicas ?? 1 }, () => loopbackAddress());
      const a = addresses[0];
      const ups = s.upstreams ?? [];
      const [appPort, inboundPort, probePort, adminPort, egressHttpPort, egressTlsPort, ...upPorts] = await distinctPorts(a, 6 + ups.length);
      const localPorts: Record<string, number> = Object.fromEntries(ups.map((up, i) => [up, upPorts[i]]));
      services[name] = { addresses, appPort, inboundPort, probePort, adminPort, egressHttpPort, egressTlsPort, localPorts };
      if (s.dnsEndpoint) dns.setRecord(`${name}.svc.it.test`, addresses);
      writtenServices[name] = dropUndefined({
        port: appPort,
        protocol: s.protocol,
        allowFrom: s.allowFrom,
        upstreams: s.upstreams?.map((service) => ({ service, localPort: localPorts[service] })),
        egress: s.egress,
        endpoints: s.dnsEndpoint
          ? [`${name}.svc.it.test:${inboundPort}`]
          : addresses.map((addr, i) => (s.weights ? { address: `${addr}:${inboundPort}`, weight: s.weights[i] } : `${addr}:${inboundPort}`)),
        replicas: s.dnsEndpoint ? addresses.length : undefined,
        loadBalancing: s.loadBalancing,
        retries: s.retries,
        timeouts: s.timeouts,
        outlierDetection: s.outlierDetection,
        connectionLimits: s.connectionLimits,
        health: s.health,
        sidecar: { bindAddress: a, localAddress: a, appAddress: a, inboundPort, probePort, adminPort, egressHttpPort, egressTlsPort },
      });
    }

    const ingAddr = loopbackAddress();
    const [ingHttp, ingHttps, ingAdmin] = await distinctPorts(ingAddr, 3);
    const egwAddr = loopbackAddress();
    const [egwHttp, egwTls, egwAdmin] = await distinctPorts(egwAddr, 3);

    const written = {
      apiVersion: 'meshc.dev/v1',
      kind: 'Mesh',
      metadata: { name: 'it' },
      spec: dropUndefined({
        trustDomain: 'it.test',
        namespace: 'it',
        dns: { resolvers: [`${dns.host}:${dns.port}`], ipFamily: 'v4' },
        services: writtenServices,
        egress: dropUndefined({
          allow: spec.egressAllow ?? [],
          tlsPort: egressPorts.tlsPort,
          httpPort: egressPorts.httpPort,
          viaGateway: spec.egressViaGateway,
          gateway: { bindAddress: egwAddr, address: egwAddr, httpPort: egwHttp, tlsPort: egwTls, adminPort: egwAdmin },
        }),
        ingress: spec.ingress
          ? dropUndefined({ bindAddress: ingAddr, httpPort: ingHttp, httpsPort: ingHttps, adminPort: ingAdmin, trustForwardedProto: spec.ingress.trustForwardedProto, hosts: spec.ingress.hosts })
          : { bindAddress: ingAddr, httpPort: ingHttp, httpsPort: ingHttps, adminPort: ingAdmin },
        telemetry: spec.telemetry,
      }),
    };
    const file = path.join(dir.path, 'mesh.yaml');
    const out = path.join(dir.path, 'out');
    const state = path.join(dir.path, '.meshc');
    await writeFile(file, stringify(written));
    const model = (await buildOrThrow(file, out, state, spec.targets))!;

    const read = (p: string) => readFile(path.join(out, p), 'utf8');
    const hostFile = (h: string) => h.replace(/^\*\./, '_wildcard.');
    const result: TestMesh = {
      dir: dir.path,
      file,
      out,
      state,
      written,
      model,
      services,
      ingress: { address: ingAddr, httpPort: ingHttp, httpsPort: ingHttps },
      egressGateway: { address: egwAddr, httpPort: egwHttp, tlsPort: egwTls },
      egress: egressPorts,
      sites,
      metricsPort: model.telemetry.metrics.port,
      dns,
      pem: {
        bundle: () => read('certs/ca-bundle.pem'),
        workload: async (name) => ({ cert: await read(`certs/${name}.pem`), key: await read(`secrets/${name}.key`) }),
        ingress: async (host) => ({ cert: await read(`certs/ingress/${hostFile(host)}.pem`), key: await read(`secrets/ingress/${hostFile(host)}.key`) }),
      },
      rebuild: async () => {
        await writeFile(file, stringify(written));
        result.model = (await buildOrThrow(file, out, state, spec.targets)) ?? result.model;
      },
      cleanup: async () => {
        await dns.close();
        await dir.cleanup();
      },
    };
    return result;
  } catch (err) {
    await dns.close();
    await dir.cleanup();
    throw err;
  }
}

async function distinctPorts(host: string, n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort(host));
  return [...ports];
}

function dropUndefined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
