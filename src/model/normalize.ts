import type { WrittenMesh } from '../schema/written-mesh.js';
import {
  cmp,
  EGRESS_GATEWAY,
  INGRESS_GATEWAY,
  type Endpoint,
  type HashKey,
  type HostPort,
  type Identity,
  type IngressHost,
  type Mesh,
  type OutlierDetection,
  type Service,
  type SidecarPorts,
  type Upstream,
} from './mesh.js';
import { gatewayKubernetes, serviceKubernetes } from './kubernetes.js';
import { normalizeTelemetry } from './telemetry.js';

/** Defaults, in one place; docs/reference.md and the schema descriptions say the same. */
export const DEFAULTS = {
  pki: { keyAlgorithm: 'ecdsa-p256', caValidityDays: 3650, leafValidityDays: 90, renewBeforeDays: 30 },
  sidecar: {
    bindAddress: '0.0.0.0',
    localAddress: '127.0.0.1',
    appAddress: '127.0.0.1',
    inboundPort: 15443,
    probePort: 15021,
    adminPort: 15000,
    egressHttpPort: 15080,
    egressTlsPort: 15081,
  },
  connectTimeoutMs: 5000,
  healthPath: '/healthz',
  outlier: { consecutive5xx: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 },
  retryOn: ['connect-failure', 'reset', '5xx'] as const,
  egress: { tlsPort: 443, httpPort: 80 },
  ingress: { httpPort: 80, httpsPort: 443, bindAddress: '0.0.0.0', adminPort: 15000 },
  egressGateway: { bindAddress: '0.0.0.0', httpPort: 15080, tlsPort: 15081, adminPort: 15000 },
  metrics: { enabled: true, port: 15090, path: '/metrics', podMonitor: false },
} as const;

/** First port of the range upstream local ports are derived into. */
export const DERIVED_PORT_BASE = 20000;
export const DERIVED_PORT_RANGE = 10000;

/**
 * The home port of an upstream when the mesh does not pin one: a hash of the upstream's name
 * (FNV-1a), the same in every sidecar. assignDerivedPorts moves it only within one caller, and only
 * when that caller already uses the port.
 */
export function derivedLocalPort(service: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < service.length; i++) {
    h ^= service.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return DERIVED_PORT_BASE + (h % DERIVED_PORT_RANGE);
}

/**
 * Makes one caller's derived upstream ports unique, in place. Every derived upstream whose home
 * port (derivedLocalPort) is free in this workload keeps it; where several share one, the first by
 * name keeps it; the others, and any whose home is a pinned `localPort` or a port of the workload
 * (`reserved`), take the next port upward that no listener of the workload holds (wrapping within
 * the range). A derived port therefore depends only on the caller's own upstreams and ports:
 * adding or removing services it does not call never moves it, so only a pinned port can clash.
 * `upstreams` must be sorted by name.
 */
export function assignDerivedPorts(upstreams: Upstream[], reserved: readonly number[]): void {
  const taken = new Set<number>(reserved);
  for (const u of upstreams) if (!u.derivedPort) taken.add(u.localPort);
  const moved: Upstream[] = [];
  const homes = new Set<number>();
  for (const u of upstreams) {
    if (!u.derivedPort) continue;
    if (taken.has(u.localPort) || homes.has(u.localPort)) moved.push(u);
    else homes.add(u.localPort);
  }
  for (const h of homes) taken.add(h);
  for (const u of moved) {
    for (let step = 1; step < DERIVED_PORT_RANGE; step++) {
      const p = DERIVED_PORT_BASE + ((u.localPort - DERIVED_PORT_BASE + step) % DERIVED_PORT_RANGE);
      if (!taken.has(p)) {
        u.localPort = p;
        taken.add(p);
        break;
      }
    } // a full range leaves the home port, and the rules report the clash
  }
}

export function durationMs(d: string | undefined): number | undefined {
  if (d === undefined) return undefined;
  const m = /^([0-9]+)(ms|s|m|h)$/.exec(d);
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
}

