/**
 * Text renderers of the mesh graph: Mermaid (for READMEs and pull requests, GitHub renders it),
 * Graphviz DOT, and JSON. Deterministic: the graph is already sorted, ids are derived from names.
 */
import { GENERATED_HEADER } from '../targets/target.js';
import type { Graph, GraphEdge, GraphNode } from './model.js';

/** Mermaid ids are plain identifiers: `service:cart` → `service_cart`, other characters escaped as `_xx`. */
function mermaidIds(graph: Graph): Map<string, string> {
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const n of graph.nodes) {
    let id = n.id.replace(/[^A-Za-z0-9]/g, (ch) => (ch === ':' || ch === '.' || ch === '-' ? '_' : `_${ch.charCodeAt(0).toString(16)}`));
    while (used.has(id)) id += '_';
    used.add(id);
    ids.set(n.id, id);
  }
  return ids;
}

/** Inside a Mermaid quoted label `"` and `#` must be entities; `<`, `>` too, to stay text. */
function mermaidText(s: string): string {
  return s.replace(/#/g, '#35;').replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}

function mermaidNode(n: GraphNode, id: string): string {
  const label = mermaidText(n.label);
  switch (n.kind) {
    case 'service':
      return `${id}["${label}"]`;
    case 'ingress-host':
      return `${id}(["${label}"])`;
    case 'egress-domain':
      return `${id}{{"${label}"}}`;
    case 'every-service':
      return `${id}[["${label}"]]`;
  }
}

function mermaidArrow(e: GraphEdge): string {
  if (e.kind === 'allow') return '-.->';
  if (e.kind === 'call' && e.allowed === false) return '-.->';
  if (e.kind === 'route') return '==>';
  return '-->';
}

function edgeLabel(e: GraphEdge): string | undefined {
  if (e.kind === 'call' && e.allowed === false) return `NOT ALLOWED: ${e.label ?? ''}`.trim();
  return e.label;
}

export function toMermaid(graph: Graph): string {
  const ids = mermaidIds(graph);
  const lines = ['flowchart LR', `  %% ${GENERATED_HEADER} (meshc graph), mesh ${graph.mesh}`];
  const hosts = graph.nodes.filter((n) => n.group === 'ingress-gateway');
  const domains = graph.nodes.filter((n) => n.group === 'egress-gateway');
  if (hosts.length) {
    lines.push('  subgraph ingress_gateway["ingress gateway"]', '    direction TB');
    for (const n of hosts) lines.push(`    ${mermaidNode(n, ids.get(n.id)!)}`);
    lines.push('  end');
  }
  for (const n of graph.nodes.filter((n) => !n.group)) lines.push(`  ${mermaidNode(n, ids.get(n.id)!)}`);
  if (domains.length) {
    lines.push('  subgraph egress_gateway["egress gateway"]', '    direction TB');
    for (const n of domains) lines.push(`    ${mermaidNode(n, ids.get(n.id)!)}`);
    lines.push('  end');
  }
  const denied: number[] = [];
  const allowOnly: number[] = [];
  graph.edges.forEach((e, i) => {
    const label = edgeLabel(e);
    lines.push(`  ${ids.get(e.from)} ${mermaidArrow(e)}${label ? `|"${mermaidText(label)}"|` : ''} ${ids.get(e.to)}`);
    if (e.kind === 'call' && e.allowed === false) denied.push(i);
    if (e.kind === 'allow') allowOnly.push(i);
  });
  lines.push('  classDef service fill:#e8f0fe,stroke:#1a56db,color:#111');
  lines.push('  classDef host fill:#fef3c7,stroke:#b45309,color:#111');
  lines.push('  classDef domain fill:#dcfce7,stroke:#15803d,color:#111');
  lines.push('  classDef every fill:#f3f4f6,stroke:#6b7280,color:#111,stroke-dasharray:4 3');
  const cls = (kind: GraphNode['kind']) => graph.nodes.filter((n) => n.kind === kind).map((n) => ids.get(n.id)!);
  for (const [kind, name] of [['service', 'service'], ['ingress-host', 'host'], ['egress-domain', 'domain'], ['every-service', 'every']] as const) {
    const list = cls(kind);
    if (list.length) lines.push(`  class ${list.join(',')} ${name}`);
  }
  if (allowOnly.length) lines.push(`  linkStyle ${allowOnly.join(',')} stroke:#9ca3af,color:#6b7280`);
  if (denied.length) lines.push(`  linkStyle ${denied.join(',')} stroke:#dc2626,stroke-width:2px,color:#dc2626`);
  return lines.join('\n') + '\n';
}

/** A DOT quoted string; a line break becomes the `\\n` escape (a centred line in a label). */
function dotString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function dotNode(n: GraphNode): string {
  const attrs: string[] = [`label=${dotString(n.kind === 'service' && n.detail ? `${n.label}\n${n.detail}` : n.label)}`];
  if (n.kind === 'service') attrs.push('shape=box', 'style="rounded,filled"', 'fillcolor="#e8f0fe"', 'color="#1a56db"');
  if (n.kind === 'ingress-host') attrs.push('shape=box', 'style="filled"', 'fillcolor="#fef3c7"', 'color="#b45309"');
  if (n.kind === 'egress-domain') attrs.push('shape=hexagon', 'style="filled"', 'fillcolor="#dcfce7"', 'color="#15803d"');
  if (n.kind === 'every-service') attrs.push('shape=box', 'style="dashed"', 'color="#6b7280"');
  return `${dotString(n.id)} [${attrs.join(', ')}];`;
}

export function toDot(graph: Graph): string {
  const lines = [`// ${GENERATED_HEADER} (meshc graph)`, `digraph ${dotString(graph.mesh)} {`, '  rankdir=LR;', '  node [fontname="Helvetica", fontsize=11];', '  edge [fontname="Helvetica", fontsize=9];'];
  const hosts = graph.nodes.filter((n) => n.group === 'ingress-gateway');
  const domains = graph.nodes.filter((n) => n.group === 'egress-gateway');
  if (hosts.length) {
    lines.push('  subgraph cluster_ingress_gateway {', '    label="ingress gateway"; style="rounded,dashed"; color="#b45309";');
    for (const n of hosts) lines.push(`    ${dotNode(n)}`);
    lines.push('  }');
  }
  for (const n of graph.nodes.filter((n) => !n.group)) lines.push(`  ${dotNode(n)}`);
  if (domains.length) {
    lines.push('  subgraph cluster_egress_gateway {', '    label="egress gateway"; style="rounded,dashed"; color="#15803d";');
    for (const n of domains) lines.push(`    ${dotNode(n)}`);
    lines.push('  }');
  }
  for (const e of graph.edges) {
    const attrs: string[] = [];
    const label = edgeLabel(e);
    if (label) attrs.push(`label=${dotString(label)}`);
    if (e.kind === 'call' && e.allowed === false) attrs.push('color="#dc2626"', 'fontcolor="#dc2626"', 'style=dashed', 'penwidth=2');
    else if (e.kind === 'allow') attrs.push('color="#9ca3af"', 'fontcolor="#6b7280"', 'style=dotted');
    else if (e.kind === 'route') attrs.push('color="#b45309"', 'penwidth=1.5');
    else if (e.kind === 'egress') attrs.push('color="#15803d"');
    lines.push(`  ${dotString(e.from)} -> ${dotString(e.to)}${attrs.length ? ` [${attrs.join(', ')}]` : ''};`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

export function toJsonGraph(graph: Graph): string {
  return JSON.stringify(graph, null, 2) + '\n';
}
