/**
 * The Grafana target: a dashboard (JSON model) per proxy the mesh can run on,
 * `grafana/<proxy>.json`, whose panels query exactly the series that proxy's metrics listener
 * serves (src/metrics/queries.ts). Nothing when `telemetry.metrics.enabled` is false.
 */
import { emitDashboard } from '../../metrics/dashboard.js';
import type { Target } from '../target.js';

export const grafanaTarget: Target = {
  name: 'grafana',
  description: 'Grafana dashboards of the mesh, one per proxy (grafana/<proxy>.json)',
  readme: {
    what: 'Grafana dashboards (JSON model), one per proxy: requests, errors and latency per edge, refusals, egress',
    use: 'Grafana: Dashboards → Import → upload `grafana/<proxy>.json`, then choose the Prometheus that scrapes the mesh',
  },
  check: () => [],
  *emit(mesh) {
    for (const proxy of ['envoy', 'haproxy', 'nginx'] as const) yield* emitDashboard(mesh, proxy);
  },
};
