/**
 * nginx target: `nginx/<service>.conf` per service sidecar, `nginx/ingress-gateway.conf` and
 * `nginx/egress-gateway.conf` (both always; without hosts or an allow-list they refuse everything).
 * Run each as `nginx -p <runtime>/ -c <out>/nginx/<workload>.conf -e stderr` with `run/` and `tmp/`
 * under the prefix, a folder outside the output tree (see view.ts for how nginx resolves relative paths).
 */
import { error, pointer, type Finding } from '../../model/diagnostic.js';
import type { Mesh } from '../../model/mesh.js';
import { unsupported } from '../features.js';
import { capabilities } from './capabilities.js';
import { render } from '../render.js';
import { wanted, type OutputFile, type Target } from '../target.js';
import { egressGatewayView, ingressView, sidecarView } from './view.js';
import { nginxVerifier } from './verify.js';


/** Names nginx can carry in a variable name (`$http_<name>`, `$cookie_<name>`). */
function nameFindings(mesh: Mesh): Finding[] {
  const out: Finding[] = [];
  for (const s of mesh.services) {
    const h = s.loadBalancing.hashOn;
    if (!h || (s.loadBalancing.policy !== 'ring_hash' && s.loadBalancing.policy !== 'maglev')) continue;
    if (h.kind === 'header' && !/^[A-Za-z0-9_-]+$/.test(h.name)) {
      out.push(error('unsupported-feature', pointer('spec', 'services', s.name, 'loadBalancing', 'hashOn', 'header'),
        `nginx cannot express loadBalancing.hashOn.header "${h.name}": nginx reads headers through variables ($http_<name>), which allow only letters, digits, '-' and '_'`,
        'rename the header'));
    }
    if (h.kind === 'cookie' && !/^[A-Za-z0-9_]+$/.test(h.name)) {
      out.push(error('unsupported-feature', pointer('spec', 'services', s.name, 'loadBalancing', 'hashOn', 'cookie', 'name'),
        `nginx cannot express loadBalancing.hashOn.cookie "${h.name}": nginx reads cookies through variables ($cookie_<name>), which allow only letters, digits and '_'`,
        'rename the cookie'));
    }
  }
  return out;
}

export function checkNginx(mesh: Mesh): Finding[] {
  return [...unsupported({ name: 'nginx', capabilities }, mesh), ...nameFindings(mesh)];
}

export function* emitNginx(mesh: Mesh, only?: ReadonlySet<string>): Iterable<OutputFile> {
  for (const s of mesh.services) if (wanted(only, s.name)) yield { path: `nginx/${s.name}.conf`, content: render('nginx', 'sidecar', sidecarView(mesh, s)) };
  // The gateways are always generated: without hosts (or an allow-list) they refuse everything.
  yield { path: `nginx/${mesh.ingress.name}.conf`, content: render('nginx', 'ingress', ingressView(mesh)) };
  yield { path: `nginx/${mesh.egressGateway.name}.conf`, content: render('nginx', 'egress-gateway', egressGatewayView(mesh)) };
}

export const nginxTarget: Target = {
  name: 'nginx',
  description: 'nginx configs: a sidecar per service, the ingress and egress gateways (nginx/*.conf)',
  readme: {
    what: 'nginx configs: a sidecar per service, the ingress and egress gateways',
    use: '`cd <out> && nginx -p <runtime>/ -c "$PWD/nginx/<workload>.conf" -e stderr`, where `<runtime>/` is a writable folder outside this one holding `run/` and `tmp/`',
  },
  check: checkNginx,
  capabilities,
  verifier: nginxVerifier,
  // Certificates are referenced by path (certs/, secrets/); nginx reads PEM files as they are.
  emit: (mesh, _certs, only) => emitNginx(mesh, only),
};
