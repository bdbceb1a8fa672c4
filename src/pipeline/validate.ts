import { locate, readMeshFile, type Source } from '../source/parse.js';
import { validateSchema } from '../schema/validate.js';
import { hasErrors, type Diagnostic, type Finding } from '../model/diagnostic.js';
import { normalize } from '../model/normalize.js';
import { RULES, runRules } from '../model/rules/index.js';
import type { WrittenMesh } from '../schema/written-mesh.js';
import type { Mesh } from '../model/mesh.js';
import type { Target } from '../targets/target.js';
import { selectTargets } from './targets.js';

export interface ValidateOptions {
  file: string;
  /** Target names whose capability checks run too; default all. */
  targets?: string[];
  /** The file's content, when the caller has read it already. */
  bytes?: Buffer;
  /** Called with the parsed document before it is checked (the build sets up its emission then). */
  onParsed?: (value: unknown) => void;
}

export interface ValidateResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  mesh?: Mesh;
  source?: Source;
  targets: Target[];
}

/** Sorted by position, then code: the order a person reads the file in. */
export function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return [...list].sort((a, b) => a.line - b.line || a.col - b.col || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0) || (a.message < b.message ? -1 : 1));
}

/** parse → schema → normalize → rules → target checks; reports everything each stage found. */
export async function validate(opts: ValidateOptions): Promise<ValidateResult> {
  const targets = selectTargets(opts.targets);
  const parsed = await readMeshFile(opts.file, opts.bytes);
  const { source } = parsed;
  if (parsed.value === undefined || hasErrors(parsed.diagnostics)) return done(parsed.diagnostics, source, targets);
  opts.onParsed?.(parsed.value);
  const place = (fs: Finding[]) => fs.map((f) => locate(source, f));
  const schema = validateSchema(parsed.value);
  if (!schema.mesh) {
    // Report every problem at once: the rules still run on the mesh as written, as far as its
    // shape allows, and what they find inside a part the schema already rejected is dropped.
    const extra = lenientRules(parsed.value, schema.findings);
    return done([...parsed.diagnostics, ...place(schema.findings), ...place(extra)], source, targets);
  }
  const mesh = normalize(schema.mesh);
  const ruleFindings = runRules({ written: schema.mesh, mesh });
  // Targets only see a mesh whose references hold.
  const targetFindings = hasErrors(ruleFindings) ? [] : targets.flatMap((t) => t.check(mesh));
  return done([...parsed.diagnostics, ...place(ruleFindings), ...place(targetFindings)], source, targets, mesh);
}

function lenientRules(value: unknown, schemaFindings: Finding[]): Finding[] {
  const rejected = schemaFindings.map((f) => f.pointer);
  const inside = (p: string) => rejected.some((r) => p === r || p.startsWith(r + '/') || r.startsWith(p + '/'));
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
  }).filter((f) => !inside(f.pointer));
}

function done(diagnostics: Diagnostic[], source: Source, targets: Target[], mesh?: Mesh): ValidateResult {
  const sorted = sortDiagnostics(diagnostics);
  const ok = !hasErrors(sorted);
  return { ok, diagnostics: sorted, ...(ok && mesh ? { mesh } : {}), source, targets };
}
