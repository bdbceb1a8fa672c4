/**
 * Who may call whom: AuthorizationPolicies (ALLOW by principal and namespace; DENY where it is the
 * absence of an allow), PeerAuthentication modes, RequestAuthentications; and what each service
 * calls: Sidecar `egress.hosts`, or else the services that allow it.
 */
import { cmp } from '../../model/mesh.js';
import { addComment, asArr, asObj, asStr, nsOf, ofKind, selects, serviceByHost, sortUnique, strMap, type ImportedService, type Inventory, type Path } from './context.js';
import type { InputObject } from './read.js';

/** Istio's root namespace: policies there apply to every namespace. */
export const ROOT_NS = 'istio-system';
/** The ingress gateway as a caller: in meshc an ingress route is itself that permission. */
export const INGRESS = '<ingress>';

export type Callers = { all: true } | { all: false; names: Set<string> };

/** Whether a policy with this selector (or none) in this namespace applies to the service's pods. */
export function appliesTo(o: InputObject, inv: Inventory, svc: ImportedService, selectorPath: Path): boolean {
  const ns = nsOf(o, inv);
  if (ns !== inv.ns && ns !== ROOT_NS) return false;
  const sel = asObj(asObj(o.value.spec)?.[selectorPath[0] as string]);
  const labels = strMap(selectorPath.length > 1 ? sel?.[selectorPath[1] as string] : undefined);
  if (Object.keys(labels).length === 0) return true;
  if (svc.pods.length === 0) return false;
  return svc.pods.some((p) => selects(labels, p.labels));
}

/** `*`, `prefix*` and `*suffix` as Istio matches principals and namespaces. */
function matches(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  return pattern === value;
}

interface Identity {
  /** Service name, or INGRESS. */
  caller: string;
  namespace: string;
  serviceAccount: string;
}

function identities(inv: Inventory, gatewaySas: { namespace: string; serviceAccount: string }[]): Identity[] {
  const out: Identity[] = [];
  for (const s of inv.services) for (const sa of s.serviceAccounts) out.push({ caller: s.name, namespace: inv.ns, serviceAccount: sa });
  for (const g of gatewaySas) out.push({ caller: INGRESS, ...g });
  return out;
}

interface Evaluated {
  callers: Callers;
  /** Callers named by an exact principal (not a namespace or a wildcard). */
  named: Set<string>;
  /** Something in the rule narrows it in a way meshc cannot express (methods, paths, `when`, ...). */
  narrowed: boolean;
}

/** The callers one rule admits, with every field it cannot carry reported. */
function evaluateRule(o: InputObject, rulePath: Path, rule: Record<string, unknown>, ids: Identity[], inv: Inventory, action: string): Evaluated {
  let narrowed = false;
  const r = inv.report;
  if (rule.to !== undefined) {
    narrowed = true;
    if (action === 'ALLOW') r.warn(o, [...rulePath, 'to'], 'import-authz-operation', 'operations (methods, paths, ports, hosts) do not carry over: meshc authorizes by caller identity only, so the callers of this rule are allowed every operation', 'enforce the operation in the application, or leave it to a later, finer policy');
  }
  if (rule.when !== undefined) {
    narrowed = true;
    if (action === 'ALLOW') r.warn(o, [...rulePath, 'when'], 'import-authz-condition', '`when` conditions do not carry over: meshc authorizes by caller identity only, so the callers of this rule are allowed without the condition', 'check the condition in the application');
  }
  const from = asArr(rule.from);
  const named = new Set<string>();
  if (rule.from === undefined || from.length === 0) return { callers: { all: true }, narrowed, named };
  const names = new Set<string>();
  let all = false;
  from.forEach((raw, i) => {
    const source = asObj(asObj(raw)?.source) ?? {};
    const path = [...rulePath, 'from', i, 'source'];
    let matched = ids;
    let constrained = false;
    const principals = asArr(source.principals).filter((x): x is string => typeof x === 'string');
    const namespaces = asArr(source.namespaces).filter((x): x is string => typeof x === 'string');
    const notPrincipals = asArr(source.notPrincipals).filter((x): x is string => typeof x === 'string');
    const notNamespaces = asArr(source.notNamespaces).filter((x): x is string => typeof x === 'string');
    if (principals.length > 0) {
      constrained = true;
      matched = matched.filter((id) => principals.some((p) => principalMatches(p, id)));
      for (const id of matched) if (principals.some((p) => !p.includes('*') && principalMatches(p, id))) named.add(id.caller);
      principals.forEach((p, k) => {
        if (!ids.some((id) => principalMatches(p, id)))
          r.warn(o, [...path, 'principals', k], 'import-unknown-principal', `principal "${p}" is no workload of the imported mesh: callers outside it cannot carry over`, 'import the namespaces of these callers together, or call through the ingress gateway');
      });
    }
    if (namespaces.length > 0) {
      constrained = true;
      matched = matched.filter((id) => namespaces.some((n) => matches(n, id.namespace)));
      namespaces.forEach((n, k) => {
        if (!ids.some((id) => matches(n, id.namespace)))
          r.warn(o, [...path, 'namespaces', k], 'import-unknown-principal', `namespace "${n}" holds no workload of the imported mesh (namespace ${inv.ns}): its callers cannot carry over`, 'meshc meshes are one namespace: import the other namespace as its own mesh');
      });
    }
    if (notPrincipals.length > 0) {
      constrained = true;
      matched = matched.filter((id) => !notPrincipals.some((p) => principalMatches(p, id)));
    }
    if (notNamespaces.length > 0) {
      constrained = true;
      matched = matched.filter((id) => !notNamespaces.some((n) => matches(n, id.namespace)));
    }
    for (const field of ['requestPrincipals', 'notRequestPrincipals', 'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks']) {
      if (source[field] === undefined) continue;
      narrowed = true;
      if (action === 'ALLOW') r.warn(o, [...path, field], 'import-authz-condition', `${field} does not carry over: meshc authorizes by workload identity (the mTLS certificate) only`, field.includes('equest') ? 'check the JWT in the application' : 'restrict addresses with a NetworkPolicy');
    }
    if (!constrained) all = true;
    for (const id of matched) names.add(id.caller);
  });
  return { callers: all ? { all: true } : { all: false, names }, narrowed, named };
}

