/**
 * Rows of the capability matrix for `spec.telemetry` access logs and traces (see features.ts).
 * Access logs and trace context are on by default, so their rows flag only what mesh.yaml writes:
 * a default that every build would warn about is noise.
 */
import { pointer } from '../model/diagnostic.js';
import type { Mesh } from '../model/mesh.js';
import { STDERR, STDOUT } from '../model/telemetry.js';
import type { Feature } from './features.js';

const logPtr = (...rest: string[]) => pointer('spec', 'telemetry', 'accessLog', ...rest);

export const TELEMETRY_FEATURES: Feature[] = [
  {
    id: 'access-log',
    title: 'JSON access log in meshc\'s schema, one line per request or connection (`telemetry.accessLog`, on by default)',
    uses: (mesh: Mesh) => (mesh.telemetry.accessLog.written && mesh.telemetry.accessLog.enabled ? [{ pointer: logPtr(), field: 'telemetry.accessLog' }] : []),
  },
  {
    id: 'access-log-file',
    title: '`telemetry.accessLog.path` other than `/dev/stdout` or `/dev/stderr`',
    uses: (mesh: Mesh) => {
      const log = mesh.telemetry.accessLog;
      return log.enabled && log.path !== STDOUT && log.path !== STDERR ? [{ pointer: logPtr('path'), field: `telemetry.accessLog.path: ${log.path}` }] : [];
    },
  },
  {
    id: 'access-log-handshake-refusals',
    title: 'a JSON log line for a connection refused during its TLS handshake (unknown SNI at the ingress)',
    uses: () => [],
  },
  {
    id: 'trace-context',
    title: 'W3C `traceparent` and `x-request-id` started at the ingress gateway when absent, passed on by every hop',
    uses: () => [],
  },
  {
    id: 'tracing-otlp',
    title: 'spans exported over OTLP (`telemetry.tracing`)',
    uses: (mesh: Mesh) => (mesh.telemetry.tracing ? [{ pointer: pointer('spec', 'telemetry', 'tracing'), field: 'telemetry.tracing' }] : []),
  },
];
