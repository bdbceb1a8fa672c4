import { error, pointer, warning } from '../diagnostic.js';
import { writtenServiceNames, type Rule } from './context.js';
import { durationsOf, formatMs, MAX_DURATION_MS } from '../durations.js';

const HASHING = ['ring_hash', 'maglev'];

/** Consistent hashing without a key would silently act as random: an error, never a fallback. */
export const hashPolicyHasKey: Rule = ({ written }) =>
  writtenServiceNames(written).flatMap((svc) => {
    const lb = written.spec.services[svc].loadBalancing;
    if (!lb) return [];
    const base = ['spec', 'services', svc, 'loadBalancing'];
    const policy = lb.policy ?? 'round_robin';
    if (HASHING.includes(policy) && !lb.hashOn)
      return [error('hash-without-key', pointer(...base, 'policy'), `${svc} uses ${policy} but loadBalancing.hashOn is missing`, 'add hashOn: { header: x-user-id } (or cookie, or sourceIp: true), or choose round_robin')];
    if (!HASHING.includes(policy) && lb.hashOn)
      return [error('hash-key-unused', pointer(...base, 'hashOn'), `${svc} sets loadBalancing.hashOn but its policy is ${policy}, which does not hash`, 'set policy: ring_hash (or maglev), or remove hashOn')];
    return [];
  });

/** choiceCount only means something to least_request. */
export const choiceCountNeedsLeastRequest: Rule = ({ written }) =>
  writtenServiceNames(written).flatMap((svc) => {
    const lb = written.spec.services[svc].loadBalancing;
    return lb?.choiceCount !== undefined && (lb.policy ?? 'round_robin') !== 'least_request'
      ? [warning('choice-count-unused', pointer('spec', 'services', svc, 'loadBalancing', 'choiceCount'), `${svc} sets choiceCount, which only least_request uses`, 'remove it, or set policy: least_request')]
      : [];
  });

/** A per-try timeout longer than the whole request leaves no time for a retry. */
export const retryFitsTimeout: Rule = ({ mesh }) =>
  mesh.services.flatMap((s) =>
    s.retries.perTryTimeoutMs !== undefined && s.timeouts.requestMs !== undefined && s.retries.attempts > 0 && s.retries.perTryTimeoutMs >= s.timeouts.requestMs
      ? [warning('retry-timeout', pointer('spec', 'services', s.name, 'retries', 'perTryTimeout'), `${s.name}: retries.perTryTimeout is not shorter than timeouts.request, so no retry can happen`, 'make perTryTimeout shorter than the request timeout')]
      : [],
  );

/** Two routes for the same host and prefix: only one could ever match. */
export const uniqueRoutes: Rule = ({ written }) =>
  Object.entries(written.spec.ingress?.hosts ?? {}).flatMap(([host, h]) => {
    const first = new Map<string, number>();
    return h.routes.flatMap((r, i) => {
      const prev = first.get(r.pathPrefix);
      if (prev === undefined) {
        first.set(r.pathPrefix, i);
        return [];
      }
      return [error('duplicate-route', pointer('spec', 'ingress', 'hosts', host, 'routes', i, 'pathPrefix'), `${host} has two routes for prefix "${r.pathPrefix}" (routes ${prev} and ${i})`, 'remove one, or give it a different prefix')];
    });
  });

/** A duration no target can hold; the targets' own smaller limits are in the capability matrix. */
export const durationsInRange: Rule = ({ mesh }) =>
  durationsOf(mesh)
    .filter((d) => d.ms > MAX_DURATION_MS)
    .map((d) => error('duration-too-long', d.pointer, `${d.field} is ${formatMs(d.ms)}; meshc accepts durations up to ${formatMs(MAX_DURATION_MS)}: Envoy and Istio hold them as 64-bit nanoseconds`, 'write a shorter duration'));