function principalMatches(pattern: string, id: Identity): boolean {
  // `<trust domain>/ns/<ns>/sa/<sa>`: any trust domain (Istio's cluster.local alias or the mesh's own).
  const value = `/ns/${id.namespace}/sa/${id.serviceAccount}`;
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) {
    const p = pattern.slice(0, -1);
    const i = p.indexOf('/ns/');
    return i === -1 ? false : value.startsWith(p.slice(i));
  }
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1));
  const i = pattern.indexOf('/ns/');
  return i !== -1 && pattern.slice(i) === value;
}

/**
 * allowFrom of every service from the AuthorizationPolicies. Istio denies a request a DENY policy
 * matches; else, when any ALLOW policy selects the workload, allows only what one of them matches;
 * else allows it. A service no ALLOW policy selects is imported as allowing every service.
 */
export function importAuthorization(inv: Inventory, gatewaySas: { namespace: string; serviceAccount: string }[]): Map<string, Callers> {
  const ids = identities(inv, gatewaySas);
  const policies = ofKind(inv, 'AuthorizationPolicy');
  const result = new Map<string, Callers>();
  for (const o of policies) {
    const spec = asObj(o.value.spec) ?? {};
    if (spec.targetRef !== undefined || spec.targetRefs !== undefined) inv.report.warn(o, ['spec', spec.targetRef !== undefined ? 'targetRef' : 'targetRefs'], 'import-unsupported-field', 'targetRef (a waypoint or gateway policy) does not carry over: meshc policies select services by name', 'write the callers in the allowFrom of the services concerned');
    const action = asStr(spec.action) ?? 'ALLOW';
    if (action === 'CUSTOM') inv.report.warn(o, ['spec', 'action'], 'import-unsupported-field', 'CUSTOM (an external authorizer) does not carry over', 'call the authorizer from the application');
    if (action === 'AUDIT') inv.report.note(o, ['spec', 'action'], 'import-ignored-field', 'AUDIT policies only log: ignored');
  }
  for (const svc of inv.services) {
    const applicable = policies.filter((o) => appliesTo(o, inv, svc, ['selector', 'matchLabels']));
    const allows = applicable.filter((o) => (asStr(asObj(o.value.spec)?.action) ?? 'ALLOW') === 'ALLOW');
    const denies = applicable.filter((o) => asStr(asObj(o.value.spec)?.action) === 'DENY');
    let callers: Callers = { all: false, names: new Set() };
    const allowedBy = new Map<string, { o: InputObject; path: Path }>();
    if (allows.length === 0) callers = { all: true };
    for (const o of allows) {
      const rules = asArr(asObj(o.value.spec)?.rules);
      rules.forEach((raw, i) => {
        const ev = evaluateRule(o, ['spec', 'rules', i], asObj(raw) ?? {}, ids, inv, 'ALLOW');
        if (ev.callers.all) callers = { all: true };
        else if (!callers.all) for (const n of ev.callers.names) callers.names.add(n);
        for (const n of ev.named) if (!allowedBy.has(n)) allowedBy.set(n, { o, path: ['spec', 'rules', i, 'from'] });
      });
    }
    const allowNames = allows.map((o) => o.name).sort(cmp);
    if (allows.length === 0) addComment(svc, 'allowFrom', 'no AuthorizationPolicy ALLOWs selectively: Istio lets every workload call it');
    else addComment(svc, 'allowFrom', `from AuthorizationPolicy ${allowNames.join(', ')}`);
    for (const o of denies) {
      const rules = asArr(asObj(o.value.spec)?.rules);
      rules.forEach((raw, i) => {
        const ev = evaluateRule(o, ['spec', 'rules', i], asObj(raw) ?? {}, ids, inv, 'DENY');
        if (ev.narrowed) {
          inv.report.warn(o, ['spec', 'rules', i], 'import-authz-deny', 'this DENY rule applies to some requests only (operations, conditions or request fields): it cannot be expressed as the absence of an allow and does not carry over', 'deny those requests in the application, or deny the callers entirely');
          return;
        }
        const denied = ev.callers.all ? new Set(ids.map((id) => id.caller)) : ev.callers.names;
        if (callers.all) callers = { all: false, names: new Set(ids.map((id) => id.caller)) };
        for (const n of denied) {
          const allowed = allowedBy.get(n);
          if (allowed && callers.names.has(n))
            inv.report.warn(allowed.o, allowed.path, 'import-authz-conflict', `allows ${n === INGRESS ? 'the ingress gateway' : n} to call ${svc.name}, but AuthorizationPolicy ${o.name} denies it: Istio applies DENY first, so it is not allowed`, 'remove the caller from one of the two policies');
          callers.names.delete(n);
        }
      });
      addComment(svc, 'allowFrom', `less the callers AuthorizationPolicy ${o.name} DENYs`);
    }
    result.set(svc.name, callers);
  }
  return result;
}

