import { loadSchema } from '../schema/validate.js';
import { renderReference } from '../schema/reference.js';
import { renderCapabilityMatrix } from '../targets/features.js';
import { TARGETS } from '../targets/registry.js';
import { renderK8sEnv } from '../targets/k8s/names.js';

/** The generated sections of README.md, by marker name. */
export function renderReadmeSections(): Record<string, string> {
  return { 'k8s-env': renderK8sEnv() };
}

/** The generated sections of docs/reference.md: the mesh.yaml reference, from the schema. */
export function renderReferenceSections(): Record<string, string> {
  return { reference: renderReference(loadSchema()) };
}

/** The generated sections of docs/capabilities.md. */
export function renderCapabilitySections(): Record<string, string> {
  return { capabilities: renderCapabilityMatrix(TARGETS) };
}

/** Replaces the text between `<!-- BEGIN name -->` and `<!-- END name -->` for each section. */
export function replaceSections(readme: string, sections: Record<string, string>): string {
  let out = readme;
  for (const [name, body] of Object.entries(sections)) {
    const re = new RegExp(`(<!-- BEGIN ${name} -->\\n)[\\s\\S]*?(<!-- END ${name} -->)`);
    out = out.replace(re, (_, a: string, b: string) => `${a}${body.trimEnd()}\n${b}`);
  }
  return out;
}

export function extractSection(readme: string, name: string): string | undefined {
  const m = new RegExp(`<!-- BEGIN ${name} -->\\n([\\s\\S]*?)<!-- END ${name} -->`).exec(readme);
  return m?.[1];
}