export function parseHostPort(s: string): HostPort {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

export function isIpv4(host: string): boolean {
  return /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(host);
}

export function identity(name: string, trustDomain: string, namespace: string): Identity {
  return {
    name,
    spiffeId: `spiffe://${trustDomain}/ns/${namespace}/sa/${name}`,
    dnsNames: [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`],
  };
}

const sortUnique = (xs: readonly string[]): string[] => [...new Set(xs)].sort(cmp);

/**
 * WrittenMesh (schema-valid) → Mesh: defaults filled, lists sorted, durations in ms. Never throws
 * on dangling references; the rules report them.
 */
export function normalize(w: WrittenMesh): Mesh {
  const spec = w.spec;
  const ns = spec.namespace;
  const td = spec.trustDomain;
  const meshSidecar = spec.sidecar ?? {};
  const meshAllow = sortUnique(spec.egress?.allow ?? []);
  const routes = Object.entries(spec.ingress?.hosts ?? {}).flatMap(([, h]) => h.routes);
  const routed = new Set(routes.map((r) => r.service));
  const metricsPorts = spec.telemetry?.metrics?.enabled === false ? [] : [spec.telemetry?.metrics?.port ?? DEFAULTS.metrics.port];

  const services: Service[] = Object.entries(spec.services ?? {})
    .sort(([a], [b]) => cmp(a, b))
    .map(([name, s]) => {
      const sidecar: SidecarPorts = { ...DEFAULTS.sidecar, ...dropUndefined(meshSidecar), ...dropUndefined(s.sidecar ?? {}) };
      const endpoints: Endpoint[] = (s.endpoints ?? [`${name}.${ns}.svc.cluster.local:${sidecar.inboundPort}`])
        .map((e) => {
          const { address, weight } = typeof e === 'string' ? { address: e, weight: 1 } : { address: e.address, weight: e.weight ?? 1 };
          const hp = parseHostPort(address);
          return { host: hp.host, port: hp.port, weight, isIp: isIpv4(hp.host) };
        })
        .sort((a, b) => cmp(a.host, b.host) || a.port - b.port);
      const upstreams: Upstream[] = (s.upstreams ?? [])
        .map((u) => (typeof u === 'string' ? { service: u } : u))
        .map((u) => ({ service: u.service, localPort: u.localPort ?? derivedLocalPort(u.service), derivedPort: u.localPort === undefined }))
        .filter((u, i, all) => all.findIndex((x) => x.service === u.service) === i) // a repeat is a diagnostic, not a second listener
        .sort((a, b) => cmp(a.service, b.service));
      assignDerivedPorts(upstreams, [s.port, sidecar.inboundPort, sidecar.probePort, sidecar.adminPort, sidecar.egressHttpPort, sidecar.egressTlsPort, ...metricsPorts]);
      const lb = s.loadBalancing ?? {};
      const allowFrom = sortUnique(s.allowFrom ?? []);
      const ownEgress = sortUnique(s.egress ?? []);
      const od = s.outlierDetection;
      const id = identity(name, td, ns);
      // No leading spread: V8 (Node 20) gives every object made as `{ ...x, more }` a map of its
      // own, and every later read of a service would then be megamorphic (test/unit/shapes.test.ts).
      return {
        name: id.name,
        spiffeId: id.spiffeId,
        dnsNames: id.dnsNames,
        port: s.port,
        protocol: s.protocol ?? 'http',
        image: s.image ?? `${name}:latest`,
        replicas: s.replicas ?? 1,
        endpoints,
        upstreams,
        allowFrom,
        callers: sortUnique([...allowFrom, ...(routed.has(name) ? [INGRESS_GATEWAY] : [])]),
        ownEgress,
        egress: sortUnique([...ownEgress, ...meshAllow]),
        loadBalancing: { policy: lb.policy ?? 'round_robin', choiceCount: lb.choiceCount ?? 2, ...(lb.hashOn ? { hashOn: hashKey(lb.hashOn) } : {}) },
        retries: {
          attempts: s.retries?.attempts ?? 0,
          ...(s.retries?.perTryTimeout ? { perTryTimeoutMs: durationMs(s.retries.perTryTimeout) } : {}),
          retryOn: [...(s.retries?.retryOn ?? DEFAULTS.retryOn)].sort(cmp),
        },
        timeouts: {
          connectMs: durationMs(s.timeouts?.connect) ?? DEFAULTS.connectTimeoutMs,
          ...(s.timeouts?.request ? { requestMs: durationMs(s.timeouts.request) } : {}),
          ...(s.timeouts?.idle ? { idleMs: durationMs(s.timeouts.idle) } : {}),
        },
        ...(od
          ? {
              outlierDetection: markWritten(
                {
                  consecutive5xx: od.consecutive5xx ?? DEFAULTS.outlier.consecutive5xx,
                  intervalMs: durationMs(od.interval) ?? DEFAULTS.outlier.intervalMs,
                  baseEjectionTimeMs: durationMs(od.baseEjectionTime) ?? DEFAULTS.outlier.baseEjectionTimeMs,
                  maxEjectionPercent: od.maxEjectionPercent ?? DEFAULTS.outlier.maxEjectionPercent,
                },
                od.maxEjectionPercent !== undefined,
              ),
            }
          : {}),
        ...(s.connectionLimits ? { connectionLimits: dropUndefined({ ...s.connectionLimits }) } : {}),
        healthPath: s.health?.path ?? DEFAULTS.healthPath,
        sidecar,
        kubernetes: serviceKubernetes(spec, s),
      } satisfies Service;
    });

  const ing = spec.ingress ?? {};
  const hosts: IngressHost[] = Object.entries(ing.hosts ?? {})
    .sort(([a], [b]) => cmp(a, b))
    .map(([host, h]) => ({
      host,
      tls: h.tls === undefined || h.tls === 'generated' ? { kind: 'generated' as const } : { kind: 'files' as const, certFile: h.tls.certFile, keyFile: h.tls.keyFile },
      redirectHttp: h.redirectHttp ?? true,
      routes: h.routes
        .map((r) => ({ pathPrefix: r.pathPrefix, service: r.service, ...(r.timeout ? { timeoutMs: durationMs(r.timeout) } : {}) }))
        .sort((a, b) => b.pathPrefix.length - a.pathPrefix.length || cmp(a.pathPrefix, b.pathPrefix)),
    }));

  const eg = spec.egress?.gateway ?? {};
  return {
    name: w.metadata.name,
    trustDomain: td,
    namespace: ns,
    pki: { ...DEFAULTS.pki, ...dropUndefined(spec.pki ?? {}) } as Mesh['pki'],
    dns: { resolvers: (spec.dns?.resolvers ?? []).map(parseHostPort), ipFamily: spec.dns?.ipFamily ?? 'v4' },
    services,
    egress: {
      allow: meshAllow,
      tlsPort: spec.egress?.tlsPort ?? DEFAULTS.egress.tlsPort,
      httpPort: spec.egress?.httpPort ?? DEFAULTS.egress.httpPort,
      viaGateway: spec.egress?.viaGateway ?? false,
    },
    ingress: {
      ...identity(INGRESS_GATEWAY, td, ns),
      httpPort: ing.httpPort ?? DEFAULTS.ingress.httpPort,
      httpsPort: ing.httpsPort ?? DEFAULTS.ingress.httpsPort,
      bindAddress: ing.bindAddress ?? DEFAULTS.ingress.bindAddress,
      adminPort: ing.adminPort ?? DEFAULTS.ingress.adminPort,
      trustForwardedProto: ing.trustForwardedProto ?? false,
      hosts,
      kubernetes: gatewayKubernetes(spec, 'ingressGateway'),
    },
    egressGateway: {
      ...identity(EGRESS_GATEWAY, td, ns),
      bindAddress: eg.bindAddress ?? DEFAULTS.egressGateway.bindAddress,
      address: eg.address ?? `${EGRESS_GATEWAY}.${ns}.svc.cluster.local`,
      httpPort: eg.httpPort ?? DEFAULTS.egressGateway.httpPort,
      tlsPort: eg.tlsPort ?? DEFAULTS.egressGateway.tlsPort,
      adminPort: eg.adminPort ?? DEFAULTS.egressGateway.adminPort,
      allow: sortUnique([...meshAllow, ...services.flatMap((s) => s.ownEgress)]),
      kubernetes: gatewayKubernetes(spec, 'egressGateway'),
    },
    ...(spec.nginx?.streamModule !== undefined ? { nginx: { streamModule: spec.nginx.streamModule } } : {}),
    telemetry: normalizeTelemetry(spec.telemetry, parseHostPort, {
      enabled: spec.telemetry?.metrics?.enabled ?? DEFAULTS.metrics.enabled,
      port: spec.telemetry?.metrics?.port ?? DEFAULTS.metrics.port,
      path: DEFAULTS.metrics.path,
      podMonitor: spec.telemetry?.metrics?.podMonitor ?? DEFAULTS.metrics.podMonitor,
    }),
  };
}

function hashKey(h: NonNullable<NonNullable<WrittenMesh['spec']['services'][string]['loadBalancing']>['hashOn']>): HashKey {
  if (h.header !== undefined) return { kind: 'header', name: h.header.toLowerCase() };
  if (h.cookie !== undefined) {
    const ttl = durationMs(h.cookie.ttl);
    return { kind: 'cookie', name: h.cookie.name, path: h.cookie.path ?? '/', ...(ttl !== undefined ? { ttlSeconds: Math.ceil(ttl / 1000) } : {}) };
  }
  return { kind: 'sourceIp' };
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * The outlier settings whose maxEjectionPercent mesh.yaml writes, rather than the default filled in:
 * targets without an ejection cap warn only about a cap the user asked for. Kept beside the mesh,
 * not in it, so summary/mesh.json still shows every default as one value. Read by the targets'
 * checks, which run on the mesh normalize returned.
 */
const WRITTEN_EJECTION_CAP = new WeakSet<OutlierDetection>();

function markWritten(od: OutlierDetection, written: boolean): OutlierDetection {
  if (written) WRITTEN_EJECTION_CAP.add(od);
  return od;
}

export function ejectionCapWritten(od: OutlierDetection): boolean {
  return WRITTEN_EJECTION_CAP.has(od);
}
