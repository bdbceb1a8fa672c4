/**
 * The Istio `Telemetry` of the mesh (spec.telemetry), one resource named `meshc` for the namespace:
 * metrics through Istio's Prometheus provider (served on the Envoy's `:15090/stats/prometheus`),
 * access logs through Istio's built-in `envoy` provider (the container's standard output), and,
 * with `telemetry.tracing`, spans through an OpenTelemetry provider the mesh config must define
 * (docs/observability.md). Istio's series, labels and log format are its own, not meshc's; the
 * capability matrix says so.
 */
import type { Mesh } from '../../model/mesh.js';
import { commonLabels } from '../k8s/names.js';

type Obj = Record<string, unknown>;

export const TELEMETRY_FILE = 'telemetry.yaml';

/** Name of the extension provider `telemetry.tracing` asks Istio's mesh config for. */
export const TRACING_PROVIDER = 'meshc-otel';

/** One namespace-wide Telemetry (no selector), or none when metrics, access logs and tracing are all off. */
export function telemetryObjects(mesh: Mesh): Obj[] {
  const t = mesh.telemetry;
  const spec: Obj = {};
  if (t.metrics.enabled) spec.metrics = [{ providers: [{ name: 'prometheus' }] }];
  if (t.accessLog.enabled) spec.accessLogging = [{ providers: [{ name: 'envoy' }] }];
  if (t.tracing) spec.tracing = [{ providers: [{ name: TRACING_PROVIDER }], randomSamplingPercentage: t.tracing.samplingPercent }];
  if (Object.keys(spec).length === 0) return [];
  return [
    {
      apiVersion: 'telemetry.istio.io/v1',
      kind: 'Telemetry',
      metadata: { name: 'meshc', namespace: mesh.namespace, labels: commonLabels(mesh) },
      spec,
    },
  ];
}
