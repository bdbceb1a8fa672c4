/**
 * Why a call is allowed or refused, read from the normalized mesh the targets compile from (one
 * model, many readers). Every reason and every suggested change carries a JSON pointer into the
 * mesh as written, so the CLI places it at mesh.yaml:LINE:COL with the diagnostics' locator.
 * Pure: no file system, no clock.
 */
import { pointer } from '../model/diagnostic.js';
import { identityByName, INGRESS_GATEWAY, serviceByName, type IngressHost, type Mesh, type Service } from '../model/mesh.js';
import { didYouMean } from '../model/suggest.js';
import type { WrittenMesh } from '../schema/written-mesh.js';
import { writtenUpstreams } from '../model/rules/context.js';
import { UserError } from '../errors.js';

/** The caller outside the mesh: only the ingress gateway faces it. */
export const INTERNET = 'internet';

/** A place in mesh.yaml, by JSON pointer; `atKey` points at the key rather than its value. */
export interface At {
  pointer: string;
  atKey?: boolean;
}

export interface Reason extends At {
  /** Stable kebab-case name of what decided (`allow-from`, `upstream`, `egress-domain`, ...). */
  code: string;
  message: string;
}

export interface Fix extends At {
  message: string;
}

export type CallKind = 'service' | 'egress' | 'ingress';

export interface Explanation {
  from: string;
  to: string;
  kind: CallKind;
  decision: 'allow' | 'deny';
  /** One line: the decision in words. */
  summary: string;
  reasons: Reason[];
  /** For a refusal: the nearest change that would allow the call (every part of it). */
  fixes: Fix[];
  /** The service that answers (service calls and ingress routes). */
  service?: string;
  /** An ingress call: the host entry that matched and the winning route's prefix. */
  ingress?: { host: string; pathPrefix?: string; scheme: 'http' | 'https'; redirect?: string };
  /** An egress call: the domain asked for (lower case). */
  domain?: string;
  /**
   * Why a refusal happens at run time, for a live check: `caller-has-no-upstream` (the caller's
   * sidecar has no listener for it), `not-allowed` (the callee's sidecar refuses the caller's
   * certificate), `no-certificate` (a caller from outside the mesh), `egress-not-allowed`,
   * `unknown-host`, `no-route`.
   */
  refusals: string[];
}

const svcPtr = (name: string, ...rest: (string | number)[]) => pointer('spec', 'services', name, ...rest);

/** Decides `from → to`. Throws UserError (exit 2) when either end names nothing callable. */
export function explain(mesh: Mesh, written: WrittenMesh, from: string, to: string): Explanation {
  if (from !== INTERNET && !serviceByName(mesh, from)) {
    const names = [INTERNET, ...mesh.services.map((s) => s.name)];
    const guess = didYouMean(from, names);
    const gateway = identityByName(mesh, from) ? `${from} is a gateway; ` : '';
    throw new UserError(`${gateway}FROM must be a service of the mesh or "${INTERNET}", not "${from}"`, 2, guess ? `did you mean \`${guess}\`?` : `services: ${names.join(', ')}`);
  }
  const target = parseTarget(mesh, from, to);
  if (target.kind === 'ingress') return explainIngress(mesh, written, to, target.url);
  if (target.kind === 'service') {
    if (from === INTERNET) return explainInternetToService(mesh, written, to, target.service);
    return explainServiceCall(mesh, written, serviceByName(mesh, from)!, to, target.service);
  }
  if (from === INTERNET) return explainIngress(mesh, written, to, new URL(`https://${target.domain}/`));
  return explainEgress(mesh, written, serviceByName(mesh, from)!, to, target.domain);
}

type Target = { kind: 'service'; service: Service } | { kind: 'egress'; domain: string } | { kind: 'ingress'; url: URL };

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A service by any of its names (`ledger`, `ledger.shop`, ..., `ledger.shop.svc.cluster.local`). */
function serviceNamed(mesh: Mesh, name: string): Service | undefined {
  const n = name.toLowerCase();
  return serviceByName(mesh, n) ?? mesh.services.find((s) => s.dnsNames.includes(n));
}

