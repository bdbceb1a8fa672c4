/**
 * `meshc graph`: who may call whom, upstreams, egress domains and ingress routes, as Mermaid, DOT,
 * JSON or a self-contained HTML page. `renderGraph` is deterministic: the same mesh gives the same bytes.
 */
import type { Mesh } from '../model/mesh.js';
import { toHtml } from './html.js';
import { meshGraph } from './model.js';
import { formatEdgeMetrics, withMetrics, type EdgeMetrics } from './metrics.js';
import { toDot, toJsonGraph, toMermaid } from './text.js';

export { callDepths, meshGraph, type Graph, type GraphEdge, type GraphNode } from './model.js';
export { layout, type Layout } from './layout.js';
export { fetchEdgeMetrics, type EdgeMetrics, type MetricsSource } from './metrics.js';

export const GRAPH_FORMATS = ['mermaid', 'dot', 'json', 'html'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/**
 * Every format but html is computed synchronously; html waits for the layout engine. `metrics`
 * (from fetchEdgeMetrics): json carries each edge's numbers, the other formats write them in the
 * edge labels, and html also colours each edge by its health.
 */
export async function renderGraph(mesh: Mesh, format: GraphFormat, opts: { metrics?: Map<string, Omit<EdgeMetrics, 'health'>> } = {}): Promise<string> {
  let g = meshGraph(mesh);
  if (opts.metrics) {
    g = withMetrics(g, opts.metrics);
    if (format !== 'json') g = { ...g, edges: g.edges.map((e) => (e.metrics ? { ...e, label: [e.label, formatEdgeMetrics(e.metrics)].filter(Boolean).join(' · ') } : e)) };
  }
  switch (format) {
    case 'mermaid':
      return toMermaid(g);
    case 'dot':
      return toDot(g);
    case 'json':
      return toJsonGraph(g);
    case 'html':
      return toHtml(g);
  }
}
