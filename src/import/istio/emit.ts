/**
 * The printed mesh.yaml: the imported mesh with a comment above each part naming the objects it
 * came from; and its check by the same stages as any mesh.yaml (schema, rules, and the checks of
 * the k8s and istio targets, the ones a team leaving Istio starts with).
 */
import { Document, isMap, isScalar, type Pair, type YAMLMap } from 'yaml';
import { hasErrors, type Diagnostic } from '../../model/diagnostic.js';
import { normalize } from '../../model/normalize.js';
import { runRules } from '../../model/rules/index.js';
import { selectTargets } from '../../pipeline/targets.js';
import type { WrittenMesh } from '../../schema/written-mesh.js';
import { validateSchema } from '../../schema/validate.js';
import { locate, parseMeshText } from '../../source/parse.js';
import type { Inventory } from './context.js';

/** The file name the printed mesh's own diagnostics name (it goes to standard output). */
export const PRINTED = '<printed mesh.yaml>';

const FIELD_ORDER = ['port', 'protocol', 'image', 'replicas', 'endpoints', 'upstreams', 'allowFrom', 'egress', 'loadBalancing', 'retries', 'timeouts', 'outlierDetection', 'connectionLimits'];

function pairOf(map: unknown, key: string): Pair | undefined {
  if (!isMap(map)) return undefined;
  return (map as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === key) as Pair | undefined;
}

function comment(map: unknown, key: string, text: string | undefined): void {
  const pair = pairOf(map, key);
  if (pair && text && isScalar(pair.key)) pair.key.commentBefore = wrap(text);
}

/** Comment lines of at most about 110 characters, each starting with a space (`# text`). */
function wrap(text: string): string {
  const words = text.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + w.length + 1 > 108) {
      lines.push(line);
      line = `  ${w}`;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.map((l) => ` ${l}`).join('\n');
}

export interface EmitContext {
  paths: readonly string[];
  files: number;
  objects: number;
  egress?: string;
  ingress: Map<string, string>;
  meshWide: string[];
}

export function emitMesh(mesh: WrittenMesh, inv: Inventory, ctx: EmitContext): string {
  // Fields in reading order (the schema's), not insertion order.
  for (const [name, svc] of Object.entries(mesh.spec.services)) {
    const fields = svc as unknown as Record<string, unknown>;
    const ordered = Object.fromEntries(FIELD_ORDER.filter((k) => fields[k] !== undefined).map((k) => [k, fields[k]]));
    mesh.spec.services[name] = ordered as unknown as typeof svc;
  }
  const doc = new Document(mesh);
  doc.commentBefore = wrap(
    `mesh.yaml written by \`meshc import istio ${ctx.paths.join(' ')}\` from ${ctx.objects} object${ctx.objects === 1 ? '' : 's'} in ${ctx.files} file${ctx.files === 1 ? '' : 's'}. The comments name the objects each part comes from; what does not carry over was printed as diagnostics, not here.`,
  );
  const spec = doc.get('spec', true);
  comment(spec, 'trustDomain', ctx.objects > 0 && mesh.spec.trustDomain === 'cluster.local' ? "Istio's default trust domain (set yours if meshConfig.trustDomain differs)" : undefined);
  comment(spec, 'namespace', 'where the imported workloads run');
  const services = pairOf(spec, 'services')?.value;
  for (const svc of inv.services) {
    comment(services, svc.name, svc.comments.get(''));
    const map = pairOf(services, svc.name)?.value;
    for (const [field, text] of svc.comments) if (field !== '') comment(map, field, text);
  }
  const egress = pairOf(spec, 'egress')?.value;
  comment(egress, 'allow', ctx.meshWide.length ? `every service may reach these: ${ctx.meshWide.join(', ')}` : undefined);
  comment(egress, 'viaGateway', ctx.egress);
  const hosts = pairOf(pairOf(spec, 'ingress')?.value, 'hosts')?.value;
  for (const [host, text] of ctx.ingress) comment(hosts, host, text);
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/** The printed mesh checked as `meshc validate --targets k8s,istio` would: its errors, placed in it. */
export function checkPrinted(text: string): Diagnostic[] {
  const parsed = parseMeshText(text, PRINTED);
  if (parsed.value === undefined || hasErrors(parsed.diagnostics)) return parsed.diagnostics.map(internal);
  const schema = validateSchema(parsed.value);
  if (!schema.mesh) return schema.findings.map((f) => internal(locate(parsed.source, f)));
  const mesh = normalize(schema.mesh);
  const findings = runRules({ written: schema.mesh, mesh });
  const all = hasErrors(findings) ? findings : [...findings, ...selectTargets(['k8s', 'istio']).flatMap((t) => t.check(mesh))];
  return all.filter((f) => f.severity === 'error').map((f) => internal(locate(parsed.source, f)));
}

function internal(d: Diagnostic): Diagnostic {
  return { ...d, code: 'import-invalid-result', message: `the printed mesh is invalid (${d.code}): ${d.message}`, hint: 'this is a bug in meshc import: please report it with the input' };
}
