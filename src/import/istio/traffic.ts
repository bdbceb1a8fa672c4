/**
 * Load balancing and resilience: a DestinationRule's traffic policy (load balancer, connection
 * pool, outlier detection) and the retries and timeout of a VirtualService for a service's own
 * host, each into the service's fields of the same meaning.
 */
import type { Retries, Service as WrittenService } from '../../schema/written-mesh.js';
import { DEFAULTS } from '../../model/normalize.js';
import { addComment, asArr, asNum, asObj, asStr, formatDuration, nsOf, parseDuration, serviceByHost, whereIs, type ImportedService, type Inventory, type Path } from './context.js';
import type { InputObject, Obj } from './read.js';

const RETRY_ON = new Set(['5xx', 'gateway-error', 'connect-failure', 'reset', 'retriable-4xx']);

/** A duration field: mesh.yaml's spelling, or a report and undefined. */
function duration(inv: Inventory, o: InputObject, path: Path, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined) {
    inv.report.error(o, path, 'import-malformed', `"${String(v)}" is not a duration meshc can write (whole milliseconds): ignored`, 'write it as 250ms, 5s, 1m or 1h');
    return undefined;
  }
  return formatDuration(ms);
}

/** Groups objects by the service their host resolves to; two for one service are a conflict. */
export function byService(inv: Inventory, objects: InputObject[], hostOf: (o: InputObject) => string | undefined, what: string): Map<ImportedService, InputObject> {
  const out = new Map<ImportedService, InputObject>();
  for (const o of objects) {
    const host = hostOf(o);
    if (!host) continue;
    const svc = serviceByHost(inv, host, nsOf(o, inv));
    if (!svc) continue;
    const prev = out.get(svc);
    // The same settings for another name of the service (meshc gives the Services its weighted
    // routes go to the service's own DestinationRule): consistent, nothing to report.
    if (prev && prev.kind === o.kind && sameExceptHost(prev, o)) {
      inv.consumed.add(o);
      continue;
    }
    if (prev) {
      inv.consumed.add(o);
      inv.report.error(o, ['spec'], 'import-conflict', `is a second ${what} for ${svc.name} (the first is ${prev.kind} ${prev.name} at ${whereIs(prev)}): Istio would use only one of them; the first is imported and this one is not`, `merge the two into one ${what}`);
      continue;
    }
    out.set(svc, o);
  }
  return out;
}

function sameExceptHost(a: InputObject, b: InputObject): boolean {
  const strip = (o: InputObject) => JSON.stringify({ ...(asObj(o.value.spec) ?? {}), host: undefined, hosts: undefined });
  return strip(a) === strip(b);
}

export function importDestinationRules(inv: Inventory, rules: InputObject[]): void {
  const chosen = byService(inv, rules, (o) => asStr(asObj(o.value.spec)?.host), 'DestinationRule');
  for (const [svc, o] of chosen) {
    inv.consumed.add(o);
    const spec = asObj(o.value.spec) ?? {};
    const tp = asObj(spec.trafficPolicy) ?? {};
    trafficPolicy(inv, o, ['spec', 'trafficPolicy'], tp, svc.written);
    for (const field of ['loadBalancing', 'timeouts', 'outlierDetection', 'connectionLimits'] as const)
      if (svc.written[field] !== undefined && !svc.comments.has(field)) addComment(svc, field, `from DestinationRule ${o.name} (${whereIs(o)})`);
    if (tp.loadBalancer !== undefined) svc.balancedBy = o;
    const subsets = asArr(spec.subsets);
    if (subsets.length > 0) {
      const names = subsets.map((s) => asStr(asObj(s)?.name) ?? '?');
      inv.report.warn(o, ['spec', 'subsets'], 'import-subsets', `subsets ${names.join(', ')} do not carry over: meshc balances over every pod of ${svc.name}, whatever its version labels`, 'import each version as a service of its own if callers must reach one version; otherwise remove the subsets');
    }
    if (spec.exportTo !== undefined) inv.report.note(o, ['spec', 'exportTo'], 'import-ignored-field', 'exportTo is ignored: every caller of the service uses the same policy in meshc');
    if (spec.workloadSelector !== undefined) inv.report.warn(o, ['spec', 'workloadSelector'], 'import-unsupported-field', 'a DestinationRule for some callers only does not carry over: meshc applies a service\'s policy to every caller');
  }
}

