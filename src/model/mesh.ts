/**
 * The normalized mesh: what every target consumes. Defaults are filled in, references resolved,
 * lists sorted (plain code-unit order), durations in milliseconds. Built by `normalize` from a
 * `WrittenMesh` that passed the schema; see docs/reference.md for every default.
 */
import type { GatewayKubernetes, ServiceKubernetes } from './kubernetes.js';
import type { Telemetry } from './telemetry.js';

export type KeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';
export type Protocol = 'http' | 'http2' | 'grpc' | 'tcp';
export type LbPolicy = 'round_robin' | 'least_request' | 'random' | 'ring_hash' | 'maglev';

export interface HostPort {
  host: string;
  port: number;
}

export interface Pki {
  keyAlgorithm: KeyAlgorithm;
  caValidityDays: number;
  leafValidityDays: number;
  renewBeforeDays: number;
}

export interface Dns {
  /** Empty: the system resolver. */
  resolvers: HostPort[];
  ipFamily: 'v4' | 'auto';
}

/** Where a sidecar listens and where its application is. */
export interface SidecarPorts {
  bindAddress: string;
  localAddress: string;
  appAddress: string;
  inboundPort: number;
  probePort: number;
  adminPort: number;
  egressHttpPort: number;
  egressTlsPort: number;
}

export interface Endpoint extends HostPort {
  weight: number;
  /** True when `host` is an IPv4 literal (static endpoint), false when it must be resolved by DNS. */
  isIp: boolean;
}

export interface Upstream {
  service: string;
  /** Port on the caller's `localAddress` where the application reaches this upstream. */
  localPort: number;
  /** True when derived from the name rather than written. */
  derivedPort: boolean;
}

export type HashKey =
  | { kind: 'header'; name: string }
  | { kind: 'cookie'; name: string; ttlSeconds?: number; path: string }
  | { kind: 'sourceIp' };

export interface LoadBalancing {
  policy: LbPolicy;
  /** least_request only: power-of-N choices (default 2). */
  choiceCount: number;
  /** ring_hash and maglev only. */
  hashOn?: HashKey;
}

export interface Retries {
  attempts: number;
  perTryTimeoutMs?: number;
  retryOn: ('5xx' | 'gateway-error' | 'connect-failure' | 'reset' | 'retriable-4xx')[];
}

export interface Timeouts {
  connectMs: number;
  requestMs?: number;
  idleMs?: number;
}

export interface OutlierDetection {
  consecutive5xx: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
}

export interface ConnectionLimits {
  maxConnections?: number;
  maxPendingRequests?: number;
  maxRequests?: number;
}

/** A workload identity: a service or a gateway. */
export interface Identity {
  /** Service name, or `ingress-gateway` / `egress-gateway`. */
  name: string;
  /** `spiffe://<trustDomain>/ns/<namespace>/sa/<name>` */
  spiffeId: string;
  /** `<name>`, `<name>.<ns>`, `<name>.<ns>.svc`, `<name>.<ns>.svc.cluster.local` */
  dnsNames: string[];
}

export interface Service extends Identity {
  port: number;
  protocol: Protocol;
  image: string;
  replicas: number;
  /** Where this service's sidecars listen, sorted. */
  endpoints: Endpoint[];
  upstreams: Upstream[];
  /** Services named in `allowFrom`, sorted. */
  allowFrom: string[];
  /** Identities allowed to call: `allowFrom` plus `ingress-gateway` when an ingress route targets this service. */
  callers: string[];
  /** Domains this service itself lists. */
  ownEgress: string[];
  /** Effective allow-list: own plus mesh-wide, deduplicated, sorted. */
  egress: string[];
  loadBalancing: LoadBalancing;
  retries: Retries;
  timeouts: Timeouts;
  outlierDetection?: OutlierDetection;
  connectionLimits?: ConnectionLimits;
  healthPath: string;
  sidecar: SidecarPorts;
  /** Its pods in the k8s/ and istio/ trees. */
  kubernetes: ServiceKubernetes;
}

export type IngressTls = { kind: 'generated' } | { kind: 'files'; certFile: string; keyFile: string };

export interface IngressRoute {
  pathPrefix: string;
  service: string;
  timeoutMs?: number;
}

export interface IngressHost {
  host: string;
  tls: IngressTls;
  redirectHttp: boolean;
  /** Longest prefix first, then code-unit order. */
  routes: IngressRoute[];
}

export interface IngressGateway extends Identity {
  httpPort: number;
  httpsPort: number;
  bindAddress: string;
  adminPort: number;
  trustForwardedProto: boolean;
  /** Sorted by host. */
  hosts: IngressHost[];
  kubernetes: GatewayKubernetes;
}

export interface EgressGateway extends Identity {
  bindAddress: string;
  /** Where sidecars reach the gateway when egress goes through it. */
  address: string;
  httpPort: number;
  tlsPort: number;
  adminPort: number;
  /** Union of the mesh-wide list and every service's own list, sorted. */
  allow: string[];
  kubernetes: GatewayKubernetes;
}

/** Prometheus metrics of every sidecar and gateway (`spec.telemetry.metrics`). */
export interface Metrics {
  enabled: boolean;
  /** Port of the metrics listener on each workload's bind address (default 15090). */
  port: number;
  /** Path metrics are served at: always `/metrics`. */
  path: string;
  /** Kubernetes target: also write a PodMonitor. */
  podMonitor: boolean;
}

export interface Mesh {
  name: string;
  trustDomain: string;
  namespace: string;
  pki: Pki;
  dns: Dns;
  /** Sorted by name. */
  services: Service[];
  egress: {
    /** Mesh-wide allow-list. */
    allow: string[];
    tlsPort: number;
    httpPort: number;
    /** Sidecars send egress to the egress gateway rather than to the destination. */
    viaGateway: boolean;
  };
  ingress: IngressGateway;
  egressGateway: EgressGateway;
  /** `spec.nginx` as written: where nginx loads its stream module from (`builtin`: compiled in). */
  nginx?: { streamModule?: string };
  telemetry: Telemetry;
}

export const INGRESS_GATEWAY = 'ingress-gateway';
export const EGRESS_GATEWAY = 'egress-gateway';
export const RESERVED_NAMES: readonly string[] = [INGRESS_GATEWAY, EGRESS_GATEWAY];

interface MeshIndex {
  identities: Identity[];
  identityByName: Map<string, Identity>;
  serviceByName: Map<string, Service>;
}
// Targets look services up by name once per edge; an index per mesh keeps that O(1).
const indexes = new WeakMap<Mesh, MeshIndex>();
function indexOf(mesh: Mesh): MeshIndex {
  let ix = indexes.get(mesh);
  if (!ix) {
    const all = [...mesh.services, mesh.ingress, mesh.egressGateway].sort((a, b) => cmp(a.name, b.name));
    ix = { identities: all, identityByName: new Map(all.map((i) => [i.name, i])), serviceByName: new Map(mesh.services.map((s) => [s.name, s])) };
    indexes.set(mesh, ix);
  }
  return ix;
}

/** Services and gateways: every identity that gets a certificate, sorted by name. */
export function identities(mesh: Mesh): Identity[] {
  return [...indexOf(mesh).identities];
}

export function identityByName(mesh: Mesh, name: string): Identity | undefined {
  return indexOf(mesh).identityByName.get(name);
}

/** Plain code-unit comparison: never a locale collator (output must not depend on the machine). */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function serviceByName(mesh: Mesh, name: string): Service | undefined {
  return indexOf(mesh).serviceByName.get(name);
}