function parseTarget(mesh: Mesh, from: string, to: string): Target {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(to)) {
    let url: URL;
    try {
      url = new URL(to);
    } catch {
      throw new UserError(`TO "${to}" is not a valid URL`, 2, 'write it as https://HOST/PATH');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UserError(`TO "${to}": only http:// and https:// URLs can be explained`, 2);
    if (from === INTERNET) return { kind: 'ingress', url };
    const svc = serviceNamed(mesh, url.hostname);
    return svc ? { kind: 'service', service: svc } : { kind: 'egress', domain: url.hostname.toLowerCase() };
  }
  const svc = serviceNamed(mesh, to);
  if (svc) return { kind: 'service', service: svc };
  const host = to.toLowerCase().replace(/:\d+$/, '');
  if (!DOMAIN.test(host) || (!host.includes('.') && from !== INTERNET)) {
    const guess = didYouMean(to, mesh.services.map((s) => s.name));
    throw new UserError(`TO "${to}" is neither a service of the mesh, nor a domain, nor a URL`, 2, guess ? `did you mean \`${guess}\`?` : 'name a service, an external domain (api.example.com) or an ingress URL (https://HOST/PATH)');
  }
  return { kind: 'egress', domain: host };
}

/** The callee's load-balancing policy, as a reason at the place that sets it (or the service, for the default). */
function lbReason(written: WrittenMesh, svc: Service): Reason {
  const lb = svc.loadBalancing;
  const writtenLb = written.spec.services[svc.name]?.loadBalancing;
  const eps = svc.endpoints.length;
  let how: string = lb.policy;
  if (lb.policy === 'least_request') how += ` (choice of ${lb.choiceCount})`;
  if (lb.hashOn) how += lb.hashOn.kind === 'header' ? ` on header ${lb.hashOn.name}` : lb.hashOn.kind === 'cookie' ? ` on cookie ${lb.hashOn.name}` : ' on the source IP';
  const weights = svc.endpoints.some((e) => e.weight !== 1) ? ` (weights ${svc.endpoints.map((e) => e.weight).join(':')})` : '';
  // The default endpoint is one DNS name (a headless Service) for all replicas.
  const across = !written.spec.services[svc.name]?.endpoints && eps === 1
    ? `across its ${svc.replicas} replica${svc.replicas === 1 ? '' : 's'} behind ${svc.endpoints[0].host}`
    : `across ${eps} endpoint${eps === 1 ? '' : 's'}${weights}`;
  if (writtenLb?.policy !== undefined) return { code: 'load-balancing', message: `${svc.name} is load-balanced ${how} ${across}`, pointer: svcPtr(svc.name, 'loadBalancing', 'policy') };
  return { code: 'load-balancing', message: `${svc.name} is load-balanced ${how} (the default) ${across}`, pointer: svcPtr(svc.name), atKey: true };
}

function result(e: Omit<Explanation, 'decision' | 'summary'>, summaryAllow: string, summaryDeny: string): Explanation {
  const decision = e.refusals.length === 0 ? 'allow' : 'deny';
  return { ...e, decision, summary: decision === 'allow' ? summaryAllow : summaryDeny };
}

