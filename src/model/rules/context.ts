import type { Finding } from '../diagnostic.js';
import type { Mesh } from '../mesh.js';
import type { WrittenMesh } from '../../schema/written-mesh.js';

/** What every rule sees: the mesh as written (for pointers to what the user typed) and as normalized. */
export interface RuleContext {
  written: WrittenMesh;
  mesh: Mesh;
}

/** A rule: a small named check that returns what it found. */
export type Rule = (ctx: RuleContext) => Finding[];

/** The upstream entries of a written service, with their index, whatever form they were written in. */
export function writtenUpstreams(w: WrittenMesh, service: string): { name: string; index: number; pinned?: number }[] {
  return (w.spec.services[service]?.upstreams ?? []).map((u, index) =>
    typeof u === 'string' ? { name: u, index } : { name: u.service, index, pinned: u.localPort },
  );
}

export function writtenServiceNames(w: WrittenMesh): string[] {
  return Object.keys(w.spec.services ?? {});
}
