/**
 * A Grafana dashboard (JSON model, importable as is) for one mesh and one proxy target: a panel
 * per query of the catalog (queries.ts), so it asks only for series that proxy emits. The
 * Prometheus data source is a dashboard variable, chosen on import.
 */
import { createHash } from 'node:crypto';
import type { Mesh } from '../model/mesh.js';
import { GENERATED_HEADER, type OutputFile } from '../targets/target.js';
import { toJson } from '../output/yaml.js';
import { dashboardQueries, proxyQueries, type MetricsProxy, type Query } from './queries.js';

/** Where a proxy target writes its dashboard. */
export function dashboardPath(proxy: MetricsProxy): string {
  return `grafana/${proxy}.json`;
}

const LABELS: Record<MetricsProxy, string> = { envoy: 'Envoy', haproxy: 'HAProxy', nginx: 'nginx' };

/** The dashboard file, or nothing when metrics are off. */
export function* emitDashboard(mesh: Mesh, proxy: MetricsProxy): Iterable<OutputFile> {
  if (!mesh.telemetry.metrics.enabled) return;
  yield { path: dashboardPath(proxy), content: toJson(grafanaDashboard(mesh, proxy)) };
}

export function grafanaDashboard(mesh: Mesh, proxy: MetricsProxy): Record<string, unknown> {
  const queries = dashboardQueries(proxyQueries(proxy, mesh.name, '$__rate_interval'));
  const datasource = { type: 'prometheus', uid: '${datasource}' };
  return {
    // Grafana's uid is at most 40 characters: a digest keeps it unique per mesh and proxy.
    uid: `meshc-${createHash('sha256').update(`${mesh.name}|${proxy}`).digest('hex').slice(0, 20)}`,
    title: `meshc ${mesh.name} (${LABELS[proxy]})`,
    description: `${GENERATED_HEADER}. Series and labels: docs/observability.md.`,
    tags: ['meshc', proxy],
    editable: true,
    schemaVersion: 39,
    time: { from: 'now-1h', to: 'now' },
    refresh: '30s',
    templating: { list: [{ name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus' }] },
    panels: queries.map((q, i) => panel(q, i, datasource)),
  };
}

function panel(q: Query, i: number, datasource: Record<string, string>): Record<string, unknown> {
  return {
    id: i + 1,
    type: 'timeseries',
    title: q.title,
    datasource,
    gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
    fieldConfig: { defaults: { unit: q.unit }, overrides: [] },
    targets: [{ refId: 'A', datasource, expr: q.expr, legendFormat: legend(q.by) }],
  };
}

/** `{{workload}} → {{destination}} {{code}}` for the labels a query keeps. */
function legend(by: string[]): string {
  const edge = by.includes('destination') ? '{{workload}} → {{destination}}' : '{{workload}}';
  const rest = by.filter((l) => l !== 'workload' && l !== 'destination').map((l) => `{{${l}}}`);
  return [edge, ...rest].join(' ');
}
