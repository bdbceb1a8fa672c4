/**
 * `meshc graph --metrics <prometheus URL>`: each edge's request rate, error ratio and latency,
 * read from a Prometheus that scrapes the mesh, with the queries of src/metrics/queries.ts (the
 * series the chosen proxy emits). Calls and ingress routes are edges `workload → destination` on
 * the caller's side; egress edges are a service's allowed connections to a domain.
 */
import { UserError } from '../errors.js';
import { proxyQueries, type MetricsProxy } from '../metrics/queries.js';
import { INGRESS_GATEWAY } from '../model/mesh.js';
import type { Graph, GraphEdge } from './model.js';

export interface EdgeMetrics {
  /** Requests (or egress connections) per second over the window. */
  rate: number;
  /** Share of requests answered 5xx; absent where the proxy cannot tell (egress). */
  errorRatio?: number;
  /** 99th percentile response time in seconds (Envoy). */
  p99Seconds?: number;
  /** Average response time in seconds (HAProxy, which has no histogram). */
  averageSeconds?: number;
  /** `ok` (under 1% errors), `degraded` (under 5%), `failing`, or `idle` (no traffic). */
  health: 'ok' | 'degraded' | 'failing' | 'idle';
}

export interface MetricsSource {
  url: string;
  proxy: MetricsProxy;
  /** PromQL range of the rates, e.g. `5m`. */
  window: string;
}

type Sample = { labels: Record<string, string>; value: number };

async function query(url: string, expr: string): Promise<Sample[]> {
  const endpoint = `${url.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(expr)}`;
  let res: Response;
  try {
    res = await fetch(endpoint, { signal: AbortSignal.timeout(15_000) });
  } catch (e) {
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
    throw new UserError(`cannot reach Prometheus at ${url}: ${(e as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}`, 2);
  }
  const body = (await res.json().catch(() => undefined)) as { status?: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } } | undefined;
  if (!res.ok || body?.status !== 'success' || !body.data) throw new UserError(`Prometheus at ${url} refused a query (${body?.error ?? `HTTP ${res.status}`}): ${expr}`, 2);
  return body.data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
}

const key = (workload: string, destination: string) => `${workload}\u0000${destination}`;

function byEdge(rows: Sample[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rows) {
    const k = key(r.labels.workload ?? '', r.labels.destination ?? '');
    if (Number.isFinite(r.value)) out.set(k, (out.get(k) ?? 0) + r.value);
  }
  return out;
}

/** Every edge's numbers, keyed `workload\0destination`. */
export async function fetchEdgeMetrics(mesh: string, source: MetricsSource): Promise<Map<string, Omit<EdgeMetrics, 'health'>>> {
  const q = proxyQueries(source.proxy, mesh, source.window);
  if (!q.requestRate) throw new UserError(`the ${source.proxy} target emits no per-edge request metrics (see the capability matrix): choose --proxy envoy or haproxy`, 2);
  const rate = (e: string) => `sum by (workload, destination) (${e})`;
  const [requests, errors, p99, average, egress] = await Promise.all([
    query(source.url, rate(q.requestRate.expr)),
    q.errorRatio ? query(source.url, q.errorRatio.expr) : Promise.resolve([]),
    q.latencyP99 ? query(source.url, q.latencyP99.expr) : Promise.resolve([]),
    q.latencyAverage ? query(source.url, q.latencyAverage.expr) : Promise.resolve([]),
    q.egressAllowed?.by.includes('destination') ? query(source.url, q.egressAllowed.expr) : Promise.resolve([]),
  ]);
  const out = new Map<string, Omit<EdgeMetrics, 'health'>>();
  const errorBy = byEdge(errors);
  const p99By = byEdge(p99);
  const avgBy = byEdge(average);
  for (const [k, r] of [...byEdge(requests), ...byEdge(egress)]) {
    out.set(k, {
      rate: r,
      ...(errorBy.has(k) ? { errorRatio: errorBy.get(k)! } : {}),
      ...(p99By.has(k) ? { p99Seconds: p99By.get(k)! } : {}),
      ...(avgBy.has(k) ? { averageSeconds: avgBy.get(k)! } : {}),
    });
  }
  return out;
}

export function health(m: Omit<EdgeMetrics, 'health'> | undefined): EdgeMetrics['health'] {
  if (!m || m.rate === 0) return 'idle';
  const e = m.errorRatio ?? 0;
  return e < 0.01 ? 'ok' : e < 0.05 ? 'degraded' : 'failing';
}

/** The graph with each call, route and egress edge carrying its numbers (every one, idle included). */
export function withMetrics(graph: Graph, metrics: Map<string, Omit<EdgeMetrics, 'health'>>): Graph {
  const name = (id: string) => id.slice(id.indexOf(':') + 1);
  const edges = graph.edges.map((e): GraphEdge => {
    let k: string | undefined;
    if (e.kind === 'call' && e.from.startsWith('service:')) k = key(name(e.from), name(e.to));
    else if (e.kind === 'route') k = key(INGRESS_GATEWAY, name(e.to));
    else if (e.kind === 'egress' && e.from.startsWith('service:')) k = key(name(e.from), name(e.to));
    if (k === undefined) return e;
    const m = metrics.get(k);
    return { ...e, metrics: { ...(m ?? { rate: 0 }), health: health(m) } };
  });
  return { ...graph, edges };
}

/** `12.3 rps · 22% 5xx · p99 8 ms`: an edge's numbers in a few characters. */
export function formatEdgeMetrics(m: EdgeMetrics): string {
  const parts = [`${round(m.rate)} rps`];
  if (m.errorRatio !== undefined) parts.push(`${round(m.errorRatio * 100)}% 5xx`);
  if (m.p99Seconds !== undefined && Number.isFinite(m.p99Seconds)) parts.push(`p99 ${round(m.p99Seconds * 1000)} ms`);
  else if (m.averageSeconds !== undefined) parts.push(`avg ${round(m.averageSeconds * 1000)} ms`);
  return parts.join(' · ');
}

function round(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}