function trafficPolicy(inv: Inventory, o: InputObject, path: Path, tp: Obj, w: WrittenService): void {
  const r = inv.report;
  const tls = asStr(asObj(tp.tls)?.mode);
  if (tls !== undefined && tls !== 'ISTIO_MUTUAL')
    r.warn(o, [...path, 'tls', 'mode'], 'import-mtls-mode', `tls mode ${tls} does not carry over: meshc always uses the mesh's mutual TLS between services`, 'remove it (ISTIO_MUTUAL is what meshc does)');
  const lb = asObj(tp.loadBalancer);
  if (lb) loadBalancer(inv, o, [...path, 'loadBalancer'], lb, w);
  const pool = asObj(tp.connectionPool);
  if (pool) connectionPool(inv, o, [...path, 'connectionPool'], pool, w);
  const od = asObj(tp.outlierDetection);
  if (od) {
    const consecutive = asNum(od.consecutive5xxErrors) ?? asNum(od.consecutiveErrors);
    const out: NonNullable<WrittenService['outlierDetection']> = {};
    if (consecutive !== undefined) out.consecutive5xx = Math.max(1, Math.min(consecutive, 1000));
    const interval = duration(inv, o, [...path, 'outlierDetection', 'interval'], od.interval);
    if (interval) out.interval = interval;
    const base = duration(inv, o, [...path, 'outlierDetection', 'baseEjectionTime'], od.baseEjectionTime);
    if (base) out.baseEjectionTime = base;
    const max = asNum(od.maxEjectionPercent);
    if (max !== undefined) out.maxEjectionPercent = Math.min(max, 100);
    for (const f of ['consecutiveGatewayErrors', 'consecutiveLocalOriginFailures', 'splitExternalLocalOriginErrors', 'minHealthPercent'])
      if (od[f] !== undefined) r.warn(o, [...path, 'outlierDetection', f], 'import-unsupported-field', `${f} does not carry over: meshc ejects on consecutive 5xx (and connect failures) only`, 'remove it; consecutive5xxErrors carries over');
    w.outlierDetection = out;
  }
  for (const f of ['portLevelSettings', 'tunnel', 'proxyProtocol'])
    if (tp[f] !== undefined) r.warn(o, [...path, f], 'import-unsupported-field', `${f} does not carry over: a meshc service has one port and one policy`, 'write the policy for the service\'s port at the top level');
}

