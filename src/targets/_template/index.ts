/**
 * The folder to copy for a new target (not registered). A target is one folder:
 *
 *   index.ts          the Target: name, description, check, emit, capabilities, verifier
 *   capabilities.ts   its column of the capability matrix: a Cell per feature (features.ts)
 *   templates/*.hbs   text formats only, rendered with render('<name>', '<template>', view)
 *   verify.ts         optional: how `meshc verify` checks its files with the real proxy
 *
 * Then add one line to registry.ts, run `npm run gen:readme` (the matrix gains a column), and
 * add a fixture's golden files. Emit only from the mesh and the certificates: no I/O, no clock.
 */
import type { Finding } from '../../model/diagnostic.js';
import type { Mesh } from '../../model/mesh.js';
import { unsupported } from '../features.js';
import { render } from '../render.js';
import { GENERATED_HEADER, wanted, type OutputFile, type Target } from '../target.js';
import { capabilities } from './capabilities.js';

const NAME = '_template';

function check(mesh: Mesh): Finding[] {
  return unsupported({ name: NAME, capabilities }, mesh);
}

export const templateTarget: Target = {
  name: NAME,
  description: 'a skeleton to copy: one text file per service listing its upstreams',
  check,
  *emit(mesh, _certs, only): Iterable<OutputFile> {
    for (const s of mesh.services) {
      if (!wanted(only, s.name)) continue;
      const view = { header: GENERATED_HEADER, name: s.name, upstreams: s.upstreams.map((u) => ({ service: u.service, port: u.localPort })) };
      yield { path: `${NAME}/${s.name}.conf`, content: render(NAME, 'service', view) };
    }
  },
  capabilities,
};
