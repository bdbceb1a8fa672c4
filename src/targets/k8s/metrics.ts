/**
 * Scraping the mesh's Envoys in Kubernetes (spec.telemetry.metrics): a `metrics` container port,
 * the `prometheus.io/*` pod annotations most Prometheus setups discover pods by, a NetworkPolicy
 * that lets scrapes in on the metrics port, and, when asked for, a Prometheus Operator PodMonitor
 * that labels every series with the mesh and the workload (docs/observability.md).
 */
import type { Mesh } from '../../model/mesh.js';
import { commonLabels, NAME_LABEL } from './names.js';
import { policy, tcp } from './network-policy.js';

type Obj = Record<string, unknown>;

export const METRICS_POLICY = 'meshc.allow-metrics';
export const POD_MONITOR_FILE = 'pod-monitor.yaml';

/** The Envoy container's metrics port, or none. */
export function metricsContainerPorts(mesh: Mesh): { name: string; containerPort: number }[] {
  const m = mesh.telemetry.metrics;
  return m.enabled ? [{ name: 'metrics', containerPort: m.port }] : [];
}

/** Pod annotations for annotation-based discovery (the `kubernetes-pods` job of Prometheus' examples). */
export function scrapeAnnotations(mesh: Mesh): Record<string, string> {
  const m = mesh.telemetry.metrics;
  return m.enabled ? { 'prometheus.io/path': m.path, 'prometheus.io/port': String(m.port), 'prometheus.io/scrape': 'true' } : {};
}

/** Ingress from anywhere to the metrics port of every mesh pod: Prometheus may run in any namespace, and the port serves only `/metrics`. */
export function metricsPolicy(mesh: Mesh): Obj[] {
  const m = mesh.telemetry.metrics;
  if (!m.enabled) return [];
  return [policy(mesh, METRICS_POLICY, { matchLabels: commonLabels(mesh) }, { policyTypes: ['Ingress'], ingress: [{ ports: [tcp(m.port)] }] })];
}

/** The PodMonitor of `podMonitor: true`: every mesh pod's `metrics` port, labelled `mesh` and `workload` as HAProxy's series need and Envoy's already are. */
export function podMonitor(mesh: Mesh): Obj | undefined {
  const m = mesh.telemetry.metrics;
  if (!m.enabled || !m.podMonitor) return undefined;
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: { name: `meshc-${mesh.name}`, namespace: mesh.namespace, labels: commonLabels(mesh) },
    spec: {
      selector: { matchLabels: commonLabels(mesh) },
      podMetricsEndpoints: [
        {
          port: 'metrics',
          path: m.path,
          // Envoy labels its series itself; these only fill what a series lacks.
          honorLabels: true,
          relabelings: [
            { action: 'replace', targetLabel: 'mesh', replacement: mesh.name },
            { action: 'replace', sourceLabels: [`__meta_kubernetes_pod_label_${NAME_LABEL.replace(/[^a-zA-Z0-9_]/g, '_')}`], targetLabel: 'workload' },
          ],
        },
      ],
    },
  };
}