function loadBalancer(inv: Inventory, o: InputObject, path: Path, lb: Obj, w: WrittenService): void {
  const r = inv.report;
  const simple = asStr(lb.simple);
  const hash = asObj(lb.consistentHash);
  if (simple) {
    const map: Record<string, 'round_robin' | 'least_request' | 'random' | undefined> = { ROUND_ROBIN: 'round_robin', LEAST_REQUEST: 'least_request', LEAST_CONN: 'least_request', RANDOM: 'random', UNSPECIFIED: undefined, PASSTHROUGH: undefined };
    if (!(simple in map)) r.error(o, [...path, 'simple'], 'import-malformed', `"${simple}" is not an Istio load balancer: ignored`);
    else if (simple === 'PASSTHROUGH') r.warn(o, [...path, 'simple'], 'import-unsupported-field', 'PASSTHROUGH (to the address the caller chose) does not carry over: meshc balances over the service\'s endpoints', 'the nearest is ROUND_ROBIN');
    const policy = map[simple];
    if (policy && policy !== 'round_robin') w.loadBalancing = { policy };
  }
  if (hash) {
    const algorithm = hash.maglev !== undefined ? 'maglev' : 'ring_hash';
    const hashOn: NonNullable<NonNullable<WrittenService['loadBalancing']>['hashOn']> = {};
    const header = asStr(hash.httpHeaderName);
    const cookie = asObj(hash.httpCookie);
    if (header) hashOn.header = header.toLowerCase();
    else if (cookie && asStr(cookie.name)) {
      const ttl = duration(inv, o, [...path, 'consistentHash', 'httpCookie', 'ttl'], cookie.ttl);
      const p = asStr(cookie.path);
      hashOn.cookie = { name: asStr(cookie.name)!, ...(ttl && ttl !== '0s' ? { ttl } : {}), ...(p && p !== '/' ? { path: p } : {}) };
    } else if (hash.useSourceIp === true) hashOn.sourceIp = true;
    else {
      const field = Object.keys(hash).find((k) => !['ringHash', 'maglev', 'minimumRingSize'].includes(k)) ?? 'consistentHash';
      r.warn(o, [...path, 'consistentHash', ...(field === 'consistentHash' ? [] : [field])], 'import-unsupported-field', `this hash key does not carry over: meshc hashes on a header, a cookie or the source address`, 'hash on a header (httpHeaderName) instead; the service is imported with round robin');
      return;
    }
    w.loadBalancing = { policy: algorithm, hashOn };
  }
  for (const f of ['localityLbSetting', 'warmupDurationSecs', 'warmup'])
    if (lb[f] !== undefined) r.warn(o, [...path, f], 'import-unsupported-field', `${f} does not carry over: meshc's endpoints have no locality and no warm-up`, 'remove it');
}

function connectionPool(inv: Inventory, o: InputObject, path: Path, pool: Obj, w: WrittenService): void {
  const r = inv.report;
  const tcp = asObj(pool.tcp) ?? {};
  const http = asObj(pool.http) ?? {};
  const limits: NonNullable<WrittenService['connectionLimits']> = {};
  const maxConnections = asNum(tcp.maxConnections);
  if (maxConnections !== undefined) limits.maxConnections = Math.max(1, maxConnections);
  const pending = asNum(http.http1MaxPendingRequests);
  if (pending !== undefined) limits.maxPendingRequests = pending;
  const requests = asNum(http.http2MaxRequests);
  if (requests !== undefined) limits.maxRequests = Math.max(1, requests);
  if (Object.keys(limits).length > 0) w.connectionLimits = limits;
  const connect = duration(inv, o, [...path, 'tcp', 'connectTimeout'], tcp.connectTimeout);
  const idle = duration(inv, o, [...path, http.idleTimeout !== undefined ? 'http' : 'tcp', 'idleTimeout'], http.idleTimeout ?? tcp.idleTimeout);
  const timeouts: NonNullable<WrittenService['timeouts']> = { ...(w.timeouts ?? {}) };
  if (connect && parseDuration(connect) !== DEFAULTS.connectTimeoutMs) timeouts.connect = connect;
  if (idle) timeouts.idle = idle;
  if (Object.keys(timeouts).length > 0) w.timeouts = timeouts;
  for (const f of ['maxRequestsPerConnection', 'maxRetries', 'h2UpgradePolicy', 'useClientProtocol', 'maxConcurrentStreams'])
    if (http[f] !== undefined) r.warn(o, [...path, 'http', f], 'import-unsupported-field', `${f} does not carry over: meshc limits connections, pending and concurrent requests only`, 'remove it');
  for (const f of ['tcpKeepalive', 'maxConnectionDuration', 'idleTimeout'].filter((x) => x !== 'idleTimeout' || http.idleTimeout !== undefined))
    if (tcp[f] !== undefined) r.warn(o, [...path, 'tcp', f], 'import-unsupported-field', `${f} does not carry over`, 'remove it');
}

