import { locate, readMeshFile, type Source } from '../source/parse.js';
import { looksLikeService, validateSchema } from '../schema/validate.js';
import { hasErrors, type Diagnostic, type Finding } from '../model/diagnostic.js';
import { normalize } from '../model/normalize.js';
import { RULES, runRules } from '../model/rules/index.js';
import type { WrittenMesh } from '../schema/written-mesh.js';
import { cmp, type Mesh } from '../model/mesh.js';
import type { Target } from '../targets/target.js';
import { selectTargets } from './targets.js';
import { dirname, resolve } from 'node:path';
import { loadSuppliedIngress } from '../certs/ingress-files.js';
import { mergePartialWarnings } from '../targets/features.js';

export interface ValidateOptions {
  file: string;
  /** Target names whose capability checks run too; default all. */
  targets?: string[];
  /** The file's content, when the caller has read it already. */
  bytes?: Buffer;
  /**
   * Check the supplied ingress certificate files (`tls: { certFile, keyFile }`) too, as the build
   * does, so validate and build give one verdict. Default true; the build leaves it to its
   * certificate stage, which reads them anyway.
   */
  suppliedFiles?: boolean;
  /** The instant supplied certificates must be valid at; default now. */
  clock?: () => Date;
}

export interface ValidateResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  mesh?: Mesh;
  /** The mesh as written (schema-valid), when ok: what pointers into the file refer to. */
  written?: WrittenMesh;
  source?: Source;
  targets: Target[];
}

/** Sorted by position, then code: the order a person reads the file in. */
export function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return [...list].sort((a, b) => a.line - b.line || a.col - b.col || cmp(a.code, b.code) || cmp(a.message, b.message));
}

/** parse → schema → normalize → rules → target checks; reports everything each stage found. */
export async function validate(opts: ValidateOptions): Promise<ValidateResult> {
  const targets = selectTargets(opts.targets);
  const parsed = await readMeshFile(opts.file, opts.bytes);
  const { source } = parsed;
  const done = (findings: Finding[], mesh?: Mesh, written?: WrittenMesh): ValidateResult => {
    const diagnostics = sortDiagnostics([...parsed.diagnostics, ...findings.map((f) => locate(source, f))]);
    return { ok: !hasErrors(diagnostics), diagnostics, ...(mesh && !hasErrors(diagnostics) ? { mesh, written } : {}), source, targets };
  };
  if (parsed.value === undefined || hasErrors(parsed.diagnostics)) return done([]);
  const schema = validateSchema(parsed.value);
  if (!schema.mesh) {
    // Report every problem at once: the rules still run on the mesh as written, as far as its
    // shape allows, and what they find inside a part the schema already rejected is dropped.
    return done([...schema.findings, ...lenientRules(parsed.value, schema.findings)]);
  }
  const mesh = normalize(schema.mesh);
  const ruleFindings = runRules({ written: schema.mesh, mesh });
  // Targets only see a mesh whose references hold.
  const targetFindings = hasErrors(ruleFindings) ? [] : mergePartialWarnings(targets.flatMap((t) => t.check(mesh)));
  const fileFindings = opts.suppliedFiles === false ? [] : await checkSuppliedFiles(mesh, dirname(resolve(opts.file)), (opts.clock ?? (() => new Date()))());
  return done([...ruleFindings, ...targetFindings, ...fileFindings], mesh, schema.mesh);
}

/** The findings of every supplied ingress certificate and key (see loadSuppliedIngress). */
async function checkSuppliedFiles(mesh: Mesh, meshDir: string, now: Date): Promise<Finding[]> {
  const supplied = mesh.ingress.hosts.flatMap((h) => (h.tls.kind === 'files' ? [{ host: h.host, tls: h.tls }] : []));
  const results = await Promise.all(supplied.map((h) => loadSuppliedIngress(h.host, h.tls, meshDir, now)));
  return results.flatMap((r) => r.findings);
}

/** The value a JSON pointer names in a plain document, or undefined. */
function valueAt(doc: unknown, ptr: string): unknown {
  let v = doc;
  for (const seg of ptr === '' ? [] : ptr.slice(1).split('/')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return v;
}

function lenientRules(value: unknown, schemaFindings: Finding[]): Finding[] {
  const rejected = schemaFindings.map((f) => f.pointer);
  const inside = (p: string) => rejected.some((r) => p === r || p.startsWith(r + '/') || r.startsWith(p + '/'));
  // A rule finding about a value the schema rejected repeats that error ("its policy is
  // consistent_hash, which does not hash"): dropped when it sits beside the value and names it.
  const rejectedValues = schemaFindings
    .map((f) => ({ parent: f.pointer.slice(0, f.pointer.lastIndexOf('/')), value: valueAt(value, f.pointer) }))
    .filter((r): r is { parent: string; value: string | number } => typeof r.value === 'string' || typeof r.value === 'number');
  const aboutRejected = (f: Finding) => rejectedValues.some((r) => (f.pointer === r.parent || f.pointer.startsWith(r.parent + '/')) && f.message.includes(String(r.value)));
  // A service written at the wrong indentation takes the services after it along: references to
  // any of them are not unknown, only misplaced (the schema's unknown-field says where they belong).
  const misplaced = new Set<string>();
  for (const f of schemaFindings) {
    if (f.code !== 'unknown-field') continue;
    const v = valueAt(value, f.pointer);
    if (!looksLikeService(v)) continue;
    misplaced.add(f.pointer.slice(f.pointer.lastIndexOf('/') + 1));
    for (const [k, child] of Object.entries(v as object)) if (looksLikeService(child)) misplaced.add(k);
  }
  const misplacedReference = (f: Finding) => f.code === 'unknown-service' && misplaced.has(String(valueAt(value, f.pointer)));
  let mesh: Mesh;
  const written = value as WrittenMesh;
  try {
    if (typeof written?.spec?.services !== 'object' || written.spec.services === null) return [];
    mesh = normalize(written);
  } catch {
    return [];
  }
  return RULES.flatMap((rule) => {
    try {
      return rule({ written, mesh });
    } catch {
      return []; // a shape this rule cannot read; the schema finding already covers it
    }
  }).filter((f) => !inside(f.pointer) && !aboutRejected(f) && !misplacedReference(f));
}
