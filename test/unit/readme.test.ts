import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractSection, renderCapabilitySections, renderReadmeSections, renderReferenceSections } from '../../src/docs/readme.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const reference = readFileSync(new URL('../../docs/reference.md', import.meta.url), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('README.md', () => {
  it('has the generated sections exactly as their sources render them (npm run gen:readme)', () => {
    for (const [name, body] of Object.entries(renderReadmeSections())) expect(extractSection(readme, name), name).toBe(body.trimEnd() + '\n');
    expect(Object.keys(renderReferenceSections())).toContain('reference');
    for (const [name, body] of Object.entries(renderReferenceSections())) expect(extractSection(reference, name), name).toBe(body.trimEnd() + '\n');
    const capabilities = readFileSync(new URL('../../docs/capabilities.md', import.meta.url), 'utf8');
    for (const [name, body] of Object.entries(renderCapabilitySections())) expect(extractSection(capabilities, name), name).toBe(body.trimEnd() + '\n');
  });

  it('stays a user\'s guide: under 50 KB', () => {
    expect(Buffer.byteLength(readme)).toBeLessThan(50 * 1024);
  });

  it('lists every diagnostic code the source can produce (docs/reference.md)', () => {
    const section = extractSection(reference, 'diagnostics') ?? '';
    const codes = new Set<string>();
    const patterns = [/\b(?:error|warning|bad)\(\s*'([a-z0-9-]+)'/g, /code: '([a-z0-9-]+)'/g, /code[^\n]*\? '([a-z0-9-]+)' : '([a-z0-9-]+)'/g];
    for (const file of sources(new URL('../../src', import.meta.url).pathname)) {
      const text = readFileSync(file, 'utf8');
      for (const re of patterns) for (const m of text.matchAll(re)) for (const c of m.slice(1)) if (c && /-/.test(c) && c !== 'ca-previous') codes.add(c);
    }
    const missing = [...codes].filter((c) => !section.includes(`\`${c}\``));
    expect(missing).toEqual([]);
  });

  it('documents every command', async () => {
    const { createProgram } = await import('../../src/cli/program.js');
    const program = createProgram();
    const names = program.commands.flatMap((c) => (c.commands.length ? c.commands.map((s) => `${c.name()} ${s.name()}`) : [c.name()]));
    for (const n of names) expect(readme, n).toContain(`\`meshc ${n}`);
  });
});