function explainServiceCall(mesh: Mesh, written: WrittenMesh, caller: Service, to: string, callee: Service): Explanation {
  const reasons: Reason[] = [];
  const fixes: Fix[] = [];
  const refusals: string[] = [];
  const up = caller.upstreams.find((u) => u.service === callee.name);
  const upEntry = writtenUpstreams(written, caller.name).find((u) => u.name === callee.name);
  if (caller.name === callee.name) {
    refusals.push('caller-has-no-upstream');
    reasons.push({ code: 'self-call', message: `${caller.name} calls its own application directly: its sidecar has no listener for itself`, pointer: svcPtr(caller.name), atKey: true });
    fixes.push({ message: `call the application on ${caller.name}'s own port ${caller.port}; a service cannot list itself in upstreams`, pointer: svcPtr(caller.name, 'port') });
    return result({ from: caller.name, to, kind: 'service', reasons, fixes, refusals, service: callee.name }, '', `${caller.name} → ${callee.name}: refused (a service does not call itself through the mesh)`);
  }
  if (up && upEntry) {
    reasons.push({ code: 'upstream', message: `${caller.name} lists ${callee.name} in upstreams: its sidecar listens for it on local port ${up.localPort} and originates mTLS to ${callee.spiffeId}`, pointer: svcPtr(caller.name, 'upstreams', upEntry.index) });
  } else {
    refusals.push('caller-has-no-upstream');
    const has = written.spec.services[caller.name]?.upstreams !== undefined;
    reasons.push({ code: 'no-upstream', message: `${caller.name} does not list ${callee.name} in upstreams: its sidecar has no listener for ${callee.name}`, pointer: has ? svcPtr(caller.name, 'upstreams') : svcPtr(caller.name), atKey: !has });
    fixes.push({ message: has ? `add ${callee.name} to spec.services.${caller.name}.upstreams` : `add \`upstreams: [${callee.name}]\` to spec.services.${caller.name}`, pointer: has ? svcPtr(caller.name, 'upstreams') : svcPtr(caller.name), atKey: !has });
  }
  const allowList = written.spec.services[callee.name]?.allowFrom;
  const idx = allowList?.indexOf(caller.name) ?? -1;
  if (idx >= 0) {
    reasons.push({ code: 'allow-from', message: `${callee.name} allows ${caller.name}: its sidecar accepts the certificate of ${caller.spiffeId}`, pointer: svcPtr(callee.name, 'allowFrom', idx) });
  } else {
    refusals.push('not-allowed');
    const why = allowList === undefined ? `${callee.name} has no allowFrom: no service may call it` : `${callee.name}'s allowFrom does not list ${caller.name}`;
    reasons.push({ code: 'not-allowed', message: `${why}: its sidecar refuses the certificate of ${caller.spiffeId}${callee.protocol === 'tcp' ? ' (connection closed)' : ' (HTTP 403 or a failed handshake)'}`, pointer: allowList === undefined ? svcPtr(callee.name) : svcPtr(callee.name, 'allowFrom'), atKey: allowList === undefined });
    fixes.push({ message: allowList === undefined ? `add \`allowFrom: [${caller.name}]\` to spec.services.${callee.name}` : `add ${caller.name} to spec.services.${callee.name}.allowFrom`, pointer: allowList === undefined ? svcPtr(callee.name) : svcPtr(callee.name, 'allowFrom'), atKey: allowList === undefined });
  }
  if (refusals.length === 0) reasons.push(lbReason(written, callee));
  return result(
    { from: caller.name, to, kind: 'service', reasons, fixes, refusals, service: callee.name },
    `${caller.name} → ${callee.name}: allowed (mTLS, ${callee.protocol})`,
    `${caller.name} → ${callee.name}: refused`,
  );
}

function explainInternetToService(mesh: Mesh, written: WrittenMesh, to: string, svc: Service): Explanation {
  const routes = mesh.ingress.hosts.flatMap((h) => h.routes.filter((r) => r.service === svc.name).map((r) => ({ h, r })));
  const reasons: Reason[] = [
    { code: 'no-certificate', message: `${svc.name}'s sidecar accepts only mesh certificates: a caller from outside the mesh is refused during the TLS handshake`, pointer: svcPtr(svc.name), atKey: true },
  ];
  const fixes: Fix[] = [];
  if (routes.length) {
    const { h, r } = routes[0];
    const url = `https://${h.host.replace(/^\*\./, 'www.')}${r.pathPrefix}`;
    fixes.push({ message: `call it through the ingress: ${url}`, pointer: routePointer(written, h.host, r.pathPrefix) });
  } else {
    const ing = written.spec.ingress?.hosts;
    fixes.push({
      message: `add a route \`{ pathPrefix: /, service: ${svc.name} }\` under a host in spec.ingress.hosts`,
      pointer: ing ? pointer('spec', 'ingress', 'hosts') : written.spec.ingress ? pointer('spec', 'ingress') : pointer('spec'),
      atKey: true,
    });
  }
  return result({ from: INTERNET, to, kind: 'service', reasons, fixes, refusals: ['no-certificate'], service: svc.name }, '', `internet → ${svc.name}: refused (only the ingress gateway faces the internet)`);
}

/** An ingress host entry for a host name: exact first, then the longest wildcard (what the proxies pick). */
export function matchIngressHost(mesh: Mesh, host: string): IngressHost | undefined {
  const h = host.toLowerCase();
  const exact = mesh.ingress.hosts.find((x) => x.host === h);
  if (exact) return exact;
  return mesh.ingress.hosts
    .filter((x) => x.host.startsWith('*.') && h.endsWith(x.host.slice(1)))
    .sort((a, b) => b.host.length - a.host.length)[0];
}

