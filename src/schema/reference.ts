/**
 * The mesh.yaml reference in docs/reference.md, generated from the schema so the two never disagree
 * (`npm run gen:readme`; test/unit/readme.test.ts fails when it drifts).
 */
type S = Record<string, unknown>;

/** A definition used in several places is described once; later uses point at the first. */
export function renderReference(schema: S): string {
  const defs = (schema.$defs ?? {}) as Record<string, S>;
  const deref = (s: S): S => (typeof s.$ref === 'string' ? deref(defs[(s.$ref as string).replace('#/$defs/', '')]) : s);
  const sections: string[] = [];
  const seen = new Set<string>();
  /** Definitions with fields of their own, by name → the title they are described under. */
  const described = new Map<string, string>();
  const defName = (p: S): string | undefined => (typeof p.$ref === 'string' ? (p.$ref as string).replace('#/$defs/', '') : undefined);
  const childTitle = (title: string, name: string) => `${title === '(top level)' ? '' : title + '.'}${name}`;

  const typeOf = (raw: S): string => {
    const s = deref(raw);
    if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
    if (Array.isArray(s.enum)) return (s.enum as unknown[]).map((e) => `\`${e}\``).join(' \\| ');
    if (Array.isArray(s.oneOf)) return (s.oneOf as S[]).map(typeOf).join(' or ');
    if (s.type === 'array') return `list of ${typeOf(s.items as S)}`;
    if (s.type === 'object') return s.additionalProperties && typeof s.additionalProperties === 'object' ? 'map' : 'object';
    if (s.type === 'integer') {
      const lo = s.minimum;
      const hi = s.maximum;
      return lo !== undefined && hi !== undefined ? `integer ${lo}–${hi}` : lo !== undefined ? `integer ≥ ${lo}` : 'integer';
    }
    if (s.format === 'ipv4') return 'IPv4 address';
    return String(s.type ?? 'value');
  };

  const visit = (title: string, raw: S) => {
    const s = deref(raw);
    if (seen.has(title)) return;
    seen.add(title);
    const props = (s.properties ?? {}) as Record<string, S>;
    const required = new Set((s.required ?? []) as string[]);
    for (const [name, p] of Object.entries(props)) {
      const def = defName(p);
      if (def !== undefined && deref(p).properties && !described.has(def)) described.set(def, childTitle(title, name));
    }
    const rows = Object.entries(props).map(([name, p]) => {
      let desc = String(p.description ?? deref(p).description ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
      const def = defName(p);
      const first = def !== undefined && deref(p).properties ? described.get(def) : undefined;
      if (first !== undefined && first !== childTitle(title, name)) desc += ` Fields as in \`${first}\`.`;
      return `| \`${name}\`${required.has(name) ? ' (required)' : ''} | ${typeOf(p)} | ${desc} |`;
    });
    sections.push(`#### \`${title}\`\n\n${String(s.description ?? '')}\n\n| field | type | meaning |\n|---|---|---|\n${rows.join('\n')}\n`);
    for (const [name, p] of Object.entries(props)) {
      const d = deref(p);
      const child = childTitle(title, name);
      const def = defName(p);
      if (d.properties && def !== undefined && described.get(def) !== child) continue;
      if (d.properties) visit(child, d);
      else if (d.type === 'object' && d.additionalProperties && typeof d.additionalProperties === 'object') {
        const key = name === 'services' ? '<service>' : name === 'hosts' ? '<host>' : '<key>';
        visit(`${child}.${key}`, d.additionalProperties as S);
      } else if (d.type === 'array' && d.items) {
        const item = deref(d.items as S);
        if (item.properties) visit(`${child}[]`, item);
        for (const branch of (item.oneOf ?? []) as S[]) if (deref(branch).properties) visit(`${child}[]`, deref(branch));
      } else if (Array.isArray(d.oneOf)) {
        for (const branch of d.oneOf as S[]) if (deref(branch).properties) visit(child, deref(branch));
      }
    }
  };
  visit('(top level)', schema);
  return sections.join('\n');
}
