import { error, pointer, type Finding } from '../diagnostic.js';
import type { Mesh, SidecarPorts } from '../mesh.js';
import type { Rule } from './context.js';

interface Bound {
  address: string;
  port: number;
  what: string;
  /** Made only for a clash: the rules run for every listener of every service. */
  ptr: () => string;
  hint?: string;
}

/** Two listeners clash when their ports are equal and their addresses overlap (0.0.0.0 overlaps all). */
function clashes(list: Bound[]): [Bound, Bound][] {
  const out: [Bound, Bound][] = [];
  for (let i = 0; i < list.length; i++)
    for (let j = 0; j < i; j++) {
      const a = list[j];
      const b = list[i];
      if (a.port === b.port && (a.address === b.address || a.address === '0.0.0.0' || b.address === '0.0.0.0')) out.push([a, b]);
    }
  return out;
}

function report(list: Bound[]): Finding[] {
  return clashes(list).map(([a, b]) => error('port-conflict', b.ptr(), `${b.what} uses port ${b.port}, which ${a.what} already uses`, b.hint ?? a.hint ?? 'choose another port'));
}

/** The metrics listener of a workload, when metrics are on (after its fixed listeners, so a clash with one of them is reported at `telemetry.metrics.port`). */
function metricsBound(mesh: Mesh, address: string, what: string): Bound[] {
  const m = mesh.telemetry.metrics;
  return m.enabled ? [{ address, port: m.port, what, ptr: () => pointer('spec', 'telemetry', 'metrics', 'port') }] : [];
}

/** Within one workload, every listener (and the application itself) needs its own address and port. */
export const sidecarPortsUnique: Rule = ({ mesh }) =>
  mesh.services.flatMap((s) => {
    const sc: SidecarPorts = s.sidecar;
    const sp = (field: string) => () => pointer('spec', 'services', s.name, 'sidecar', field);
    const list: Bound[] = [
      { address: sc.appAddress, port: s.port, what: `${s.name}'s application (port)`, ptr: () => pointer('spec', 'services', s.name, 'port') },
      { address: sc.bindAddress, port: sc.inboundPort, what: `${s.name}'s inbound listener`, ptr: sp('inboundPort') },
      { address: sc.bindAddress, port: sc.probePort, what: `${s.name}'s probe listener`, ptr: sp('probePort') },
      { address: sc.localAddress, port: sc.adminPort, what: `${s.name}'s admin listener`, ptr: sp('adminPort') },
      { address: sc.localAddress, port: sc.egressHttpPort, what: `${s.name}'s HTTP egress listener`, ptr: sp('egressHttpPort') },
      { address: sc.localAddress, port: sc.egressTlsPort, what: `${s.name}'s TLS egress listener`, ptr: sp('egressTlsPort') },
      ...metricsBound(mesh, sc.bindAddress, `${s.name}'s metrics listener`),
      ...s.upstreams.map((u, i) => ({
        address: sc.localAddress,
        port: u.localPort,
        what: `${s.name}'s outbound listener for ${u.service}${u.derivedPort ? ' (derived port)' : ''}`,
        ptr: () => pointer('spec', 'services', s.name, 'upstreams', i),
        hint: u.derivedPort ? `pin it: upstreams: [{ service: ${u.service}, localPort: <free port> }]` : undefined,
      })),
    ];
    return report(list);
  });

/** The gateways' own listeners. */
export const gatewayPortsUnique: Rule = ({ mesh }) => {
  const ig = mesh.ingress;
  const eg = mesh.egressGateway;
  const ip = (f: string) => () => pointer('spec', 'ingress', f);
  const ep = (f: string) => () => pointer('spec', 'egress', 'gateway', f);
  return [
    ...(ig.hosts.length
      ? report([
          { address: ig.bindAddress, port: ig.httpPort, what: 'the ingress gateway HTTP listener', ptr: ip('httpPort') },
          { address: ig.bindAddress, port: ig.httpsPort, what: 'the ingress gateway HTTPS listener', ptr: ip('httpsPort') },
          { address: '127.0.0.1', port: ig.adminPort, what: 'the ingress gateway admin listener', ptr: ip('adminPort') },
          ...metricsBound(mesh, ig.bindAddress, 'the ingress gateway metrics listener'),
        ])
      : []),
    ...report([
      { address: eg.bindAddress, port: eg.httpPort, what: 'the egress gateway HTTP listener', ptr: ep('httpPort') },
      { address: eg.bindAddress, port: eg.tlsPort, what: 'the egress gateway TLS listener', ptr: ep('tlsPort') },
      { address: '127.0.0.1', port: eg.adminPort, what: 'the egress gateway admin listener', ptr: ep('adminPort') },
      ...metricsBound(mesh, eg.bindAddress, 'the egress gateway metrics listener'),
    ]),
  ];
};

/** The same endpoint twice would double its share of traffic silently. */
export const uniqueEndpoints: Rule = ({ mesh }) =>
  mesh.services.flatMap((s) => {
    const seen = new Set<string>();
    return s.endpoints.flatMap((e, i) => {
      const key = `${e.host}:${e.port}`;
      if (!seen.has(key)) {
        seen.add(key);
        return [];
      }
      return [error('duplicate-endpoint', pointer('spec', 'services', s.name, 'endpoints'), `${s.name} lists endpoint ${key} more than once`, 'use weight to give an endpoint more traffic')];
    });
  });
