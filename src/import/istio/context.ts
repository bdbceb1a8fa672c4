/**
 * What the stages of `meshc import istio` share: the objects read, the services found so far, and
 * the list of diagnostics, each placed at its object's field in the input file.
 */
import { pointer, type Diagnostic, type Severity } from '../../model/diagnostic.js';
import { cmp } from '../../model/mesh.js';
import type { Service as WrittenService } from '../../schema/written-mesh.js';
import { locate } from '../../source/parse.js';
import type { InputObject, Obj } from './read.js';

export type Path = (string | number)[];

/** `['spec', 'http', 0, 'route']` → `spec.http[0].route` */
export function fieldName(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

/** `Kind namespace/name` as kubectl would name it. */
export function describe(o: InputObject, ns: string): string {
  return `${o.kind} ${o.namespace ?? ns}/${o.name || '(unnamed)'}`;
}

/** `file:line` of an object, for the comments of the printed mesh. */
export function whereIs(o: InputObject): string {
  const d = locate(o.source, { code: '', severity: 'note', pointer: o.base, message: '' });
  return `${d.file}:${d.line}`;
}

export class Report {
  readonly list: Diagnostic[] = [];
  constructor(private readonly defaultNs: () => string) {}

  /** A diagnostic at `path` inside object `o`: "Kind ns/name field: text". */
  at(o: InputObject, path: Path, severity: Severity, code: string, text: string, hint?: string): void {
    const field = fieldName(path);
    const message = `${describe(o, this.defaultNs())}${field ? ` ${field}` : ''}: ${text}`;
    this.list.push(locate(o.source, { code, severity, pointer: o.base + pointer(...path), message, ...(hint ? { hint } : {}) }));
  }
  warn(o: InputObject, path: Path, code: string, text: string, hint?: string): void {
    this.at(o, path, 'warning', code, text, hint);
  }
  note(o: InputObject, path: Path, code: string, text: string, hint?: string): void {
    this.at(o, path, 'note', code, text, hint);
  }
  error(o: InputObject, path: Path, code: string, text: string, hint?: string): void {
    this.at(o, path, 'error', code, text, hint);
  }
}

/** A Deployment or StatefulSet: its pods as they matter to the mesh. */
export interface Pod {
  obj: InputObject;
  namespace: string;
  labels: Record<string, string>;
  serviceAccount: string;
  /** The application container (the first that is not a proxy), if any. */
  app?: { name: string; image?: string; ports: { name?: string; port: number }[]; index: number };
  /** Ports of proxy containers (Istio's or meshc's own Envoy sidecar): never the application's. */
  proxyPorts: Set<number>;
  /** meshc's own Envoy sidecar (the k8s target): the port of its inbound listener, `mesh-inbound`. */
  inboundPort?: number;
  replicas: number;
}

/** A mesh service being assembled from the objects that describe it. */
export interface ImportedService {
  name: string;
  pods: Pod[];
  /** The Services and MESH_INTERNAL ServiceEntries that front its pods. */
  fronts: InputObject[];
  /** Every name it is called by: `name`, `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local`, SE hosts. */
  hosts: Set<string>;
  serviceAccounts: Set<string>;
  written: WrittenService;
  /** The DestinationRule that sets its load balancer, and the VirtualService that sets its retries. */
  balancedBy?: InputObject;
  retriedBy?: InputObject;
  /** Comments of the printed mesh: the key (`''` for the service itself, else a field) → text. */
  comments: Map<string, string>;
}

export interface Inventory {
  /** The mesh namespace. */
  ns: string;
  objects: InputObject[];
  services: ImportedService[];
  report: Report;
  /** Objects whose every part was mapped or reported by a recognised pattern (the egress gateway). */
  consumed: Set<InputObject>;
}

export function ofKind(inv: Inventory, ...kinds: string[]): InputObject[] {
  return inv.objects.filter((o) => kinds.includes(o.kind) && !inv.consumed.has(o));
}

export function nsOf(o: InputObject, inv: Inventory): string {
  return o.namespace ?? inv.ns;
}

export function asObj(v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
}
export function asArr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
export function asStr(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
export function asNum(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : undefined;
}
export function strMap(v: unknown): Record<string, string> {
  const o = asObj(v) ?? {};
  return Object.fromEntries(Object.entries(o).filter(([, x]) => typeof x === 'string')) as Record<string, string>;
}

/** True when every label of `selector` is on `labels` (an empty selector matches everything). */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export function sortUnique(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort(cmp);
}

/**
 * An Istio or protobuf duration (`5s`, `0.25s`, `250ms`, `1m`, `1h`, `1h30m`) in milliseconds;
 * undefined when it is not one, or not a whole number of milliseconds.
 */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  const re = /([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    total += Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 3_600_000);
    matched = re.lastIndex;
  }
  if (matched !== v.length) return undefined;
  const ms = Math.round(total * 1000) / 1000;
  return Number.isInteger(ms) ? ms : undefined;
}

/** Milliseconds as mesh.yaml writes a duration (`2s`, `250ms`, `1h`). */
export function formatDuration(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The name a host is known by in namespace `ns`: the short forms of `x.ns.svc.cluster.local`. */
export function hostForms(name: string, ns: string): string[] {
  return [name, `${name}.${ns}`, `${name}.${ns}.svc`, `${name}.${ns}.svc.cluster.local`];
}

/** Resolves a host as Istio does (a short name is relative to the object's namespace) to a service. */
export function serviceByHost(inv: Inventory, host: string, objectNs: string): ImportedService | undefined {
  const h = host.toLowerCase();
  const candidates = h.includes('.') ? [h] : [`${h}.${objectNs}.svc.cluster.local`];
  if (h.endsWith('.svc') || h.split('.').length === 2) candidates.push(h.endsWith('.svc') ? `${h}.cluster.local` : `${h}.svc.cluster.local`);
  for (const c of candidates) {
    const svc = inv.services.find((s) => s.hosts.has(c));
    if (svc) return svc;
  }
  return undefined;
}

export function addComment(svc: ImportedService, field: string, text: string): void {
  const prev = svc.comments.get(field);
  svc.comments.set(field, prev ? `${prev}; ${text}` : text);
}
