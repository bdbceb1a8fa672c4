/**
 * The edges of the mesh: external hosts (MESH_EXTERNAL ServiceEntries, the egress-gateway pattern
 * of Gateway + VirtualService + DestinationRule through istio-egressgateway) and the ingress
 * (Gateways with their servers, and the VirtualServices bound to them).
 */
import type { IngressHost, Route } from '../../schema/written-mesh.js';
import { cmp } from '../../model/mesh.js';
import { asArr, asNum, asObj, asStr, formatDuration, nsOf, ofKind, parseDuration, selects, serviceByHost, strMap, whereIs, type Inventory, type Pod } from './context.js';
import type { InputObject } from './read.js';
import { retries } from './traffic.js';

const DOMAIN = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/;

export interface External {
  /** Host → the ServiceEntry that declares it. */
  hosts: Map<string, InputObject>;
  tlsPorts: Set<number>;
  httpPorts: Set<number>;
}

/** MESH_EXTERNAL ServiceEntries: the external hosts, and the ports they are reached on. */
export function importServiceEntries(inv: Inventory): External {
  const ext: External = { hosts: new Map(), tlsPorts: new Set(), httpPorts: new Set() };
  for (const o of ofKind(inv, 'ServiceEntry')) {
    const spec = asObj(o.value.spec) ?? {};
    const location = asStr(spec.location) ?? 'MESH_EXTERNAL';
    if (location !== 'MESH_EXTERNAL') continue; // MESH_INTERNAL: read with the workloads
    const r = inv.report;
    asArr(spec.hosts).forEach((h, i) => {
      const host = typeof h === 'string' ? h.toLowerCase() : '';
      if (!DOMAIN.test(host)) {
        r.warn(o, ['spec', 'hosts', i], 'import-egress-host', `"${String(h)}" is not a domain meshc can allow (an exact name, or a leading "*." wildcard): it does not carry over`, 'list the names the services call');
        return;
      }
      if (!ext.hosts.has(host)) ext.hosts.set(host, o);
    });
    asArr(spec.ports).forEach((raw, i) => {
      const p = asObj(raw) ?? {};
      const n = asNum(p.number);
      const protocol = (asStr(p.protocol) ?? '').toUpperCase();
      if (n === undefined) return;
      if (protocol === 'TLS' || protocol === 'HTTPS') ext.tlsPorts.add(n);
      else if (protocol === 'HTTP' || protocol === 'HTTP2' || protocol === 'GRPC') ext.httpPorts.add(n);
      else r.warn(o, ['spec', 'ports', i, 'protocol'], 'import-egress-protocol', `protocol ${protocol || '(none)'} on port ${n} does not carry over: meshc allows external names by TLS SNI or HTTP Host, so plain TCP cannot be matched by name`, 'reach the destination over TLS (matched by SNI)');
    });
    if (asArr(spec.addresses).length > 0) r.warn(o, ['spec', 'addresses'], 'import-unsupported-field', 'addresses (IPs or CIDRs) do not carry over: meshc allows external destinations by name', 'allow the destination by its DNS name');
    if (asArr(spec.endpoints).length > 0) r.warn(o, ['spec', 'endpoints'], 'import-unsupported-field', 'fixed endpoints do not carry over: meshc resolves external names through DNS', 'set spec.dns.resolvers if the name must resolve differently');
    if (spec.workloadSelector !== undefined) r.warn(o, ['spec', 'workloadSelector'], 'import-unsupported-field', 'workloadSelector does not carry over');
  }
  return ext;
}

/** The ports external destinations are reached on: one TLS port and one HTTP port in meshc. */
export function egressPorts(inv: Inventory, ext: External): { tlsPort?: number; httpPort?: number } {
  const out: { tlsPort?: number; httpPort?: number } = {};
  const pick = (ports: Set<number>, dflt: number, what: string): number | undefined => {
    const list = [...ports].sort((a, b) => a - b);
    if (list.length === 0 || (list.length === 1 && list[0] === dflt)) return undefined;
    if (list.length > 1) {
      const first = [...ext.hosts.values()][0];
      const chosen = list.includes(dflt) ? dflt : list[0];
      if (first) inv.report.warn(first, ['spec', 'ports'], 'import-egress-port', `external ${what} destinations are reached on ports ${list.join(', ')}: meshc has one ${what} port for every external destination; ${chosen} is imported`, `set spec.egress.${what === 'TLS' ? 'tlsPort' : 'httpPort'} to the port most destinations use`);
      return chosen === dflt ? undefined : chosen;
    }
    return list[0];
  };
  const tls = pick(ext.tlsPorts, 443, 'TLS');
  const http = pick(ext.httpPorts, 80, 'HTTP');
  if (tls !== undefined) out.tlsPort = tls;
  if (http !== undefined) out.httpPort = http;
  return out;
}

