/**
 * HAProxy target: `haproxy/<service>.cfg` per service sidecar, `haproxy/ingress-gateway.cfg` and
 * `haproxy/egress-gateway.cfg` (always; without hosts or an allow-list they refuse everything),
 * the ingress `.crtlist` when there are hosts, and the cert+key bundles `crt` needs under `secrets/haproxy/`.
 * Run each from the output root: `haproxy -db -f haproxy/<workload>.cfg`.
 */
import type { CertMaterial, IssuedCert } from '../../certs/material.js';
import type { Finding } from '../../model/diagnostic.js';
import type { Mesh } from '../../model/mesh.js';
import { unsupported } from '../features.js';
import { capabilities } from './capabilities.js';
import { render } from '../render.js';
import { wanted, type OutputFile, type Target } from '../target.js';
import { haproxyVerifier } from './verify.js';
import { bundlePath, crtList, crtListPath, egressGatewayView, ingressBundlePath, ingressView, sidecarView } from './view.js';


export function checkHaproxy(mesh: Mesh): Finding[] {
  return unsupported({ name: 'haproxy', capabilities }, mesh);
}

/** Certificate then key in one PEM file, as `crt` wants it. Private: mode 0600. */
function bundle(path: string, cert: IssuedCert): OutputFile {
  const withNl = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
  return { path, content: withNl(cert.certPem) + withNl(cert.keyPem), mode: 0o600 };
}

export function* emitHaproxy(mesh: Mesh, certs: CertMaterial, only?: ReadonlySet<string>): Iterable<OutputFile> {
  const workloadBundle = (identity: string) => {
    const c = certs.workloads.get(identity);
    if (!c) throw new Error(`haproxy: no certificate for ${identity}`);
    return bundle(bundlePath(identity), c);
  };
  for (const s of mesh.services) {
    if (!wanted(only, s.name)) continue;
    yield { path: `haproxy/${s.name}.cfg`, content: render('haproxy', 'sidecar', sidecarView(mesh, s)) };
    yield workloadBundle(s.name);
  }
  // The gateways are always generated: without hosts (or an allow-list) they refuse everything.
  yield { path: `haproxy/${mesh.ingress.name}.cfg`, content: render('haproxy', 'ingress', ingressView(mesh)) };
  if (mesh.ingress.hosts.length > 0) {
    yield { path: crtListPath(mesh.ingress.name), content: crtList(mesh) };
    yield workloadBundle(mesh.ingress.name);
    for (const h of mesh.ingress.hosts) {
      const c = certs.ingressHosts.get(h.host);
      if (!c) throw new Error(`haproxy: no certificate for ingress host ${h.host}`);
      yield bundle(ingressBundlePath(h.host), c);
    }
  }
  yield { path: `haproxy/${mesh.egressGateway.name}.cfg`, content: render('haproxy', 'egress-gateway', egressGatewayView(mesh)) };
}

export const haproxyTarget: Target = {
  name: 'haproxy',
  description: 'HAProxy configs: a sidecar per service, the ingress and egress gateways (haproxy/*.cfg)',
  readme: {
    what: 'HAProxy configs: a sidecar per service, the ingress and egress gateways (certificate+key bundles in `secrets/haproxy/`)',
    use: '`cd <out> && haproxy -db -f haproxy/<workload>.cfg`',
  },
  check: checkHaproxy,
  capabilities,
  verifier: haproxyVerifier,
  emit: emitHaproxy,
};
