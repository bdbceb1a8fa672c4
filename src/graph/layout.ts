/**
 * The layout of the HTML view, computed here so the page needs no script and no network. ELK's
 * layered algorithm (elkjs) places the boxes left to right (ingress hosts, services by call
 * depth, egress domains) and routes every edge orthogonally around the boxes it does not connect;
 * the ingress hosts and the egress domains sit in one frame each, their gateway. Text widths are
 * estimated from character counts (no font metrics without a browser); the estimate errs wide.
 * ELK is deterministic for the same input, and the input is in the graph's sorted order.
 */
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import { onFirstUse } from '../lazy.js';
import type { Graph, GraphEdge, GraphNode } from './model.js';

export interface Box {
  node: GraphNode;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface EdgeRoute {
  edge: GraphEdge;
  /** The polyline from the source box's border to the target box's border. */
  points: Point[];
  /** Where ELK put the edge's label (its top-left corner and size), when it has one. */
  label?: { text: string; x: number; y: number; width: number; height: number };
}

export interface Layout {
  boxes: Map<string, Box>;
  edges: EdgeRoute[];
  width: number;
  height: number;
  /** The gateway frames (around the hosts and around the domains). */
  frames: { label: string; kind: 'ingress' | 'egress'; x: number; y: number; width: number; height: number }[];
}

export const FONT = { label: 12, detail: 10.5, edge: 10 };
const CHAR = { label: 7.4, detail: 6.3, edge: 6 };
const PAD_X = 14;
const MARGIN = 32;
const FRAME_TITLE = 22;

function size(n: GraphNode): { width: number; height: number } {
  const text = Math.max(n.label.length * CHAR.label, n.kind === 'service' && n.detail ? n.detail.length * CHAR.detail : 0);
  return { width: Math.ceil(Math.max(96, text + 2 * PAD_X)), height: n.kind === 'service' ? 42 : 28 };
}

/** The text drawn on an edge: a route's path prefix, or `not allowed` on a refused call. */
export function edgeText(e: GraphEdge): string | undefined {
  if (e.kind === 'route') return e.label;
  if (e.kind === 'call' && e.allowed === false) return 'not allowed';
  return undefined;
}

const FRAMES = { ingress: { id: 'frame:ingress', label: 'ingress gateway', group: 'ingress-gateway' }, egress: { id: 'frame:egress', label: 'egress gateway', group: 'egress-gateway' } } as const;

const ROOT_OPTIONS: Record<string, string> = {
  'elk.algorithm': 'layered',
  'elk.direction': 'RIGHT',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.layered.spacing.nodeNodeBetweenLayers': '56',
  'elk.layered.spacing.edgeNodeBetweenLayers': '18',
  'elk.layered.spacing.edgeEdgeBetweenLayers': '10',
  'elk.spacing.nodeNode': '24',
  'elk.spacing.edgeNode': '14',
  'elk.spacing.edgeEdge': '8',
  'elk.spacing.edgeLabel': '4',
  'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
  'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
  'elk.edgeLabels.inline': 'false',
  'elk.padding': `[top=${MARGIN},left=${MARGIN},bottom=${MARGIN},right=${MARGIN}]`,
};

type ElkInstance = { layout(graph: ElkNode): Promise<ElkNode> };
// The bundled build runs ELK in this thread (no worker); it is loaded only when a picture is drawn.
const elkModule = onFirstUse<new () => ElkInstance>('elkjs/lib/elk.bundled.js');

export async function layout(graph: Graph): Promise<Layout> {
  const elkNode = (n: GraphNode): ElkNode => ({ id: n.id, ...size(n) });
  const inFrame = (kind: 'ingress' | 'egress') => graph.nodes.filter((n) => n.group === FRAMES[kind].group);
  const children: ElkNode[] = [];
  for (const kind of ['ingress', 'egress'] as const) {
    const members = inFrame(kind);
    if (members.length)
      children.push({
        id: FRAMES[kind].id,
        layoutOptions: { 'elk.padding': `[top=${FRAME_TITLE + 12},left=14,bottom=14,right=14]`, 'elk.spacing.nodeNode': '14' },
        children: members.map(elkNode),
      });
  }
  for (const n of graph.nodes) if (!n.group) children.push(elkNode(n));
  const edges: ElkExtendedEdge[] = graph.edges.map((e, i) => {
    const text = edgeText(e);
    return {
      id: `e${i}`,
      sources: [e.from],
      targets: [e.to],
      ...(text ? { labels: [{ text, width: Math.ceil(text.length * CHAR.edge + 8), height: 15, layoutOptions: { 'elk.edgeLabels.placement': 'CENTER' } }] } : {}),
    };
  });
  const ELK = elkModule();
  const out = await new ELK().layout({ id: 'root', layoutOptions: ROOT_OPTIONS, children, edges });

  // ELK gives coordinates relative to the parent node; the page wants them absolute.
  const offset = new Map<string, Point>([['root', { x: 0, y: 0 }]]);
  const boxes = new Map<string, Box>();
  const frames: Layout['frames'] = [];
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const visit = (parent: ElkNode, at: Point) => {
    for (const c of parent.children ?? []) {
      const p = { x: at.x + (c.x ?? 0), y: at.y + (c.y ?? 0) };
      offset.set(c.id, p);
      const node = byId.get(c.id);
      if (node) boxes.set(c.id, { node, x: p.x, y: p.y, width: c.width!, height: c.height! });
      else {
        const kind = c.id === FRAMES.ingress.id ? 'ingress' : 'egress';
        frames.push({ kind, label: FRAMES[kind].label, x: p.x, y: p.y, width: c.width!, height: c.height! });
      }
      visit(c, p);
    }
  };
  visit(out, { x: 0, y: 0 });

  const routes: EdgeRoute[] = (out.edges ?? []).map((e, i) => {
    // With INCLUDE_CHILDREN an edge's coordinates are relative to its container (here: the root).
    const at = offset.get((e as { container?: string }).container ?? 'root') ?? { x: 0, y: 0 };
    const s = e.sections?.[0];
    const points = s ? [s.startPoint, ...(s.bendPoints ?? []), s.endPoint].map((p) => ({ x: p.x + at.x, y: p.y + at.y })) : [];
    const l = e.labels?.[0];
    return {
      edge: graph.edges[i],
      points,
      ...(l ? { label: { text: l.text!, x: (l.x ?? 0) + at.x, y: (l.y ?? 0) + at.y, width: l.width!, height: l.height! } } : {}),
    };
  });
  return { boxes, edges: routes, width: Math.ceil(out.width ?? 2 * MARGIN), height: Math.ceil(out.height ?? 2 * MARGIN), frames };
}