export interface GatewayPods {
  ingress: Pod[];
  egress: Pod[];
}

/** Whether a Gateway's selector picks egress gateway pods (or, without them in the input, says so by Istio's label). */
function isEgressGateway(o: InputObject, pods: GatewayPods): boolean {
  const sel = strMap(asObj(o.value.spec)?.selector);
  if (pods.egress.some((p) => selects(sel, p.labels))) return true;
  if (pods.ingress.some((p) => selects(sel, p.labels))) return false;
  return sel.istio === 'egressgateway' || /egress/.test(o.name);
}

function gatewayRefs(o: InputObject, inv: Inventory): string[] {
  return asArr(asObj(o.value.spec)?.gateways).filter((g): g is string => typeof g === 'string').map((g) => (g.includes('/') ? g : `${nsOf(o, inv)}/${g}`));
}

/**
 * The egress-gateway pattern: a Gateway on the egress gateway for some external hosts, a
 * VirtualService bound to it and to `mesh` that sends those hosts to the gateway, and a
 * DestinationRule for the gateway's host. It means "egress for these hosts leaves through the
 * egress gateway", which is `spec.egress.viaGateway` (the Kubernetes target always does it).
 */
export function importEgressGateways(inv: Inventory, ext: External, pods: GatewayPods): { viaGateway: boolean; comment?: string } {
  const gateways = ofKind(inv, 'Gateway').filter((o) => isEgressGateway(o, pods));
  if (gateways.length === 0) return { viaGateway: false };
  const refs = new Set(gateways.map((g) => `${nsOf(g, inv)}/${g.name}`));
  const used: InputObject[] = [...gateways];
  for (const g of gateways) {
    asArr(asObj(g.value.spec)?.servers).forEach((raw, i) => {
      const server = asObj(raw) ?? {};
      const mode = asStr(asObj(server.tls)?.mode);
      if (mode && mode !== 'PASSTHROUGH' && mode !== 'ISTIO_MUTUAL') inv.report.warn(g, ['spec', 'servers', i, 'tls', 'mode'], 'import-unsupported-field', `tls mode ${mode} at the egress gateway does not carry over: meshc's egress gateway passes application TLS through`, 'originate TLS in the application');
      asArr(server.hosts).forEach((h, k) => {
        const host = typeof h === 'string' ? h.replace(/^[^/]*\//, '').toLowerCase() : '';
        if (!ext.hosts.has(host)) inv.report.warn(g, ['spec', 'servers', i, 'hosts', k], 'import-unknown-host', `"${String(h)}" has no MESH_EXTERNAL ServiceEntry: it does not carry over`, 'import its ServiceEntry too');
      });
    });
  }
  for (const vs of ofKind(inv, 'VirtualService')) if (gatewayRefs(vs, inv).some((r) => refs.has(r))) used.push(vs);
  for (const dr of ofKind(inv, 'DestinationRule')) {
    const host = asStr(asObj(dr.value.spec)?.host) ?? '';
    if (/egressgateway/.test(host)) used.push(dr);
  }
  for (const o of used) inv.consumed.add(o);
  return { viaGateway: true, comment: `egress through the egress gateway: ${used.map((o) => `${o.kind} ${o.name} (${whereIs(o)})`).join(', ')}` };
}

/** External hosts with a DestinationRule or VirtualService of their own (TLS origination, rewrites). */
export function reportExternalTraffic(inv: Inventory, ext: External): void {
  for (const o of ofKind(inv, 'DestinationRule')) {
    const host = (asStr(asObj(o.value.spec)?.host) ?? '').toLowerCase();
    if (!ext.hosts.has(host)) continue;
    inv.consumed.add(o);
    const tp = asObj(asObj(o.value.spec)?.trafficPolicy) ?? {};
    const tls = [asStr(asObj(tp.tls)?.mode), ...asArr(tp.portLevelSettings).map((p) => asStr(asObj(asObj(p)?.tls)?.mode))];
    if (tls.some((m) => m === 'SIMPLE' || m === 'MUTUAL'))
      inv.report.warn(o, ['spec', 'trafficPolicy'], 'import-tls-origination', `TLS origination for ${host} does not carry over: meshc passes the application's TLS through (matched by SNI) and never originates it`, 'have the application call https:// itself; the host stays allowed');
    else inv.report.note(o, ['spec', 'trafficPolicy'], 'import-ignored-field', `the traffic policy for external host ${host} is ignored: meshc's egress forwards by name without balancing`);
  }
  for (const o of ofKind(inv, 'VirtualService')) {
    const hosts = asArr(asObj(o.value.spec)?.hosts).filter((h): h is string => typeof h === 'string').map((h) => h.toLowerCase());
    if (!hosts.some((h) => ext.hosts.has(h)) || asArr(asObj(o.value.spec)?.gateways).length > 0) continue;
    inv.consumed.add(o);
    const spec = asObj(o.value.spec) ?? {};
    const used = new Set<string>();
    const elsewhere = (d: unknown) => {
      const dest = asObj(asObj(d)?.destination) ?? {};
      return dest.port !== undefined || dest.subset !== undefined || !hosts.includes((asStr(dest.host) ?? '').toLowerCase());
    };
    for (const f of ['http', 'tls', 'tcp'])
      for (const rule of asArr(spec[f]))
        for (const k of Object.keys(asObj(rule) ?? {})) {
          if (k === 'route') {
            const dests = asArr(asObj(rule)?.route);
            if (dests.length > 1 || dests.some(elsewhere)) used.add('route to another port or host');
          } else if (k !== 'name') used.add(k);
        }
    const field = ['http', 'tls', 'tcp'].find((f) => spec[f] !== undefined) ?? 'hosts';
    inv.report.warn(o, ['spec', field], 'import-external-route', `${[...used].join(', ') || 'routing'} for external host ${hosts.find((h) => ext.hosts.has(h))} does not carry over: meshc allows the host and forwards calls to it unchanged`, 'call the destination on the port it serves, with the timeout set in the application');
  }
}

/** Where an ingress host came from (for the comments of the printed mesh). */
export interface IngressImport {
  hosts: Record<string, IngressHost>;
  httpsPort?: number;
  comments: Map<string, string>;
  /** Services an ingress route reaches → the VirtualService of the first such route. */
  routed: Map<string, InputObject>;
}

interface ServerHost {
  gateway: InputObject;
  path: (string | number)[];
  tls?: { credentialName?: string; mode: string };
  redirect: boolean;
  https: boolean;
  port: number;
}

/**
 * Gateways on the ingress gateway and the VirtualServices bound to them. `tlsFor` decides a host's
 * certificate from its credentialName (see index.ts).
 */
export function importIngress(inv: Inventory, pods: GatewayPods, tlsFor: (credentialName: string | undefined, gateway: InputObject, path: (string | number)[]) => IngressHost['tls']): IngressImport {
  const out: IngressImport = { hosts: {}, comments: new Map(), routed: new Map() };
  const r = inv.report;
  const gateways = ofKind(inv, 'Gateway').filter((o) => !isEgressGateway(o, pods));
  const byHost = new Map<string, ServerHost[]>();
  const httpsPorts = new Set<number>();
  for (const g of gateways) {
    inv.consumed.add(g);
    asArr(asObj(g.value.spec)?.servers).forEach((raw, i) => {
      const server = asObj(raw) ?? {};
      const port = asObj(server.port) ?? {};
      const protocol = (asStr(port.protocol) ?? '').toUpperCase();
      const tls = asObj(server.tls);
      const mode = asStr(tls?.mode) ?? (tls?.httpsRedirect ? 'REDIRECT' : undefined);
      const base = ['spec', 'servers', i];
      const https = protocol === 'HTTPS' || (protocol === 'TLS' && mode === 'SIMPLE');
      if (protocol === 'TLS' && mode !== 'SIMPLE') {
        r.warn(g, [...base, 'port', 'protocol'], 'import-ingress-protocol', `a TLS server with mode ${mode ?? 'PASSTHROUGH'} does not carry over: meshc's ingress terminates TLS and routes HTTP`, 'terminate TLS at the gateway (HTTPS with mode SIMPLE)');
        return;
      }
      if (!https && protocol !== 'HTTP' && protocol !== 'HTTP2') {
        r.warn(g, [...base, 'port', 'protocol'], 'import-ingress-protocol', `a ${protocol || 'server without protocol'} server does not carry over: meshc's ingress serves HTTPS (and HTTP redirects)`, 'serve it over HTTPS');
        return;
      }
      if (https && mode === 'MUTUAL') r.warn(g, [...base, 'tls', 'mode'], 'import-unsupported-field', 'client certificates at the edge (MUTUAL) do not carry over: meshc\'s ingress authenticates the server only', 'imported as SIMPLE; authenticate clients in the application');
      else if (https && mode !== 'SIMPLE' && mode !== undefined) r.warn(g, [...base, 'tls', 'mode'], 'import-unsupported-field', `tls mode ${mode} does not carry over`, 'use SIMPLE with a credentialName');
      if (https) httpsPorts.add(asNum(port.number) ?? 443);
      for (const f of ['minProtocolVersion', 'maxProtocolVersion', 'cipherSuites', 'subjectAltNames', 'verifyCertificateSpki', 'verifyCertificateHash', 'caCertificates', 'serverCertificate', 'privateKey'])
        if (tls?.[f] !== undefined) r.warn(g, [...base, 'tls', f], 'import-unsupported-field', `${f} does not carry over: meshc chooses TLS settings itself and reads certificates as files`, f === 'serverCertificate' || f === 'privateKey' ? 'point tls.certFile and tls.keyFile at the files' : 'remove it');
      asArr(server.hosts).forEach((h, k) => {
        const host = typeof h === 'string' ? h.replace(/^[^/]*\//, '').toLowerCase() : '';
        if (host === '*' || !/^(\*\.)?[a-z0-9.-]+$/.test(host)) {
          r.warn(g, [...base, 'hosts', k], 'import-ingress-host', `host "${String(h)}" does not carry over: meshc serves named hosts (each with its own certificate, chosen by SNI)`, 'name the public host (for example shop.example.com) in spec.ingress.hosts; the routes of the VirtualServices bound to this server are listed with them');
          return;
        }
        const list = byHost.get(host) ?? [];
        list.push({ gateway: g, path: [...base, 'hosts', k], https, redirect: tls?.httpsRedirect === true, port: asNum(port.number) ?? (https ? 443 : 80), ...(https ? { tls: { mode: mode ?? 'SIMPLE', ...(asStr(tls?.credentialName) ? { credentialName: asStr(tls?.credentialName)! } : {}) } } : {}) });
        byHost.set(host, list);
      });
    });
  }
  if (httpsPorts.size > 1) r.warn(gateways[0], ['spec', 'servers'], 'import-ingress-port', `HTTPS is served on ports ${[...httpsPorts].sort((a, b) => a - b).join(', ')}: meshc's ingress has one HTTPS port; the lowest is imported`, 'serve every host on one HTTPS port');
  const httpsPort = Math.min(...httpsPorts);
  if (httpsPorts.size > 0 && httpsPort !== 443) out.httpsPort = httpsPort;

  // Virtual services bound to these gateways.
  const refs = new Map(gateways.map((g) => [`${nsOf(g, inv)}/${g.name}`, g]));
  const bound = inv.objects.filter((o) => o.kind === 'VirtualService' && gatewayRefs(o, inv).some((x) => refs.has(x)));
  const routes = new Map<string, { route: Route; vs: InputObject }[]>();
  const redirects = new Set<string>();
  const vsOf = new Map<string, InputObject[]>();
  for (const vs of bound) {
    inv.consumed.add(vs);
    const spec = asObj(vs.value.spec) ?? {};
    const hosts = asArr(spec.hosts).filter((h): h is string => typeof h === 'string').map((h) => h.toLowerCase());
    const served = hosts.filter((h) => byHost.has(h));
    // Routes of hosts no named server carries (`*`, or a host on no server) are listed, not lost.
    const lost: string[] = [];
    const quiet = served.length === 0;
    for (const h of served) vsOf.set(h, [...(vsOf.get(h) ?? []), vs]);
    const http = asArr(spec.http);
    http.forEach((raw, i) => {
      const rule = asObj(raw) ?? {};
      const base = ['spec', 'http', i];
      const matches = asArr(rule.match).map((m) => asObj(m) ?? {});
      const redirect = asObj(rule.redirect);
      if (redirect) {
        if (asStr(redirect.scheme) === 'https' && matches.length > 0 && matches.every((m) => m.port !== undefined && Object.keys(m).every((k) => k === 'port'))) {
          for (const h of served) redirects.add(h);
          return;
        }
        r.warn(vs, [...base, 'redirect'], 'import-unsupported-field', 'this redirect does not carry over: meshc\'s ingress redirects plain HTTP to HTTPS only', 'redirect in the application');
        return;
      }
      for (const f of ['fault', 'mirror', 'mirrorPercentage', 'mirrors', 'rewrite', 'headers', 'corsPolicy', 'directResponse', 'delegate']) {
        if (rule[f] === undefined || quiet) continue;
        const code = f === 'fault' ? 'import-fault-injection' : f === 'headers' || f === 'rewrite' ? 'import-header-rewrite' : 'import-unsupported-field';
        r.warn(vs, [...base, f], code, `${f} does not carry over: meshc's ingress forwards requests unchanged to the route's service`, f === 'rewrite' ? 'serve the path the public URL uses' : 'do it in the application');
      }
      const dests = asArr(rule.route);
      if (dests.length > 1 && !quiet) r.warn(vs, [...base, 'route'], 'import-traffic-split', `a weighted split over ${dests.length} destinations does not carry over: the heaviest is imported`, 'route each prefix to one service');
      const heaviest = dests.map((d, k) => ({ d: asObj(asObj(d)?.destination) ?? {}, w: asNum(asObj(d)?.weight) ?? (dests.length === 1 ? 100 : 0), k })).sort((a, b) => b.w - a.w || a.k - b.k)[0];
      if (!heaviest) return;
      if (asStr(heaviest.d.subset) && !quiet) r.warn(vs, [...base, 'route', heaviest.k, 'destination', 'subset'], 'import-subset-routing', `routing to subset ${asStr(heaviest.d.subset)} does not carry over: meshc balances over every pod of the service`, 'import that version as a service of its own, or run only that version');
      const host = asStr(heaviest.d.host) ?? '';
      const svc = serviceByHost(inv, host, nsOf(vs, inv));
      if (!svc) {
        r.warn(vs, [...base, 'route', heaviest.k, 'destination', 'host'], 'import-route-target', `"${host}" is no service of the imported mesh: the route does not carry over`, 'import the service it names together');
        return;
      }
      if (svc.written.protocol === 'tcp') {
        r.warn(vs, [...base, 'route', heaviest.k, 'destination', 'host'], 'import-route-target', `${svc.name} speaks tcp: meshc's ingress routes HTTP only`, 'serve it over HTTP');
        return;
      }
      const prefixes: string[] = [];
      if (matches.length === 0) prefixes.push('/');
      matches.forEach((m, k) => {
        const uri = asObj(m.uri);
        const others = Object.keys(m).filter((x) => x !== 'uri' && x !== 'name' && x !== 'gateways');
        if (others.length > 0 && !quiet) r.warn(vs, [...base, 'match', k, others[0]], 'import-route-match', `matching on ${others.join(', ')} does not carry over: meshc's ingress routes by host and path prefix`, 'route by path prefix');
        if (!uri) prefixes.push('/');
        else if (asStr(uri.prefix) !== undefined) prefixes.push(asStr(uri.prefix)!);
        else if (asStr(uri.exact) !== undefined) {
          if (!quiet) r.warn(vs, [...base, 'match', k, 'uri', 'exact'], 'import-route-exact', `exact path ${asStr(uri.exact)} is imported as a prefix (meshc routes by path prefix): longer paths reach ${svc.name} too`, 'the nearest is the prefix; reject other paths in the application');
          prefixes.push(asStr(uri.exact)!);
        } else if (!quiet) r.warn(vs, [...base, 'match', k, 'uri'], 'import-route-match', 'a regular-expression path does not carry over: meshc routes by path prefix', 'write the prefixes it matches');
      });
      const timeout = parseDuration(rule.timeout);
      const rt = asObj(rule.retries);
      const parsedRetries = rt ? retries(inv, vs, [...base, 'retries'], rt) : undefined;
      const svcRetries = svc.written.retries ?? { attempts: 0 };
      if (parsedRetries && !quiet && JSON.stringify(parsedRetries) !== JSON.stringify(svcRetries))
        r.warn(vs, [...base, 'retries'], 'import-unsupported-field', `retries of this route differ from ${svc.name}'s own: meshc retries per service, so the service's apply`, `set retries on ${svc.name}`);
      for (const prefix of prefixes) if (prefix.startsWith('/')) lost.push(`${prefix} -> ${svc.name}`);
      for (const prefix of prefixes) {
        if (!prefix.startsWith('/')) continue;
        const route: Route = { pathPrefix: prefix, service: svc.name };
        if (timeout !== undefined && timeout !== (parseDuration(svc.written.timeouts?.request) ?? -1)) route.timeout = formatDuration(timeout);
        for (const h of served) {
          const list = routes.get(h) ?? [];
          if (!list.some((x) => x.route.pathPrefix === prefix)) list.push({ route, vs });
          else if (list.find((x) => x.route.pathPrefix === prefix)!.route.service !== svc.name)
            r.error(vs, [...base, 'route'], 'import-conflict', `${h}${prefix} is routed to two services: the first (${list.find((x) => x.route.pathPrefix === prefix)!.route.service}) is imported`, 'route each prefix of a host to one service');
          routes.set(h, list);
          if (!out.routed.has(svc.name)) out.routed.set(svc.name, vs);
        }
      }
    });
    asArr(spec.hosts).forEach((h, k) => {
      if (typeof h !== 'string' || byHost.has(h.toLowerCase())) return;
      r.warn(vs, ['spec', 'hosts', k], 'import-ingress-host', `host "${h}" is on no named server of the gateways it is bound to: its routes do not carry over${lost.length ? ` (${[...new Set(lost)].join(', ')})` : ''}`, 'name the public host in spec.ingress.hosts and give it these routes');
    });
    for (const f of ['tcp', 'tls']) if (asArr(spec[f]).length > 0) r.warn(vs, ['spec', f], 'import-ingress-protocol', `${f} routes at the ingress do not carry over: meshc's ingress routes HTTP by host and path`, 'serve it over HTTPS');
  }

  for (const host of [...byHost.keys()].sort(cmp)) {
    const servers = byHost.get(host)!;
    const https = servers.find((s) => s.https);
    const hostRoutes = routes.get(host) ?? [];
    if (hostRoutes.length === 0) {
      r.warn(servers[0].gateway, servers[0].path, 'import-ingress-unrouted', `host ${host} has no VirtualService route to a service of the imported mesh: it does not carry over`, 'import the VirtualService bound to this Gateway');
      continue;
    }
    const plain = servers.some((s) => !s.https && !s.redirect);
    const redirected = servers.some((s) => !s.https && s.redirect) || redirects.has(host);
    if (!https) r.warn(servers[0].gateway, servers[0].path, 'import-plain-http-host', `host ${host} is served over plain HTTP only: meshc serves every ingress host over TLS; imported with a certificate from the mesh CA and plain HTTP still answered (redirectHttp: false)`, 'give the host a certificate (tls.certFile and tls.keyFile) and redirect HTTP to HTTPS');
    const tls = https ? tlsFor(https.tls?.credentialName, https.gateway, [...https.path.slice(0, -2), 'tls', 'credentialName']) : 'generated';
    out.hosts[host] = { tls, redirectHttp: https ? redirected || !plain : false, routes: hostRoutes.map((x) => x.route) as IngressHost['routes'] };
    const sources = [...new Set([...servers.map((s) => s.gateway), ...hostRoutes.map((x) => x.vs)])];
    out.comments.set(host, `from ${sources.map((o) => `${o.kind} ${o.name} (${whereIs(o)})`).join(', ')}`);
  }
  return out;
}