function routePointer(written: WrittenMesh, host: string, prefix: string): string {
  const i = (written.spec.ingress?.hosts?.[host]?.routes ?? []).findIndex((r) => r.pathPrefix === prefix);
  return pointer('spec', 'ingress', 'hosts', host, 'routes', Math.max(0, i));
}

function explainIngress(mesh: Mesh, written: WrittenMesh, to: string, url: URL): Explanation {
  const scheme = url.protocol === 'http:' ? 'http' : 'https';
  const hostName = url.hostname.toLowerCase();
  const path = url.pathname || '/';
  const reasons: Reason[] = [];
  const fixes: Fix[] = [];
  const h = matchIngressHost(mesh, hostName);
  const base = { from: INTERNET, to, kind: 'ingress' as const, reasons, fixes };
  if (!h) {
    const hosts = written.spec.ingress?.hosts;
    reasons.push({
      code: 'unknown-host',
      message: `${hostName} is not a host of the ingress: ${scheme === 'https' ? 'its SNI is refused during the TLS handshake' : 'the request is refused'}${mesh.ingress.hosts.length ? ` (hosts: ${mesh.ingress.hosts.map((x) => x.host).join(', ')})` : ''}`,
      pointer: hosts ? pointer('spec', 'ingress', 'hosts') : written.spec.ingress ? pointer('spec', 'ingress') : pointer('spec'),
      atKey: true,
    });
    const guess = didYouMean(hostName, mesh.ingress.hosts.map((x) => x.host));
    fixes.push({
      message: `${guess ? `did you mean ${guess}? or ` : ''}add \`${hostName}: { routes: [{ pathPrefix: /, service: SERVICE }] }\` to spec.ingress.hosts`,
      pointer: hosts ? pointer('spec', 'ingress', 'hosts') : written.spec.ingress ? pointer('spec', 'ingress') : pointer('spec'),
      atKey: true,
    });
    return result({ ...base, refusals: ['unknown-host'], ingress: { host: hostName, scheme } }, '', `internet → ${hostName}: refused (unknown host)`);
  }
  const hostPtr = pointer('spec', 'ingress', 'hosts', h.host);
  const tls = h.tls.kind === 'generated' ? 'a certificate from the mesh CA' : `the certificate in ${h.tls.certFile}`;
  reasons.push({ code: 'ingress-host', message: `${hostName} is served by the ingress host ${h.host}${h.host === hostName ? '' : ' (wildcard)'}, TLS terminated with ${tls}`, pointer: hostPtr, atKey: true });
  let redirect: string | undefined;
  if (scheme === 'http') {
    const writtenRedirect = written.spec.ingress?.hosts?.[h.host]?.redirectHttp !== undefined;
    if (h.redirectHttp) {
      const port = mesh.ingress.httpsPort === 443 ? '' : `:${mesh.ingress.httpsPort}`;
      redirect = `https://${hostName}${port}${path}${url.search}`;
      reasons.push({ code: 'redirect', message: `plain HTTP is answered with 301 to ${redirect}${mesh.ingress.trustForwardedProto ? ' (unless X-Forwarded-Proto: https, which is trusted)' : ''}`, pointer: writtenRedirect ? pointer('spec', 'ingress', 'hosts', h.host, 'redirectHttp') : hostPtr, atKey: !writtenRedirect });
    } else {
      reasons.push({ code: 'plain-http', message: `redirectHttp is false: ${h.host} is also served over plain HTTP`, pointer: pointer('spec', 'ingress', 'hosts', h.host, 'redirectHttp') });
    }
  }
  const route = h.routes.find((r) => path.startsWith(r.pathPrefix));
  if (!route) {
    reasons.push({ code: 'no-route', message: `no route of ${h.host} matches ${path} (prefixes: ${h.routes.map((r) => r.pathPrefix).join(', ')}): the gateway answers 404`, pointer: pointer('spec', 'ingress', 'hosts', h.host, 'routes') });
    fixes.push({ message: `add \`{ pathPrefix: ${path}, service: SERVICE }\` (or \`/\`) to spec.ingress.hosts.${h.host}.routes`, pointer: pointer('spec', 'ingress', 'hosts', h.host, 'routes') });
    return result({ ...base, refusals: ['no-route'], ingress: { host: h.host, scheme, ...(redirect ? { redirect } : {}) } }, '', `internet → ${to}: refused (no route)`);
  }
  const matching = h.routes.filter((r) => path.startsWith(r.pathPrefix)).length;
  const svc = serviceByName(mesh, route.service)!;
  reasons.push({
    code: 'route',
    message: `route ${route.pathPrefix} → ${route.service} wins${matching > 1 ? ` (the longest of ${matching} matching prefixes)` : ''}; the route itself allows ${INGRESS_GATEWAY} to call ${route.service} over mTLS${route.timeoutMs ? ` (timeout ${route.timeoutMs} ms)` : ''}`,
    pointer: routePointer(written, h.host, route.pathPrefix),
  });
  reasons.push(lbReason(written, svc));
  return result(
    { ...base, refusals: [], service: route.service, ingress: { host: h.host, pathPrefix: route.pathPrefix, scheme, ...(redirect ? { redirect } : {}) } },
    redirect ? `internet → ${to}: redirected to ${redirect}, then routed to ${route.service}` : `internet → ${to}: allowed, routed to ${route.service}`,
    '',
  );
}

