/**
 * `spec.telemetry`: what the proxies report. Metrics, access logs and trace context are on by
 * default; span export needs an OTLP endpoint.
 */
import type { WrittenMesh } from '../schema/written-mesh.js';
import type { HostPort, Metrics } from './mesh.js';

/** Where access logs go unless `telemetry.accessLog.path` says otherwise: the container's output. */
export const STDOUT = '/dev/stdout';
export const STDERR = '/dev/stderr';

export interface AccessLog {
  enabled: boolean;
  /** A file path; `/dev/stdout` by default. */
  path: string;
  /** Whether mesh.yaml writes `telemetry.accessLog` (capability rows flag only what the user asked for). */
  written: boolean;
}

export interface Tracing {
  endpoint: HostPort;
  protocol: 'grpc' | 'http';
  /** 0 to 100. */
  samplingPercent: number;
}

export interface Telemetry {
  metrics: Metrics;
  accessLog: AccessLog;
  /** Absent: trace context is started and propagated, no span is exported. */
  tracing?: Tracing;
}

type WrittenTelemetry = NonNullable<WrittenMesh['spec']['telemetry']>;

export function normalizeTelemetry(w: WrittenTelemetry | undefined, parseHostPort: (s: string) => HostPort, metrics: Metrics): Telemetry {
  const log = w?.accessLog;
  const t = w?.tracing;
  return {
    metrics,
    accessLog: { enabled: log?.enabled ?? true, path: log?.path ?? STDOUT, written: log !== undefined },
    ...(t ? { tracing: { endpoint: parseHostPort(t.endpoint), protocol: t.protocol ?? 'grpc', samplingPercent: t.samplingPercent ?? 100 } } : {}),
  };
}
