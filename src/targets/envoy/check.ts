/**
 * What the Envoy target cannot express for a mesh. Envoy covers every policy of the mesh for
 * HTTP services; what remains are TCP services asked for HTTP-only features, and domain patterns
 * that Envoy's SNI and virtual-host matching cannot take.
 */
import { type Finding, error, pointer, warning } from '../../model/diagnostic.js';
import type { Mesh } from '../../model/mesh.js';
import { unsupported } from '../features.js';
import { capabilities } from './capabilities.js';

/** The codes of the capability matrix's findings (src/targets/features.ts). */
const ERROR = 'unsupported-feature';
const PARTIAL = 'partially-supported-feature';

export function checkEnvoy(mesh: Mesh): Finding[] {
  // The capability matrix (every row `yes` for Envoy), then combinations the matrix has no row for.
  const findings: Finding[] = [...unsupported({ name: 'envoy', capabilities }, mesh)];
  for (const svc of mesh.services) {
    if (svc.protocol !== 'tcp') continue;
    const hashOn = svc.loadBalancing.hashOn;
    if (hashOn && hashOn.kind !== 'sourceIp' && (svc.loadBalancing.policy === 'ring_hash' || svc.loadBalancing.policy === 'maglev')) {
      findings.push(
        error(
          ERROR,
          pointer('spec', 'services', svc.name, 'loadBalancing', 'hashOn'),
          `envoy: service "${svc.name}" uses protocol tcp, where Envoy's tcp_proxy can hash only on the source address, not on a ${hashOn.kind}`,
          'use `hashOn: { sourceIp: true }`, or protocol http',
        ),
      );
    }
    const other = svc.retries.retryOn.filter((c) => c !== 'connect-failure');
    if (svc.retries.attempts > 0 && other.length > 0) {
      findings.push(
        warning(
          PARTIAL,
          pointer('spec', 'services', svc.name, 'retries', 'retryOn'),
          `envoy: service "${svc.name}" uses protocol tcp, where Envoy retries only connect failures (tcp_proxy max_connect_attempts), not ${other.join(', ')}`,
          'set `retryOn: [connect-failure]`',
        ),
      );
    }
    if (svc.timeouts.requestMs !== undefined) {
      findings.push(
        warning(
          PARTIAL,
          pointer('spec', 'services', svc.name, 'timeouts', 'request'),
          `envoy: service "${svc.name}" uses protocol tcp, which has no request timeout in Envoy's tcp_proxy`,
          'use `timeouts.idle` for TCP',
        ),
      );
    }
  }
  const badPattern = (name: string) => name.includes('*') && !/^\*\.[^*]+$/.test(name);
  mesh.egress.allow.forEach((name) => {
    if (badPattern(name)) findings.push(patternError(pointer('spec', 'egress', 'allow'), name));
  });
  for (const svc of mesh.services) {
    for (const name of svc.ownEgress) if (badPattern(name)) findings.push(patternError(pointer('spec', 'services', svc.name, 'egress'), name));
  }
  for (const host of mesh.ingress.hosts) {
    if (badPattern(host.host)) findings.push(patternError(pointer('spec', 'ingress', 'hosts', host.host), host.host));
  }
  return findings;
}

function patternError(at: string, name: string): Finding {
  return error(
    ERROR,
    at,
    `envoy: "${name}" is not a name Envoy can match by SNI or Host: only exact names and a leading "*." wildcard are possible`,
    'write the exact name, or `*.` followed by the parent domain',
  );
}
