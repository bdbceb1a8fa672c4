import { stringify } from 'yaml';

/**
 * The one YAML serializer for structured outputs (Envoy, Kubernetes, Istio). Keys are sorted
 * recursively by code unit, `undefined` is dropped, long strings are never folded, anchors and
 * aliases are never emitted: the same object always gives the same bytes.
 */
export function toYaml(value: unknown, header?: string): string {
  const body = stringify(sortKeys(value), {
    lineWidth: 0,
    minContentWidth: 0,
    aliasDuplicateObjects: false,
    indentSeq: true,
    singleQuote: false,
  });
  return header ? `# ${header}\n${body}` : body;
}

/** Several documents in one file, separated by `---`. */
export function toYamlDocuments(values: unknown[], header?: string): string {
  const docs = values.map((v) => toYaml(v));
  return (header ? `# ${header}\n` : '') + docs.join('---\n');
}

/** Recursively sorts object keys (code-unit order) and drops undefined values. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => v !== undefined).map(sortKeys);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** Deterministic JSON (sorted keys, two-space indent, trailing newline). */
export function toJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2) + '\n';
}