/** Istio's retryOn list into meshc's conditions; the rest reported. */
export function retries(inv: Inventory, o: InputObject, path: Path, v: Obj): Retries | undefined {
  const attempts = asNum(v.attempts);
  if (attempts === undefined) return undefined;
  if (attempts === 0) return { attempts: 0 };
  const out: Retries = { attempts: Math.min(attempts, 10) };
  if (attempts > 10) inv.report.warn(o, [...path, 'attempts'], 'import-unsupported-field', `${attempts} attempts: meshc retries at most 10 times`, 'retry at most 10 times');
  const per = duration(inv, o, [...path, 'perTryTimeout'], v.perTryTimeout);
  if (per) out.perTryTimeout = per;
  const on = asStr(v.retryOn);
  if (on) {
    const parts = on.split(',').map((s) => s.trim()).filter(Boolean);
    const kept = parts.filter((p) => RETRY_ON.has(p)) as Retries['retryOn'];
    const dropped = parts.filter((p) => !RETRY_ON.has(p));
    if (dropped.length > 0) inv.report.warn(o, [...path, 'retryOn'], 'import-unsupported-field', `retry conditions ${dropped.join(', ')} do not carry over: meshc retries on ${[...RETRY_ON].join(', ')}`, kept!.length ? `the conditions ${kept!.join(', ')} carry over` : 'connect-failure and reset are the nearest for gRPC status conditions');
    if (kept!.length > 0) out.retryOn = kept;
  }
  return out;
}

/** Retries and the request timeout of calls to a service, from its own VirtualService. */
export function importServiceVirtualServices(inv: Inventory, services: InputObject[], inboundPort: number): void {
  const chosen = byService(inv, services, (o) => asArr(asObj(o.value.spec)?.hosts).find((h): h is string => typeof h === 'string' && serviceByHost(inv, h, nsOf(o, inv)) !== undefined), 'VirtualService');
  for (const [svc, o] of chosen) {
    inv.consumed.add(o);
    const spec = asObj(o.value.spec) ?? {};
    const r = inv.report;
    const hosts = asArr(spec.hosts);
    if (hosts.length > 1) r.warn(o, ['spec', 'hosts'], 'import-unsupported-field', `serves several hosts; only ${svc.name} carries over`, 'write one VirtualService per service');
    const http = asArr(spec.http);
    http.forEach((raw, i) => {
      const route = asObj(raw) ?? {};
      const base: Path = ['spec', 'http', i];
      const matched = asArr(route.match).length > 0;
      if (matched) r.warn(o, [...base, 'match'], 'import-route-match', 'routing by request (headers, URI, method, port) does not carry over for calls between services: meshc sends every call of a caller to the service', 'route in the application, or split the service');
      if (!matched && splitEndpoints(inv, o, asArr(route.route), svc, inboundPort)) addComment(svc, 'endpoints', `from VirtualService ${o.name}: its routes to the Services of the service's pods, by weight (inbound port ${inboundPort})`);
      else destinations(inv, o, base, asArr(route.route), svc);
      for (const f of ['fault', 'mirror', 'mirrorPercentage', 'mirrors', 'rewrite', 'headers', 'corsPolicy', 'redirect', 'directResponse', 'delegate']) {
        if (route[f] === undefined) continue;
        const code = f === 'fault' ? 'import-fault-injection' : f === 'headers' || f === 'rewrite' ? 'import-header-rewrite' : 'import-unsupported-field';
        r.warn(o, [...base, f], code, `${f} does not carry over: meshc's routes forward requests unchanged`, f === 'fault' ? 'inject faults in a test environment with a tool of its own' : 'do it in the application');
      }
      if (matched) return;
      // The default route: its retries and timeout are the service's.
      const timeout = duration(inv, o, [...base, 'timeout'], route.timeout);
      if (timeout) {
        svc.written.timeouts = { ...(svc.written.timeouts ?? {}), request: timeout };
        addComment(svc, 'timeouts', `request: from VirtualService ${o.name} (${whereIs(o)})`);
      }
      const rt = asObj(route.retries);
      if (rt) {
        svc.retriedBy = o;
        const parsed = retries(inv, o, [...base, 'retries'], rt);
        if (parsed && parsed.attempts !== 0) {
          svc.written.retries = parsed;
          addComment(svc, 'retries', `from VirtualService ${o.name} (${whereIs(o)})`);
        }
      }
    });
    for (const f of ['tcp', 'tls'] as const)
      asArr(spec[f]).forEach((raw, i) => {
        const route = asArr(asObj(raw)?.route);
        if (f === 'tcp' && asArr(asObj(raw)?.match).length === 0 && splitEndpoints(inv, o, route, svc, inboundPort)) addComment(svc, 'endpoints', `from VirtualService ${o.name}: its routes to the Services of the service's pods, by weight (inbound port ${inboundPort})`);
        else destinations(inv, o, ['spec', f, i], route, svc);
      });
    if (spec.gateways !== undefined && !asArr(spec.gateways).every((g) => g === 'mesh')) r.note(o, ['spec', 'gateways'], 'import-ignored-field', 'also bound to gateways: read for the ingress too');
  }
}

