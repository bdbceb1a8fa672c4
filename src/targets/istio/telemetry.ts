/**
 * The Istio `Telemetry` of the mesh (spec.telemetry): metrics from every sidecar and gateway
 * through Istio's Prometheus provider, served on the Envoy's `:15090/stats/prometheus` as Istio
 * does. Istio's series and labels are its own (`istio_requests_total`, `source_workload`,
 * `destination_service_name`), not meshc's; the capability matrix says so.
 */
import type { Mesh } from '../../model/mesh.js';
import { commonLabels } from '../k8s/names.js';

type Obj = Record<string, unknown>;

export const TELEMETRY_FILE = 'telemetry.yaml';

/** One namespace-wide Telemetry (no selector), or none when metrics are off. */
export function telemetryObjects(mesh: Mesh): Obj[] {
  if (!mesh.telemetry.metrics.enabled) return [];
  return [
    {
      apiVersion: 'telemetry.istio.io/v1',
      kind: 'Telemetry',
      metadata: { name: 'meshc', namespace: mesh.namespace, labels: commonLabels(mesh) },
      spec: { metrics: [{ providers: [{ name: 'prometheus' }] }] },
    },
  ];
}