/** PeerAuthentication: meshc always requires mutual TLS, so only STRICT carries over as it is. */
export function importPeerAuthentication(inv: Inventory): void {
  const pas = ofKind(inv, 'PeerAuthentication');
  for (const o of pas) {
    const spec = asObj(o.value.spec) ?? {};
    const mode = asStr(asObj(spec.mtls)?.mode) ?? 'UNSET';
    const scope = Object.keys(strMap(asObj(spec.selector)?.matchLabels)).length > 0 ? 'the workloads it selects' : nsOf(o, inv) === ROOT_NS ? 'the whole mesh' : `namespace ${nsOf(o, inv)}`;
    if (mode === 'PERMISSIVE') inv.report.warn(o, ['spec', 'mtls', 'mode'], 'import-mtls-mode', `PERMISSIVE for ${scope}: meshc always requires mutual TLS, so callers without a mesh certificate are refused`, 'move plaintext callers into the mesh (or behind the ingress gateway) first; STRICT is what carries over');
    if (mode === 'DISABLE') inv.report.warn(o, ['spec', 'mtls', 'mode'], 'import-mtls-mode', `DISABLE for ${scope}: meshc always requires mutual TLS`, 'the nearest is STRICT: every caller must be in the mesh');
    const ports = asObj(spec.portLevelMtls);
    for (const port of Object.keys(ports ?? {}).sort(cmp)) {
      const m = asStr(asObj(ports![port])?.mode) ?? 'UNSET';
      if (m !== 'STRICT' && !(m === 'UNSET' && mode === 'STRICT')) inv.report.warn(o, ['spec', 'portLevelMtls', port], 'import-mtls-per-port', `port ${port} has mTLS mode ${m}: meshc has no per-port mode, every port requires mutual TLS`, 'serve plaintext callers through the ingress gateway, or probe through the sidecar\'s probe port');
    }
  }
  if (!pas.some((o) => (asStr(asObj(asObj(o.value.spec)?.mtls)?.mode) ?? '') === 'STRICT') && inv.services.length > 0) {
    const first = inv.services[0].pods[0]?.obj ?? inv.services[0].fronts[0];
    inv.report.note(first, [], 'import-mtls-default', 'no PeerAuthentication sets STRICT: Istio accepted plaintext callers (PERMISSIVE); meshc always requires mutual TLS');
  }
}

/** RequestAuthentication (JWT) has no counterpart: reported, nothing imported. */
export function importRequestAuthentication(inv: Inventory): void {
  for (const o of ofKind(inv, 'RequestAuthentication')) inv.report.warn(o, ['spec', 'jwtRules'], 'import-jwt', 'JWT validation does not carry over: meshc authenticates workloads by mTLS, not end users', 'validate JWTs in the application or an API gateway in front of the mesh');
}