/** Does an allow-list pattern admit a domain? `*.x.y` admits subdomains at any depth, never the apex. */
export function domainMatches(pattern: string, domain: string): boolean {
  return pattern.startsWith('*.') ? domain.endsWith(pattern.slice(1)) : pattern === domain;
}

function explainEgress(mesh: Mesh, written: WrittenMesh, caller: Service, to: string, domain: string): Explanation {
  const candidates = [
    ...(written.spec.services[caller.name]?.egress ?? []).map((p, i) => ({ p, ptr: svcPtr(caller.name, 'egress', i), own: true })),
    ...(written.spec.egress?.allow ?? []).map((p, i) => ({ p, ptr: pointer('spec', 'egress', 'allow', i), own: false })),
  ];
  const matches = candidates.filter((c) => domainMatches(c.p, domain));
  // The most specific pattern wins, as in the proxies: an exact name, then the longest wildcard.
  const best = matches.sort((a, b) => Number(b.p === domain) - Number(a.p === domain) || b.p.length - a.p.length)[0];
  const reasons: Reason[] = [];
  const fixes: Fix[] = [];
  const via = mesh.egress.viaGateway;
  const ports = `TLS on port ${mesh.egress.tlsPort} matched by SNI, plain HTTP on port ${mesh.egress.httpPort} by Host`;
  if (best) {
    const what = best.own ? `${caller.name}'s own egress` : 'the mesh-wide egress.allow';
    reasons.push({ code: best.p === domain ? 'egress-domain' : 'egress-wildcard', message: `${domain} is allowed by ${best.p === domain ? 'the name' : 'the wildcard'} ${best.p} in ${what} (${ports})`, pointer: best.ptr });
    if (via) reasons.push({ code: 'via-gateway', message: `egress goes through the egress gateway, which checks ${caller.name}'s identity against its own allow-list`, pointer: pointer('spec', 'egress', 'viaGateway') });
    return result({ from: caller.name, to, kind: 'egress', reasons, fixes, refusals: [], domain }, `${caller.name} → ${domain}: allowed (egress)`, '');
  }
  const ownList = written.spec.services[caller.name]?.egress;
  const apex = candidates.find((c) => c.p === `*.${domain}`);
  const others = mesh.services.filter((s) => s.name !== caller.name && s.ownEgress.some((p) => domainMatches(p, domain))).map((s) => s.name);
  reasons.push({
    code: 'egress-not-allowed',
    message: `no egress pattern of ${caller.name} or of the mesh admits ${domain}: ${caller.name}'s sidecar drops the connection${apex ? ` (${apex.p} admits subdomains only, not ${domain} itself)` : ''}${others.length ? ` (only ${others.join(', ')} may reach it)` : ''}`,
    pointer: apex ? apex.ptr : ownList ? svcPtr(caller.name, 'egress') : svcPtr(caller.name),
    atKey: !apex && !ownList,
  });
  fixes.push({
    message: ownList ? `add ${domain} to spec.services.${caller.name}.egress` : `add \`egress: [${domain}]\` to spec.services.${caller.name}`,
    pointer: ownList ? svcPtr(caller.name, 'egress') : svcPtr(caller.name),
    atKey: !ownList,
  });
  return result({ from: caller.name, to, kind: 'egress', reasons, fixes, refusals: ['egress-not-allowed'], domain }, '', `${caller.name} → ${domain}: refused (egress not allowed)`);
}
