/**
 * `meshc graph --format html`: one self-contained page (inline SVG and CSS, no script, no
 * network) with the layered layout of layout.ts and a legend. Every node is a
 * `<g class="node <kind>" data-id="...">` holding a shape and its `<text>`, so tests (and
 * people) can find them in the DOM. Deterministic: numbers are rounded, order is the graph's.
 */
import { GENERATED_HEADER } from '../targets/target.js';
import { FONT, layout, type Point } from './layout.js';
import type { Graph, GraphEdge } from './model.js';

const COLOURS = {
  service: { fill: '#e8f0fe', stroke: '#1a56db' },
  'ingress-host': { fill: '#fef3c7', stroke: '#b45309' },
  'egress-domain': { fill: '#dcfce7', stroke: '#15803d' },
  'every-service': { fill: '#f3f4f6', stroke: '#6b7280' },
  call: '#475569',
  denied: '#dc2626',
  allow: '#9ca3af',
  route: '#b45309',
  egress: '#15803d',
} as const;

/** `graph --metrics`: an edge's colour by its health (error ratio under 1%, under 5%, more; no traffic). */
const HEALTH = { ok: '#16a34a', degraded: '#d97706', failing: '#dc2626', idle: '#9ca3af' } as const;

const r1 = (n: number) => Math.round(n * 10) / 10;

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function edgeStyle(e: GraphEdge): { colour: string; marker: string; dash?: string; width: number; cls: string } {
  if (e.metrics && (e.kind !== 'call' || e.allowed !== false)) {
    const h = e.metrics.health;
    const base = e.kind === 'call' ? 'call' : e.kind;
    return { colour: HEALTH[h], marker: `arrow-${h}`, dash: h === 'idle' ? '2 3' : undefined, width: h === 'idle' ? 1.2 : 2.2, cls: `${base} health-${h}` };
  }
  if (e.kind === 'call' && e.allowed === false) return { colour: COLOURS.denied, marker: 'arrow-denied', dash: '6 4', width: 2, cls: 'denied' };
  if (e.kind === 'call') return { colour: COLOURS.call, marker: 'arrow-call', width: 1.4, cls: 'call' };
  if (e.kind === 'allow') return { colour: COLOURS.allow, marker: 'arrow-allow', dash: '2 3', width: 1.2, cls: 'allow' };
  if (e.kind === 'route') return { colour: COLOURS.route, marker: 'arrow-route', width: 1.8, cls: 'route' };
  return { colour: COLOURS.egress, marker: 'arrow-egress', width: 1.2, cls: 'egress' };
}

/** An orthogonal polyline; the last point stops 2 px short of the box so the arrowhead shows. */
function pathOf(points: Point[]): string {
  if (points.length < 2) return '';
  const pts = points.map((p) => ({ ...p }));
  const [a, b] = [pts[pts.length - 2], pts[pts.length - 1]];
  const len = Math.hypot(b.x - a.x, b.y - a.y);
  if (len > 4) {
    b.x -= ((b.x - a.x) / len) * 2;
    b.y -= ((b.y - a.y) / len) * 2;
  }
  return pts.map((p, i) => `${i ? 'L' : 'M'}${r1(p.x)},${r1(p.y)}`).join(' ');
}

