/**
 * Access logs of the nginx target (`spec.telemetry.accessLog`): which JSON log formats a
 * workload's config defines (templates access-log-http.hbs and access-log-stream.hbs), one per
 * kind of server that carries mesh traffic. The probe and admin servers do not log.
 */
import type { Mesh } from '../../model/mesh.js';

export interface LogView {
  path: string;
  /** http: the inbound mTLS server. */
  inbound: boolean;
  /** http: outbound servers to HTTP upstreams. */
  outbound: boolean;
  ingress: boolean;
  /** http and stream: the egress servers. */
  egress: boolean;
  /** stream: the inbound server of a tcp service. */
  tcpInbound: boolean;
  /** stream: outbound servers to tcp upstreams. */
  tcpOutbound: boolean;
}

/** The formats a workload needs, or false when access logs are off. */
export function logView(mesh: Mesh, has: Partial<Omit<LogView, 'path'>>): LogView | false {
  const log = mesh.telemetry.accessLog;
  if (!log.enabled) return false;
  return {
    path: log.path,
    inbound: has.inbound ?? false,
    outbound: has.outbound ?? false,
    ingress: has.ingress ?? false,
    egress: has.egress ?? false,
    tcpInbound: has.tcpInbound ?? false,
    tcpOutbound: has.tcpOutbound ?? false,
  };
}