export interface SidecarScope {
  /** Services the Sidecar's egress hosts name; undefined when it imports every service. */
  upstreams?: Set<string>;
  /** External hosts (ServiceEntry hosts) it names; undefined when it imports every one. */
  external?: Set<string>;
  registryOnly: boolean;
  source?: InputObject;
}

/**
 * The Sidecar that applies to a service (one selecting its pods wins over the namespace's default,
 * which wins over the root namespace's) and what its egress hosts name.
 */
export function sidecarScope(inv: Inventory, svc: ImportedService, externalHosts: Set<string>, registryOnlyDefault: boolean): SidecarScope {
  const sidecars = inv.objects.filter((o) => o.kind === 'Sidecar');
  const selected = sidecars.filter((o) => nsOf(o, inv) === inv.ns && Object.keys(strMap(asObj(asObj(o.value.spec)?.workloadSelector)?.labels)).length > 0 && appliesTo(o, inv, svc, ['workloadSelector', 'labels']));
  const nsDefault = sidecars.filter((o) => nsOf(o, inv) === inv.ns && Object.keys(strMap(asObj(asObj(o.value.spec)?.workloadSelector)?.labels)).length === 0);
  const rootDefault = sidecars.filter((o) => nsOf(o, inv) === ROOT_NS && Object.keys(strMap(asObj(asObj(o.value.spec)?.workloadSelector)?.labels)).length === 0);
  const chosen = selected[0] ?? nsDefault[0] ?? rootDefault[0];
  if (selected.length > 1) inv.report.error(selected[1], ['spec', 'workloadSelector'], 'import-conflict', `selects the workloads of ${svc.name}, as Sidecar ${selected[0].name} does: Istio's choice between them is undefined; ${selected[0].name} is imported`, 'keep one Sidecar per workload');
  if (!chosen) return { registryOnly: registryOnlyDefault };
  const spec = asObj(chosen.value.spec) ?? {};
  const mode = asStr(asObj(spec.outboundTrafficPolicy)?.mode);
  const scope: SidecarScope = { registryOnly: mode === undefined ? registryOnlyDefault : mode === 'REGISTRY_ONLY', source: chosen };
  const egress = asArr(spec.egress);
  if (egress.length === 0) return scope;
  const upstreams = new Set<string>();
  const external = new Set<string>();
  let wideServices = false;
  let wideExternal = false;
  egress.forEach((raw, i) => {
    const listener = asObj(raw) ?? {};
    if (listener.port !== undefined) inv.report.warn(chosen, ['spec', 'egress', i, 'port'], 'import-unsupported-field', 'an egress listener on one port does not carry over: meshc gives each upstream its own local listener', 'remove the port; the hosts still carry over');
    asArr(listener.hosts).forEach((h, k) => {
      if (typeof h !== 'string') return;
      const slash = h.indexOf('/');
      const ns = slash === -1 ? '*' : h.slice(0, slash);
      const host = slash === -1 ? h : h.slice(slash + 1);
      if (ns === '~') return;
      const inMesh = ns === '.' || ns === '*' || ns === inv.ns;
      if (!inMesh) {
        if (ns !== ROOT_NS) inv.report.note(chosen, ['spec', 'egress', i, 'hosts', k], 'import-other-namespace', `"${h}" names namespace ${ns}, outside the imported mesh: ignored`);
        return;
      }
      if (host === '*') {
        wideServices = true;
        wideExternal = true;
        return;
      }
      const target = serviceByHost(inv, host, ns === '.' || ns === '*' ? inv.ns : ns);
      if (target) {
        if (target.name !== svc.name) upstreams.add(target.name);
        return;
      }
      if (externalHosts.has(host.toLowerCase())) {
        external.add(host.toLowerCase());
        return;
      }
      inv.report.warn(chosen, ['spec', 'egress', i, 'hosts', k], 'import-unknown-host', `"${h}" is neither a service of the imported mesh nor a ServiceEntry host: it does not carry over`, 'import the ServiceEntry or the service it names together');
    });
  });
  if (!wideServices) scope.upstreams = upstreams;
  if (!wideExternal) scope.external = external;
  for (const field of ['ingress', 'inboundConnectionPool', 'outboundConnectionPool']) if (spec[field] !== undefined) inv.report.warn(chosen, ['spec', field], 'import-unsupported-field', `${field} does not carry over: meshc's sidecars listen on their own inbound port`, 'remove it; meshc sets the inbound listener from the service port');
  return scope;
}

export function setAllowFrom(inv: Inventory, svc: ImportedService, callers: Callers): void {
  const names = callers.all ? inv.services.map((s) => s.name) : [...callers.names];
  const list = sortUnique(names.filter((n) => n !== svc.name && n !== INGRESS));
  if (list.length > 0) svc.written.allowFrom = list;
}
