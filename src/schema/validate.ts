import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { error, type Finding } from '../model/diagnostic.js';
import { didYouMean } from '../model/suggest.js';
import type { WrittenMesh } from './written-mesh.js';

const require = createRequire(import.meta.url);

/** The JSON Schema of mesh.yaml, read from the package's schemas/ folder. */
export function loadSchema(): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL('../../schemas/mesh.schema.json', import.meta.url), 'utf8'));
}

let compiled: ValidateFunction | undefined;

/** Compiled once, on first use (no work at import time). */
function validator(): ValidateFunction {
  if (!compiled) {
    const Ajv2020 = require('ajv/dist/2020').default;
    const addFormats = require('ajv-formats');
    const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
    addFormats(ajv, ['ipv4']);
    compiled = ajv.compile(loadSchema());
  }
  return compiled!;
}

/** Schema stage: findings for everything that does not match the schema. */
export function validateSchema(value: unknown): { mesh?: WrittenMesh; findings: Finding[] } {
  const validate = validator();
  if (validate(value)) return { mesh: value as WrittenMesh, findings: [] };
  return { findings: toFindings(validate.errors ?? []) };
}

function describe(schema: unknown): string | undefined {
  return (schema as { description?: string } | undefined)?.description;
}

function toFindings(errors: ErrorObject[]): Finding[] {
  // A oneOf failure reports every branch; keep only the oneOf error itself, described by its schema.
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  const kept = errors.filter((e) => {
    if (e.keyword === 'oneOf') return true;
    if (e.keyword === 'propertyNames') return false; // reported through the inner error with propertyName
    // At the oneOf's own path the branch errors are noise; deeper errors (a bad field inside the
    // object form) are kept because they say what to fix.
    if (oneOfPaths.has(e.instancePath)) return false;
    return true;
  });
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const e of kept) {
    const f = toFinding(e);
    const key = `${f.code}|${f.pointer}|${f.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(f);
    }
  }
  return out;
}

function where(path: string): string {
  return path === '' ? 'the top level' : path.slice(1).split('/').join('.');
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
}

function toFinding(e: ErrorObject): Finding {
  const path = e.instancePath;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      const allowed = Object.keys((e.parentSchema as { properties?: object })?.properties ?? {});
      const guess = didYouMean(name, allowed);
      return { ...error('unknown-field', `${path}/${escape(name)}`, `unknown field "${name}" in ${where(path)}`, guess ? `did you mean "${guess}"?` : allowed.length ? `allowed fields: ${allowed.join(', ')}` : undefined), atKey: true };
    }
    case 'required':
      return error('missing-field', path, `${where(path)} is missing the required field "${params.missingProperty}"`, describe(((e.parentSchema as { properties?: Record<string, unknown> })?.properties ?? {})[String(params.missingProperty)]));
    case 'type':
      return error('wrong-type', path, `${where(path)} must be ${article(String(params.type))}, not ${typeName(e.data)} ${show(e.data)}`, describe(e.parentSchema));
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const guess = typeof e.data === 'string' ? didYouMean(e.data, allowed) : undefined;
      return error('invalid-value', path, `${where(path)} is ${show(e.data)}; expected one of ${allowed.join(', ')}`, guess ? `did you mean "${guess}"?` : undefined);
    }
    case 'const':
      return error('invalid-value', path, `${where(path)} is ${show(e.data)}; expected ${show(params.allowedValue)}`, describe(e.parentSchema));
    case 'pattern':
    case 'format':
    case 'maxLength':
    case 'minLength': {
      if (params.propertyName !== undefined || e.propertyName !== undefined) {
        const name = String(e.propertyName ?? params.propertyName);
        return { ...error('invalid-name', `${path}/${escape(name)}`, `"${name}" in ${where(path)} is not a valid name`, describe(e.parentSchema)), atKey: true };
      }
      return error('invalid-format', path, `${where(path)} is ${show(e.data)}, which is not valid`, describe(e.parentSchema));
    }
    case 'oneOf': {
      const consts = ((e.parentSchema as { oneOf?: { const?: unknown }[] })?.oneOf ?? []).map((b) => b.const).filter((c): c is string => typeof c === 'string');
      const guess = typeof e.data === 'string' ? didYouMean(e.data, consts) : undefined;
      return error('invalid-value', path, `${where(path)} is ${show(e.data)}, which matches none of the allowed forms`, guess ? `did you mean "${guess}"? ${describe(e.parentSchema) ?? ''}`.trim() : describe(e.parentSchema));
    }
    default:
      return error('invalid-value', path, `${where(path)} ${e.message ?? 'is not valid'}`, describe(e.parentSchema));
  }
}

function escape(seg: string): string {
  return seg.replace(/~/g, '~0').replace(/\//g, '~1');
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `the ${typeof v}`;
}
