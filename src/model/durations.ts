import { pointer } from './diagnostic.js';
import type { Mesh } from './mesh.js';

/** One duration a mesh sets: where it is written and its value in milliseconds. */
export interface DurationUse {
  pointer: string;
  field: string;
  ms: number;
}

/**
 * The largest duration meshc accepts: Envoy holds durations as 64-bit nanoseconds and refuses
 * 9,223,372,036 seconds or more ("Duration out-of-range"; about 292 years, as Istio's Go
 * `time.Duration`). The capability matrix has the targets' own smaller limits.
 */
export const MAX_DURATION_MS = 9_223_372_035_999;

/** Every duration a mesh sets (defaults included), in mesh order. */
export function durationsOf(mesh: Mesh): DurationUse[] {
  const uses: DurationUse[] = [];
  const add = (ms: number | undefined, ptr: string, field: string) => {
    if (ms !== undefined) uses.push({ pointer: ptr, field, ms });
  };
  for (const s of mesh.services) {
    const at = (...rest: string[]) => pointer('spec', 'services', s.name, ...rest);
    add(s.timeouts.connectMs, at('timeouts', 'connect'), 'timeouts.connect');
    add(s.timeouts.requestMs, at('timeouts', 'request'), 'timeouts.request');
    add(s.timeouts.idleMs, at('timeouts', 'idle'), 'timeouts.idle');
    add(s.retries.perTryTimeoutMs, at('retries', 'perTryTimeout'), 'retries.perTryTimeout');
    add(s.outlierDetection?.intervalMs, at('outlierDetection', 'interval'), 'outlierDetection.interval');
    add(s.outlierDetection?.baseEjectionTimeMs, at('outlierDetection', 'baseEjectionTime'), 'outlierDetection.baseEjectionTime');
    const key = s.loadBalancing.hashOn;
    if (key?.kind === 'cookie' && key.ttlSeconds !== undefined) add(key.ttlSeconds * 1000, at('loadBalancing', 'hashOn', 'cookie', 'ttl'), 'loadBalancing.hashOn.cookie.ttl');
  }
  for (const h of mesh.ingress.hosts) h.routes.forEach((r, i) => add(r.timeoutMs, pointer('spec', 'ingress', 'hosts', h.host, 'routes', i, 'timeout'), 'route timeout'));
  return uses;
}

/** `2147483647ms (24d 20h 31m 23s)`: the exact milliseconds, then a reading of them. */
export function formatMs(ms: number): string {
  if (!Number.isSafeInteger(ms)) return `about ${ms.toPrecision(3)}ms`;
  const parts: string[] = [];
  let rest = Math.floor(ms / 1000);
  for (const [unit, size] of [['y', 31_557_600], ['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 && parts.length < 4) parts.push(`${n}${unit}`);
  }
  return `${ms}ms${parts.length > 1 || (parts.length === 1 && ms % 1000 !== 0) ? ` (${parts.join(' ')})` : ''}`;
}
