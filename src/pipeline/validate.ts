import { locate, readMeshFile, type Source } from '../source/parse.js';
import { validateSchema } from '../schema/validate.js';
import { hasErrors, type Diagnostic, type Finding } from '../model/diagnostic.js';
import { normalize } from '../model/normalize.js';
import { runRules } from '../model/rules/index.js';
import type { Mesh } from '../model/mesh.js';
import type { Target } from '../targets/target.js';
import { selectTargets } from './targets.js';

export interface ValidateOptions {
  file: string;
  /** Target names whose capability checks run too; default all. */
  targets?: string[];
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
  const parsed = await readMeshFile(opts.file);
  const { source } = parsed;
  if (parsed.value === undefined || hasErrors(parsed.diagnostics)) return done(parsed.diagnostics, source, targets);
  const place = (fs: Finding[]) => fs.map((f) => locate(source, f));
  const schema = validateSchema(parsed.value);
  if (!schema.mesh) return done([...parsed.diagnostics, ...place(schema.findings)], source, targets);
  const mesh = normalize(schema.mesh);
  const ruleFindings = runRules({ written: schema.mesh, mesh });
  // Targets only see a mesh whose references hold.
  const targetFindings = hasErrors(ruleFindings) ? [] : targets.flatMap((t) => t.check(mesh));
  return done([...parsed.diagnostics, ...place(ruleFindings), ...place(targetFindings)], source, targets, mesh);
}

function done(diagnostics: Diagnostic[], source: Source, targets: Target[], mesh?: Mesh): ValidateResult {
  const sorted = sortDiagnostics(diagnostics);
  const ok = !hasErrors(sorted);
  return { ok, diagnostics: sorted, ...(ok && mesh ? { mesh } : {}), source, targets };
}
