/**
 * mesh.test.yaml: written expectations about a mesh, read with positions like mesh.yaml and
 * checked with the engine of `meshc explain` (statically) or with traffic (live, see live.ts).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ValidateFunction } from 'ajv';
import { error, pointer, type Diagnostic, type Finding } from '../model/diagnostic.js';
import { serviceByName, type Mesh } from '../model/mesh.js';
import { didYouMean } from '../model/suggest.js';
import { readMeshFile, locate, type Source } from '../source/parse.js';
import { toFindings } from '../schema/validate.js';
import { isUserError } from '../errors.js';
import type { WrittenMesh } from '../schema/written-mesh.js';
import { explain, INTERNET, type Explanation } from './index.js';

const require = createRequire(import.meta.url);

export interface Expectation {
  name: string;
  from: string;
  to: string;
  expect: 'allow' | 'deny';
  route?: string;
  /** JSON pointer of the entry in the tests file. */
  pointer: string;
}

export interface TestFile {
  source: Source;
  tests: Expectation[];
}

let compiled: ValidateFunction | undefined;
/** The tests schema is small: compiled on first use (the mesh schema's validator is pre-generated). */
function validator(): ValidateFunction {
  if (!compiled) {
    const Ajv2020 = require('ajv/dist/2020').default as new (o: object) => { compile(s: object): ValidateFunction };
    const schema = JSON.parse(readFileSync(new URL('../../schemas/mesh-test.schema.json', import.meta.url), 'utf8'));
    compiled = new Ajv2020({ allErrors: true, strict: true, verbose: true }).compile(schema);
  }
  return compiled;
}

/** Reads and checks a tests file: every problem as a diagnostic at its place, or the expectations. */
export async function readTests(file: string, mesh: Mesh, written: WrittenMesh): Promise<{ tests?: TestFile; diagnostics: Diagnostic[] }> {
  const parsed = await readMeshFile(file);
  if (parsed.value === undefined || parsed.diagnostics.some((d) => d.severity === 'error')) return { diagnostics: parsed.diagnostics };
  const validate = validator();
  if (!validate(parsed.value)) return { diagnostics: toFindings(validate.errors ?? []).map((f) => locate(parsed.source, f)) };
  const raw = (parsed.value as { tests: Omit<Expectation, 'pointer' | 'name'>[] & { name?: string }[] }).tests as (Omit<Expectation, 'pointer' | 'name'> & { name?: string })[];
  const tests = raw.map((t, i) => ({ ...t, name: t.name ?? `${t.from} → ${t.to}`, pointer: pointer('tests', i) }));
  const findings: Finding[] = tests.flatMap((t) => referenceProblems(mesh, written, t));
  if (findings.length) return { diagnostics: findings.map((f) => locate(parsed.source, f)) };
  return { tests: { source: parsed.source, tests }, diagnostics: [] };
}

/** An expectation that names nothing callable is an error in the tests file, not a failed test. */
function referenceProblems(mesh: Mesh, written: WrittenMesh, t: Expectation): Finding[] {
  const out: Finding[] = [];
  try {
    explain(mesh, written, t.from, t.to);
  } catch (e) {
    if (!isUserError(e)) throw e;
    const field = /^FROM|gateway/.test(e.message) ? 'from' : 'to';
    out.push(error('invalid-test', `${t.pointer}/${field}`, e.message, e.hint));
  }
  if (t.route !== undefined && !serviceByName(mesh, t.route)) {
    const guess = didYouMean(t.route, mesh.services.map((s) => s.name));
    out.push(error('unknown-service', `${t.pointer}/route`, `route names "${t.route}", which is not a service of the mesh`, guess ? `did you mean "${guess}"?` : undefined));
  }
  return out;
}

export interface TestResult {
  test: Expectation;
  passed: boolean;
  /** What went wrong, in one line (a failure). */
  failure?: string;
  /** What `meshc explain` says about the call. */
  explanation: Explanation;
  /** Live only: what the traffic showed. */
  observed?: string;
}

/** Does an explanation meet an expectation? Undefined when it does, else why not. */
export function judge(t: Expectation, e: Explanation): string | undefined {
  if (e.decision !== t.expect) return `expected ${t.expect}, but the policy ${e.decision === 'allow' ? 'allows' : 'refuses'} it`;
  if (t.route !== undefined && t.expect === 'allow' && e.service !== t.route) return `expected ${t.route} to answer, but ${e.service ?? 'nothing'} does`;
  return undefined;
}

/** Every expectation checked against the policy (no traffic). */
export function runStatic(mesh: Mesh, written: WrittenMesh, tests: readonly Expectation[]): TestResult[] {
  return tests.map((test) => {
    const explanation = explain(mesh, written, test.from, test.to);
    const failure = judge(test, explanation);
    return { test, passed: failure === undefined, ...(failure ? { failure } : {}), explanation };
  });
}

export { INTERNET };
