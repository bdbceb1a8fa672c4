/**
 * A small layered layout for the HTML view, computed here so the page needs no script and no
 * network: ingress hosts in the left column, services in columns by call depth, egress domains in
 * the right column (the service-specific ones, then the mesh-wide ones beside `every service`).
 * Within a column, nodes are ordered by a few barycentre sweeps to reduce crossings; ties break by
 * name, so the layout is deterministic. Text widths are estimated from character counts (no font
 * metrics without a browser); the estimate errs wide.
 */
import { cmp } from '../model/mesh.js';
import { callDepths, type Graph, type GraphNode } from './model.js';

export interface Box {
  node: GraphNode;
  column: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Layout {
  boxes: Map<string, Box>;
  columns: number;
  width: number;
  height: number;
  /** Where the gateway frames go (around the host column and the domain column). */
  frames: { label: string; kind: 'ingress' | 'egress'; x: number; y: number; width: number; height: number }[];
}

export const FONT = { label: 12, detail: 10.5 };
const CHAR = { label: 7.4, detail: 6.3 };
const PAD_X = 14;
const GAP_X = 104;
const GAP_Y = 26;
const MARGIN = 32;
const FRAME_PAD = 14;
const FRAME_TITLE = 22;

function size(n: GraphNode): { width: number; height: number } {
  const text = Math.max(n.label.length * CHAR.label, n.kind === 'service' && n.detail ? n.detail.length * CHAR.detail : 0);
  return { width: Math.ceil(Math.max(96, text + 2 * PAD_X)), height: n.kind === 'service' ? 42 : 28 };
}

export function layout(graph: Graph): Layout {
  const depth = callDepths(graph);
  const maxDepth = Math.max(0, ...depth.values());
  const hasHosts = graph.nodes.some((n) => n.kind === 'ingress-host');
  const first = hasHosts ? 1 : 0;
  const domainCol = first + maxDepth + 1;
  const columnOf = (n: GraphNode): number => {
    if (n.kind === 'ingress-host') return 0;
    if (n.kind === 'service') return first + (depth.get(n.id) ?? 0);
    if (n.kind === 'every-service') return domainCol - 1;
    return domainCol;
  };
  const cols: GraphNode[][] = Array.from({ length: domainCol + 1 }, () => []);
  for (const n of graph.nodes) cols[columnOf(n)].push(n);

  // Neighbours for the sweeps: every edge, both directions.
  const nbr = new Map<string, string[]>(graph.nodes.map((n) => [n.id, []]));
  for (const e of graph.edges) {
    nbr.get(e.from)?.push(e.to);
    nbr.get(e.to)?.push(e.from);
  }
  const colIndex = new Map(graph.nodes.map((n) => [n.id, columnOf(n)]));
  const rank = new Map<string, number>();
  const setRanks = () => cols.forEach((c) => c.forEach((n, i) => rank.set(n.id, i / Math.max(1, c.length - 1))));
  // The every-service node and the mesh-wide domains stay at the bottom of their columns.
  const pinned = (n: GraphNode) => n.kind === 'every-service' || n.meshWide === true;
  const sortColumn = (c: number, side: 'left' | 'right') => {
    const key = (n: GraphNode) => {
      const ns = (nbr.get(n.id) ?? []).filter((m) => (side === 'left' ? colIndex.get(m)! < c : colIndex.get(m)! > c));
      return ns.length ? ns.reduce((s, m) => s + rank.get(m)!, 0) / ns.length : rank.get(n.id)!;
    };
    const keys = new Map(cols[c].map((n) => [n.id, key(n)]));
    cols[c].sort((a, b) => Number(pinned(a)) - Number(pinned(b)) || keys.get(a.id)! - keys.get(b.id)! || cmp(a.label, b.label));
  };
  for (const c of cols) c.sort((a, b) => Number(pinned(a)) - Number(pinned(b)) || cmp(a.label, b.label));
  setRanks();
  for (let iter = 0; iter < 4; iter++) {
    for (let c = 1; c < cols.length; c++) {
      sortColumn(c, 'left');
      setRanks();
    }
    for (let c = cols.length - 2; c >= 0; c--) {
      sortColumn(c, 'right');
      setRanks();
    }
  }

  // Sizes and coordinates.
  const boxes = new Map<string, Box>();
  const colWidth = cols.map((c) => Math.max(0, ...c.map((n) => size(n).width)));
  const colHeight = cols.map((c) => c.reduce((h, n, i) => h + size(n).height + (i ? GAP_Y : 0), 0) + (c.some((n) => n.meshWide) && c.some((n) => !n.meshWide) ? GAP_Y * 2 : 0));
  const inner = Math.max(...colHeight, 0);
  const top = MARGIN + FRAME_TITLE + FRAME_PAD;
  let x = MARGIN + FRAME_PAD;
  cols.forEach((c, ci) => {
    let y = top + (inner - colHeight[ci]) / 2;
    let prevMeshWide: boolean | undefined;
    for (const n of c) {
      const s = size(n);
      if (prevMeshWide === false && n.meshWide) y += GAP_Y * 2; // a gap before the mesh-wide group
      // Centre-align in the column.
      boxes.set(n.id, { node: n, column: ci, x: x + (colWidth[ci] - s.width) / 2, y, width: s.width, height: s.height });
      y += s.height + GAP_Y;
      prevMeshWide = n.kind === 'egress-domain' ? n.meshWide === true : prevMeshWide;
    }
    // The every-service node sits level with the mesh-wide domains.
    x += colWidth[ci] + GAP_X;
  });
  const every = graph.nodes.find((n) => n.kind === 'every-service');
  if (every) {
    const wide = [...boxes.values()].filter((b) => b.node.meshWide);
    const b = boxes.get(every.id)!;
    if (wide.length) {
      const mid = (Math.min(...wide.map((w) => w.y)) + Math.max(...wide.map((w) => w.y + w.height))) / 2;
      const others = [...boxes.values()].filter((o) => o.column === b.column && o !== b);
      const lowest = Math.max(top, ...others.map((o) => o.y + o.height + GAP_Y));
      b.y = Math.max(mid - b.height / 2, lowest);
    }
  }
  const frames: Layout['frames'] = [];
  const frameAround = (kind: 'ingress' | 'egress', label: string, ids: Box[]) => {
    if (!ids.length) return;
    const x0 = Math.min(...ids.map((b) => b.x)) - FRAME_PAD;
    const y0 = Math.min(...ids.map((b) => b.y)) - FRAME_PAD - FRAME_TITLE;
    const x1 = Math.max(...ids.map((b) => b.x + b.width)) + FRAME_PAD;
    const y1 = Math.max(...ids.map((b) => b.y + b.height)) + FRAME_PAD;
    frames.push({ kind, label, x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
  };
  frameAround('ingress', 'ingress gateway', [...boxes.values()].filter((b) => b.node.kind === 'ingress-host'));
  frameAround('egress', 'egress gateway', [...boxes.values()].filter((b) => b.node.kind === 'egress-domain'));
  const all = [...boxes.values()];
  const width = Math.ceil(Math.max(...all.map((b) => b.x + b.width + FRAME_PAD + MARGIN), ...frames.map((f) => f.x + f.width + MARGIN), 2 * MARGIN));
  const height = Math.ceil(Math.max(...all.map((b) => b.y + b.height), ...frames.map((f) => f.y + f.height), top) + FRAME_PAD + MARGIN);
  return { boxes, columns: cols.length, width, height, frames };
}
