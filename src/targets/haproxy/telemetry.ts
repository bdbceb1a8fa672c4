/**
 * Access logs of the HAProxy target (`spec.telemetry.accessLog`): the `log` and `log-format`
 * lines of each frontend that carries mesh traffic, one JSON line per request or connection in the
 * schema of schemas/access-log.schema.json.
 *
 * HAProxy 2.6 reads request headers in a log format only through variables, so the frontends set
 * `txn.meshc_*` variables as the request passes (templates) and the format prints them, each as a
 * JSON string (`%{+Q}[...,json(utf8s)]`: an unset variable prints `""`). The time is when the line
 * is written: 2.6 has no fetch of the accept date that it can format as RFC 3339.
 */
import type { Mesh } from '../../model/mesh.js';
import { STDERR } from '../../model/telemetry.js';

type Kind = 'inbound' | 'outbound' | 'ingress' | 'egress';

const v = (name: string, json = false) => `%{+Q}[var(txn.meshc_${name})${json ? ',json(utf8s)' : ''}]`;

function format(workload: string, kind: Kind, protocol: 'http' | 'tcp' | 'tls', destination?: string): string {
  const http = protocol === 'http';
  const fields: [string, string][] = [
    ['time', '"%[date,utime(%Y-%m-%dT%H:%M:%SZ)]"'],
    ['proxy', '"haproxy"'],
    ['workload', `"${workload}"`],
    ['direction', `"${kind}"`],
    ['protocol', `"${protocol}"`],
    ['source', kind === 'inbound' ? v('source', true) : '""'],
    ['sourceAddress', '"%ci:%cp"'],
    ['destination', destination !== undefined ? `"${destination}"` : kind === 'ingress' ? v('destination') : '""'],
    ['domain', http ? v('host', true) : protocol === 'tls' ? v('sni', true) : '""'],
    ['method', http ? v('method', true) : '""'],
    ['path', http ? v('path', true) : '""'],
    ['status', http ? '%ST' : '0'],
    // HTTP: `ok` once a server response passed (http-response), `refused` by a rule, else `error`.
    // tcp, tls: `refused` by a rule, else `ok` (the termination state in `detail` tells more).
    ['outcome', `%{+Q}[var(txn.meshc_outcome,${http ? 'error' : 'ok'})]`],
    ['reason', v('reason')],
    ['detail', '"%ts"'],
    ['bytesReceived', '%U'],
    ['bytesSent', '%B'],
    ['durationMs', http ? '%Ta' : '%Tt'],
    ['upstream', http ? v('upstream') : '"%si:%sp"'],
    ['requestId', http ? v('request_id', true) : '""'],
    ['traceparent', http ? v('traceparent', true) : '""'],
  ];
  return `{${fields.map(([k, val]) => `"${k}":${val}`).join(',')}}`;
}

/**
 * The `log` and `log-format` lines of one frontend (indented for it), or '' when access logs are
 * off. `destination`: the service the frontend's traffic is for, when it is fixed.
 */
export function frontendLog(mesh: Mesh, workload: string, kind: Kind, protocol: 'http' | 'tcp' | 'tls', destination?: string): string {
  const log = mesh.telemetry.accessLog;
  if (!log.enabled) return '';
  // HAProxy writes to standard output or error, not to files (the capability row access-log-file).
  const target = log.path === STDERR ? 'stderr' : 'stdout';
  return [`    log ${target} format raw local0 info`, `    log-format '${format(workload, kind, protocol, destination)}'`].join('\n');
}
