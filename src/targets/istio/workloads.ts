/**
 * The workloads of the Istio tree, so `istio/` deploys on its own (an alternative to `k8s/`, not
 * an addition: both name their objects after the services). Each service runs its application
 * only; Istio injects the sidecar (namespace label `istio-injection: enabled`, pod label
 * `sidecar.istio.io/inject`), captures its traffic transparently and rewrites its probes, so the
 * application calls its upstreams by their cluster names and listens on every interface.
 */
import type { Mesh, Service } from '../../model/mesh.js';
import { endpointServiceName, extraEndpointServices } from '../k8s/emit.js';
import { appEnvIstio, commonLabels, fqdn, selectorLabels, workloadLabels } from '../k8s/names.js';
import { appSecurityContext, containerResources, SECCOMP_RUNTIME_DEFAULT } from '../k8s/workload.js';
import type { ProxyContainer } from '../../model/kubernetes.js';

type Obj = Record<string, unknown>;

/** Istio's protocol (port name prefix, ServiceEntry protocol) of a service. */
export function istioPort(svc: Service): { protocol: string; name: string } {
  switch (svc.protocol) {
    case 'http':
      return { protocol: 'HTTP', name: 'http-app' };
    case 'http2':
      return { protocol: 'HTTP2', name: 'http2-app' };
    case 'grpc':
      return { protocol: 'GRPC', name: 'grpc-app' };
    case 'tcp':
      return { protocol: 'TCP', name: 'tcp-app' };
  }
}

export function namespaceObject(mesh: Mesh): Obj {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: mesh.namespace, labels: { ...commonLabels(mesh), 'istio-injection': 'enabled' } } };
}

/** True when the service's endpoints are anything but its default DNS name (then a ServiceEntry defines its host). */
export function hasWrittenEndpoints(mesh: Mesh, svc: Service): boolean {
  const [e, ...rest] = svc.endpoints;
  return rest.length > 0 || e.host !== fqdn(mesh, svc.name) || e.port !== svc.sidecar.inboundPort || e.weight !== 1;
}

/**
 * The Services a service's written endpoints name, with their weights, when every endpoint is a
 * name in the namespace that gets a Service of its own (selecting the service's pods): then the
 * service keeps a Service of its own name too, and its VirtualService splits calls over these by
 * weight. Undefined otherwise (addresses or names elsewhere need a ServiceEntry).
 */
export function weightedEndpointServices(mesh: Mesh, svc: Service): { name: string; weight: number }[] | undefined {
  if (!hasWrittenEndpoints(mesh, svc)) return undefined;
  const extra = extraEndpointServices(mesh, svc);
  const names = svc.endpoints.map((e) => endpointServiceName(mesh, e.host));
  if (names.some((n) => n === undefined || !extra.has(n))) return undefined;
  const weights = new Map<string, number>();
  svc.endpoints.forEach((e, i) => weights.set(names[i]!, (weights.get(names[i]!) ?? 0) + e.weight));
  return [...weights].map(([name, weight]) => ({ name, weight }));
}

/** Integer percentages summing to 100 (largest remainder), as Istio's route weights must. */
export function percentages(weights: number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (w * 100) / total);
  const out = exact.map(Math.floor);
  let left = 100 - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left === 0) break;
    out[i]++;
    left--;
  }
  return out;
}

export function serviceWorkload(mesh: Mesh, svc: Service): Obj[] {
  const labels = workloadLabels(mesh, svc.name);
  const port = istioPort(svc);
  const probe = svc.protocol === 'tcp' ? { tcpSocket: { port: svc.port } } : { httpGet: { path: svc.healthPath, port: svc.port, scheme: 'HTTP' } };
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: svc.name, namespace: mesh.namespace, labels },
    spec: {
      replicas: svc.replicas,
      selector: { matchLabels: selectorLabels(svc.name) },
      template: {
        // Not `{ ...labels, more }`: V8 gives each such object a map of its own (see normalize.ts).
        metadata: { labels: Object.assign({}, labels, { 'sidecar.istio.io/inject': 'true' }), annotations: istioProxyAnnotations(svc.kubernetes.proxy) },
        spec: {
          serviceAccountName: svc.name,
          // The injected proxy gets its identity token from its own projected volume.
          automountServiceAccountToken: false,
          securityContext: { seccompProfile: SECCOMP_RUNTIME_DEFAULT },
          containers: [
            {
              name: svc.name,
              image: svc.image,
              env: appEnvIstio(mesh, svc),
              ports: [{ name: port.name, containerPort: svc.port, protocol: 'TCP' }],
              // Istio rewrites these to its agent, so they work under STRICT mTLS.
              readinessProbe: { periodSeconds: 5, failureThreshold: 3, ...probe },
              livenessProbe: { initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3, ...probe },
              resources: containerResources(svc.kubernetes.resources),
              securityContext: appSecurityContext(svc.kubernetes.securityContext),
            },
          ],
        },
      },
    },
  };
  const service = (name: string) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: mesh.namespace, labels },
    spec: { selector: selectorLabels(svc.name), ports: [{ name: port.name, port: svc.port, targetPort: svc.port, protocol: 'TCP' }] },
  });
  const services: Obj[] = [];
  // A Service of the service's own name, so callers resolve it through cluster DNS (no Istio DNS
  // proxying), unless a ServiceEntry defines the host (endpoints outside the namespace's Services).
  if (!hasWrittenEndpoints(mesh, svc) || weightedEndpointServices(mesh, svc) !== undefined) services.push(service(svc.name));
  // The names the endpoints list that are in this namespace get a Service selecting the same pods.
  if (hasWrittenEndpoints(mesh, svc)) services.push(...[...extraEndpointServices(mesh, svc).keys()].map(service));
  return [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: svc.name, namespace: mesh.namespace, labels }, automountServiceAccountToken: false }, deployment, ...services];
}

/**
 * The injected sidecar's resources and worker count, as Istio's injector reads them from the pod's
 * annotations (https://istio.io/latest/docs/reference/config/annotations/).
 */
export function istioProxyAnnotations(proxy: ProxyContainer): Record<string, string> {
  const r = proxy.resources;
  const out: Record<string, string> = {};
  if (r.requests.cpu !== undefined) out['sidecar.istio.io/proxyCPU'] = r.requests.cpu;
  if (r.limits.cpu !== undefined) out['sidecar.istio.io/proxyCPULimit'] = r.limits.cpu;
  if (r.requests.memory !== undefined) out['sidecar.istio.io/proxyMemory'] = r.requests.memory;
  if (r.limits.memory !== undefined) out['sidecar.istio.io/proxyMemoryLimit'] = r.limits.memory;
  out['proxy.istio.io/config'] = JSON.stringify({ concurrency: proxy.concurrency });
  return out;
}