export async function toHtml(graph: Graph): Promise<string> {
  const L = await layout(graph);
  const legendHeight = 64;
  const W = L.width;
  const H = L.height + legendHeight;
  const svg: string[] = [];
  svg.push(`<svg xmlns="http://www.w3.org/2000/svg" class="mesh-graph" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(`service graph of mesh ${graph.mesh}`)}">`);
  svg.push('<defs>');
  for (const [id, colour] of [
    ['arrow-call', COLOURS.call],
    ['arrow-denied', COLOURS.denied],
    ['arrow-allow', COLOURS.allow],
    ['arrow-route', COLOURS.route],
    ['arrow-egress', COLOURS.egress],
    ...((graph.edges.some((e) => e.metrics) ? Object.entries(HEALTH).map(([h, c]) => [`arrow-${h}`, c]) : []) as [string, string][]),
  ] as const)
    svg.push(`<marker id="${id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${colour}"/></marker>`);
  svg.push('</defs>');
  svg.push(`<rect class="background" x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);

  for (const f of L.frames) {
    const colour = f.kind === 'ingress' ? COLOURS['ingress-host'].stroke : COLOURS['egress-domain'].stroke;
    svg.push(`<g class="frame ${f.kind}"><rect x="${r1(f.x)}" y="${r1(f.y)}" width="${r1(f.width)}" height="${r1(f.height)}" rx="10" fill="none" stroke="${colour}" stroke-dasharray="5 4" stroke-width="1.2"/>`);
    svg.push(`<text x="${r1(f.x + 10)}" y="${r1(f.y + 16)}" font-size="${FONT.label}" font-weight="600" fill="${colour}">${escapeXml(f.label)}</text></g>`);
  }

  // Edges under nodes; labels after, so they sit on top of lines.
  const labels: string[] = [];
  svg.push('<g class="edges">');
  for (const { edge: e, points, label } of L.edges) {
    const a = L.boxes.get(e.from);
    const b = L.boxes.get(e.to);
    if (!a || !b || points.length < 2) continue;
    const s = edgeStyle(e);
    const title = `${a.node.label} → ${b.node.label}${e.label ? `: ${e.label}` : ''}${e.kind === 'call' && e.allowed === false ? ' (NOT ALLOWED by the callee’s allowFrom)' : ''}`;
    svg.push(
      `<g class="edge ${s.cls}" data-from="${escapeXml(e.from)}" data-to="${escapeXml(e.to)}"><title>${escapeXml(title)}</title><path d="${pathOf(points)}" fill="none" stroke="${s.colour}" stroke-width="${s.width}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} stroke-linejoin="round" marker-end="url(#${s.marker})"/></g>`,
    );
    if (label)
      labels.push(
        `<g class="edge-label ${s.cls}"><rect x="${r1(label.x)}" y="${r1(label.y)}" width="${r1(label.width)}" height="${r1(label.height)}" rx="3" fill="#ffffff" fill-opacity="0.9"/><text x="${r1(label.x + label.width / 2)}" y="${r1(label.y + label.height / 2 + 3.5)}" text-anchor="middle" font-size="${FONT.edge}" fill="${s.colour}">${escapeXml(label.text)}</text></g>`,
      );
  }
  svg.push('</g>');

  svg.push('<g class="nodes">');
  for (const n of graph.nodes) {
    const b = L.boxes.get(n.id)!;
    const c = COLOURS[n.kind];
    const cx = r1(b.x + b.width / 2);
    let shape: string;
    if (n.kind === 'egress-domain') {
      const k = 10;
      const pts = [
        [b.x + k, b.y],
        [b.x + b.width - k, b.y],
        [b.x + b.width, b.y + b.height / 2],
        [b.x + b.width - k, b.y + b.height],
        [b.x + k, b.y + b.height],
        [b.x, b.y + b.height / 2],
      ];
      shape = `<polygon points="${pts.map(([px, py]) => `${r1(px)},${r1(py)}`).join(' ')}" fill="${c.fill}" stroke="${c.stroke}" stroke-width="1.3"/>`;
    } else {
      const rx = n.kind === 'ingress-host' ? 14 : 6;
      shape = `<rect x="${r1(b.x)}" y="${r1(b.y)}" width="${r1(b.width)}" height="${r1(b.height)}" rx="${rx}" fill="${c.fill}" stroke="${c.stroke}" stroke-width="1.3"${n.kind === 'every-service' ? ' stroke-dasharray="4 3"' : ''}/>`;
    }
    const texts =
      n.kind === 'service' && n.detail
        ? `<text class="label" x="${cx}" y="${r1(b.y + 17)}" text-anchor="middle" font-size="${FONT.label}" font-weight="600" fill="#111827">${escapeXml(n.label)}</text><text class="detail" x="${cx}" y="${r1(b.y + 32)}" text-anchor="middle" font-size="${FONT.detail}" fill="#374151">${escapeXml(n.detail)}</text>`
        : `<text class="label" x="${cx}" y="${r1(b.y + b.height / 2 + 4)}" text-anchor="middle" font-size="${FONT.label}" fill="#111827">${escapeXml(n.label)}</text>`;
    svg.push(`<g class="node ${n.kind}" data-id="${escapeXml(n.id)}"><title>${escapeXml(n.kind === 'service' && n.detail ? `${n.label}: ${n.detail}` : n.label)}</title>${shape}${texts}</g>`);
  }
  svg.push('</g>');
  svg.push(`<g class="edge-labels">${labels.join('')}</g>`);

  // Legend along the bottom.
  const ly = L.height + 18;
  const items: [string, string, string | undefined][] = [
    ['call (callee’s load balancing in its box)', COLOURS.call, undefined],
    ['call NOT allowed by the callee’s allowFrom', COLOURS.denied, '6 4'],
    ['allowed, not called', COLOURS.allow, '2 3'],
    ['ingress route (path prefix)', COLOURS.route, undefined],
    ['egress', COLOURS.egress, undefined],
  ];
  svg.push(`<g class="legend"><text x="32" y="${ly}" font-size="${FONT.label}" font-weight="600" fill="#111827">legend</text>`);
  let lx = 90;
  for (const [text, colour, dash] of items) {
    svg.push(`<path d="M${lx},${ly - 4} L${lx + 34},${ly - 4}" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} fill="none"/>`);
    svg.push(`<text x="${lx + 40}" y="${ly}" font-size="11" fill="#374151">${escapeXml(text)}</text>`);
    lx += 50 + Math.ceil(text.length * 6.2);
  }
  let kx = 90;
  const ky = ly + 24;
  for (const [text, kind] of [
    ['service', 'service'],
    ['ingress host', 'ingress-host'],
    ['egress domain', 'egress-domain'],
    ['mesh-wide egress', 'every-service'],
  ] as const) {
    const c = COLOURS[kind];
    svg.push(`<rect x="${kx}" y="${ky - 11}" width="26" height="14" rx="3" fill="${c.fill}" stroke="${c.stroke}"/><text x="${kx + 32}" y="${ky}" font-size="11" fill="#374151">${escapeXml(text)}</text>`);
    kx += 50 + text.length * 7;
  }
  svg.push('</g>');
  svg.push('</svg>');

  const count = (kind: string, one: string, many: string) => {
    const n = graph.nodes.filter((x) => x.kind === kind).length;
    return `${n} ${n === 1 ? one : many}`;
  };
  const counts = [count('service', 'service', 'services'), count('ingress-host', 'ingress host', 'ingress hosts'), count('egress-domain', 'egress domain', 'egress domains')].join(', ');
  return `<!doctype html>
<!-- ${GENERATED_HEADER} (meshc graph --format html) -->
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(`meshc graph: ${graph.mesh}`)}</title>
<style>
  body { margin: 0; padding: 16px 20px; background: #ffffff; color: #111827; font-family: -apple-system, "Segoe UI", Helvetica, Arial, "DejaVu Sans", sans-serif; }
  h1 { font-size: 18px; margin: 0 0 4px; }
  p.meta { margin: 0 0 12px; color: #4b5563; font-size: 13px; }
  svg.mesh-graph { max-width: 100%; height: auto; font-family: inherit; }
  .node:hover rect, .node:hover polygon { stroke-width: 2.5; }
</style>
</head>
<body>
<h1>${escapeXml(`mesh ${graph.mesh}`)}</h1>
<p class="meta">${escapeXml(counts)}</p>
${svg.join('\n')}
</body>
</html>
`;
}