/**
 * A route that splits calls over other names of the service itself (Services selecting its pods,
 * no subset): what meshc writes for weighted endpoints. They become the service's endpoints, with
 * the weights reduced to their smallest ratio (75/25 → 3 and 1). False when the route is anything
 * else, or the endpoints are already known (a ServiceEntry).
 */
function splitEndpoints(inv: Inventory, o: InputObject, route: unknown[], svc: ImportedService, inboundPort: number): boolean {
  if (svc.written.endpoints !== undefined || route.length === 0) return false;
  const ns = nsOf(o, inv);
  const dests = route.map((raw) => {
    const d = asObj(asObj(raw)?.destination) ?? {};
    const host = asStr(d.host)?.toLowerCase();
    const w = asObj(raw)?.weight;
    return { host, subset: asStr(d.subset), weight: typeof w === 'number' && Number.isInteger(w) && w > 0 ? w : route.length === 1 ? 100 : 0 };
  });
  const own = (h: string) => h === svc.name || h.startsWith(`${svc.name}.`);
  if (dests.some((d) => !d.host || d.subset || d.weight === 0 || serviceByHost(inv, d.host, ns) !== svc) || dests.every((d) => own(d.host!))) return false;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = dests.reduce((acc, d) => gcd(acc, d.weight), 0);
  const fqdn = (h: string) => (h.includes('.') ? h : `${h}.${ns}.svc.cluster.local`);
  svc.written.endpoints = dests.map((d) => {
    const address = `${fqdn(d.host!)}:${inboundPort}`;
    const weight = Math.min(d.weight / g, 128);
    return weight === 1 ? address : { address, weight };
  }) as NonNullable<typeof svc.written.endpoints>;
  return true;
}

/** The destinations of a route to a service's own host: one, unweighted, without subset. */
function destinations(inv: Inventory, o: InputObject, base: Path, route: unknown[], svc: ImportedService): void {
  const r = inv.report;
  if (route.length > 1) r.warn(o, [...base, 'route'], 'import-traffic-split', `a weighted split over ${route.length} destinations does not carry over: meshc sends every call to the service`, 'deploy one version at a time, or split the versions into services');
  route.forEach((raw, k) => {
    const d = asObj(asObj(raw)?.destination) ?? {};
    const subset = asStr(d.subset);
    if (subset) r.warn(o, [...base, 'route', k, 'destination', 'subset'], 'import-subset-routing', `routing to subset ${subset} (a version of ${svc.name}) does not carry over: meshc balances over every pod of the service`, 'import that version as a service of its own, or run only that version');
    const host = asStr(d.host);
    const target = host ? serviceByHost(inv, host, nsOf(o, inv)) : undefined;
    if (host && target !== svc) r.warn(o, [...base, 'route', k, 'destination', 'host'], 'import-unsupported-field', `sends calls for ${svc.name} to ${host}: a redirection between services does not carry over`, 'have the callers call that service directly');
  });
}
