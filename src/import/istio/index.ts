/**
 * `meshc import istio`: reads Kubernetes and Istio objects into a mesh.yaml that says what they
 * said, and reports, at the source line of each object and field, every part that does not carry
 * over. It is not a second compiler: the result is checked by the same schema, normalization,
 * rules and target checks as any mesh.yaml.
 *
 *   read.ts       files, documents, List objects, with positions
 *   workloads.ts  services from Deployments, StatefulSets, Services, ServiceEntries (MESH_INTERNAL)
 *   policy.ts     AuthorizationPolicy, PeerAuthentication, RequestAuthentication, Sidecar
 *   traffic.ts    DestinationRule, VirtualService for a service's own host
 *   edge.ts       ServiceEntry (MESH_EXTERNAL), egress gateway, ingress Gateways and their routes
 *   emit.ts       the mesh.yaml text, with comments naming the source of each part
 */
import { X509Certificate } from 'node:crypto';
import { cmp } from '../../model/mesh.js';
import { DEFAULTS } from '../../model/normalize.js';
import type { Diagnostic } from '../../model/diagnostic.js';
import type { IngressHost, WrittenMesh } from '../../schema/written-mesh.js';
import { addComment, asArr, asObj, asStr, nsOf, Report, sortUnique, strMap, whereIs, type Inventory } from './context.js';
import { egressPorts, importEgressGateways, importIngress, importServiceEntries, reportExternalTraffic, type GatewayPods } from './edge.js';
import { emitMesh, checkPrinted } from './emit.js';
import { importAuthorization, importPeerAuthentication, importRequestAuthentication, INGRESS, ROOT_NS, setAllowFrom, sidecarScope } from './policy.js';
import { readInputs, type InputObject } from './read.js';
import { importDestinationRules, importServiceVirtualServices } from './traffic.js';
import { buildServices, isGatewayPod, readPods } from './workloads.js';

export interface ImportResult {
  /** The printed mesh.yaml; absent when the input could not be read (exit 2). */
  yaml?: string;
  mesh?: WrittenMesh;
  diagnostics: Diagnostic[];
  /** 0 everything mapped, 1 something reported (the mesh is partial), 2 input unreadable. */
  exitCode: 0 | 1 | 2;
}

const ISTIO_NET = ['v1alpha3', 'v1beta1', 'v1'];
const ISTIO_SEC = ['v1beta1', 'v1'];
/** Kinds the importer reads: their API group and the versions it knows. */
const KNOWN: Record<string, { group: string; versions: string[] }> = {
  Deployment: { group: 'apps', versions: ['v1'] },
  StatefulSet: { group: 'apps', versions: ['v1'] },
  Service: { group: '', versions: ['v1'] },
  ServiceAccount: { group: '', versions: ['v1'] },
  Secret: { group: '', versions: ['v1'] },
  Namespace: { group: '', versions: ['v1'] },
  Gateway: { group: 'networking.istio.io', versions: ISTIO_NET },
  VirtualService: { group: 'networking.istio.io', versions: ISTIO_NET },
  DestinationRule: { group: 'networking.istio.io', versions: ISTIO_NET },
  ServiceEntry: { group: 'networking.istio.io', versions: ISTIO_NET },
  Sidecar: { group: 'networking.istio.io', versions: ISTIO_NET },
  AuthorizationPolicy: { group: 'security.istio.io', versions: ISTIO_SEC },
  PeerAuthentication: { group: 'security.istio.io', versions: ISTIO_SEC },
  RequestAuthentication: { group: 'security.istio.io', versions: ISTIO_SEC },
  IstioOperator: { group: 'install.istio.io', versions: ['v1alpha1'] },
};
const WORKLOAD_KINDS = new Set(['DaemonSet', 'ReplicaSet', 'ReplicationController', 'Pod', 'Job', 'CronJob']);
/** Istio kinds that change traffic or security and have no mesh.yaml counterpart. */
const ISTIO_UNSUPPORTED: Record<string, string> = {
  EnvoyFilter: 'patches the generated Envoy configuration; meshc writes the configuration itself',
  WasmPlugin: 'extends the proxies with WebAssembly, which meshc\'s proxies do not run',
  WorkloadEntry: 'adds a VM workload; write its address in the service\'s endpoints',
  WorkloadGroup: 'templates VM workloads; write their addresses in the service\'s endpoints',
  ProxyConfig: 'tunes the Istio proxy; meshc configures its proxies itself',
};

/** Keeps the objects the importer reads; reports unknown versions, unsupported and ignored kinds. */
function sortObjects(objects: InputObject[], report: Report): InputObject[] {
  const kept: InputObject[] = [];
  const ignored = new Map<string, { first: InputObject; kinds: Map<string, number> }>();
  for (const o of objects) {
    const known = KNOWN[o.kind];
    if (known && known.group === o.group) {
      if (!known.versions.includes(o.version)) {
        report.error(o, ['apiVersion'], 'import-unknown-version', `${o.apiVersion} is not a version of ${o.kind} meshc knows (${known.versions.map((v) => (known.group ? `${known.group}/${v}` : v)).join(', ')}): not imported`, `convert it to ${known.group ? `${known.group}/` : ''}${known.versions[known.versions.length - 1]}`);
        continue;
      }
      if (!o.name && o.kind !== 'IstioOperator') {
        report.error(o, ['metadata', 'name'], 'import-malformed', 'has no metadata.name: not imported', 'name the object');
        continue;
      }
      if (o.value.spec !== undefined && asObj(o.value.spec) === undefined) {
        report.error(o, ['spec'], 'import-malformed', 'spec is not a mapping: not imported', 'check the manifest with `kubectl apply --dry-run=server -f`');
        continue;
      }
      kept.push(o);
      continue;
    }
    if (o.group === 'gateway.networking.k8s.io') {
      report.warn(o, ['kind'], 'import-unsupported-kind', `the Kubernetes Gateway API (${o.kind}) is not imported`, 'describe the same with Istio Gateway and VirtualService objects, or write spec.ingress by hand');
      continue;
    }
    if (o.group.endsWith('istio.io') && ISTIO_UNSUPPORTED[o.kind]) {
      report.warn(o, ['kind'], 'import-unsupported-kind', `${o.kind} does not carry over: it ${ISTIO_UNSUPPORTED[o.kind]}`);
      continue;
    }
    if (o.group.endsWith('istio.io') && KNOWN[o.kind] === undefined && o.kind !== 'Telemetry') {
      report.warn(o, ['kind'], 'import-unsupported-kind', `${o.apiVersion} ${o.kind} is not imported`);
      continue;
    }
    if (WORKLOAD_KINDS.has(o.kind)) {
      report.warn(o, ['kind'], 'import-unsupported-kind', `a ${o.kind} is not imported: meshc deploys each service as a Deployment`, 'run it as a Deployment, or add it to mesh.yaml by hand');
      continue;
    }
    const key = o.source.file;
    const entry = ignored.get(key) ?? { first: o, kinds: new Map<string, number>() };
    entry.kinds.set(o.kind, (entry.kinds.get(o.kind) ?? 0) + 1);
    ignored.set(key, entry);
  }
  for (const { first, kinds } of ignored.values()) {
    const list = [...kinds].sort(([a], [b]) => cmp(a, b)).map(([k, n]) => `${n} ${k}`).join(', ');
    report.list.push({ ...placeNote(first, report), message: `ignored ${list} (kinds mesh.yaml does not describe)`, code: 'import-ignored-kind' });
  }
  return kept;
}

function placeNote(o: InputObject, report: Report): Diagnostic {
  report.note(o, ['kind'], 'import-ignored-kind', '');
  return report.list.pop()!;
}

/** The mesh namespace: where most application workloads are (kubectl's `default` for objects without one). */
function meshNamespace(objects: InputObject[]): string {
  const counts = new Map<string, number>();
  for (const o of objects) {
    if (o.kind !== 'Deployment' && o.kind !== 'StatefulSet') continue;
    const ns = o.namespace ?? 'default';
    if (ns === ROOT_NS) continue;
    counts.set(ns, (counts.get(ns) ?? 0) + 1);
  }
  const best = [...counts].sort(([a, x], [b, y]) => y - x || cmp(a, b))[0];
  return best?.[0] ?? objects.find((o) => o.namespace && o.namespace !== ROOT_NS)?.namespace ?? 'default';
}

/** The mesh's name: meshc's `app.kubernetes.io/part-of` label when the objects agree on one, else the namespace. */
function meshName(objects: InputObject[], ns: string): string {
  const names = new Set(objects.map((o) => strMap(asObj(o.value.metadata)?.labels)['app.kubernetes.io/part-of']).filter((x): x is string => !!x));
  const [only] = names;
  return names.size === 1 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(only) && only.length <= 63 ? only : ns;
}

/** The certificate in a kubernetes.io/tls Secret, when it parses. */
function secretCert(o: InputObject): X509Certificate | undefined {
  const crt = asStr(asObj(o.value.data)?.['tls.crt']);
  if (!crt) return undefined;
  try {
    return new X509Certificate(Buffer.from(crt, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** `CN=shop mesh CA` as node prints an issuer: a meshc mesh CA issued it (see certs/engine.ts). */
function meshCaOf(cert: X509Certificate): { trustDomain?: string } | undefined {
  const lines = cert.issuer.split('\n');
  if (!lines.some((l) => /^CN=.* mesh CA$/.test(l))) return undefined;
  const o = lines.find((l) => l.startsWith('O='));
  return o ? { trustDomain: o.slice(2) } : {};
}

export async function importIstio(paths: readonly string[]): Promise<ImportResult> {
  const read = await readInputs(paths);
  const inv: Inventory = { ns: 'default', objects: [], services: [], report: new Report(() => inv.ns), consumed: new Set() };
  if (read.unreadable) return { diagnostics: sortDiagnostics(read.diagnostics), exitCode: 2 };
  inv.ns = meshNamespace(read.objects);
  const r = inv.report;
  r.list.push(...read.diagnostics);
  inv.objects = sortObjects(read.objects, r);

  // Services.
  const pods = readPods(inv, inv.objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet'));
  for (const p of pods) if (p.namespace !== inv.ns && p.namespace !== ROOT_NS && !isGatewayPod(p)) r.warn(p.obj, ['metadata', 'namespace'], 'import-other-namespace', `is in namespace ${p.namespace}, not ${inv.ns}: a meshc mesh is one namespace, so it is not imported`, `import namespace ${p.namespace} as a mesh of its own`);
  buildServices(inv, pods);
  const gatewayPods: GatewayPods = {
    ingress: pods.filter((p) => isGatewayPod(p) && p.labels.istio !== 'egressgateway'),
    egress: pods.filter((p) => isGatewayPod(p) && p.labels.istio === 'egressgateway'),
  };
  // meshc's own sidecars (the k8s tree) name their inbound port; one port for the whole mesh.
  const inboundPorts = new Set(inv.services.flatMap((s) => s.pods.map((p) => p.inboundPort ?? DEFAULTS.sidecar.inboundPort)));
  const inboundPort = inboundPorts.size === 1 ? [...inboundPorts][0] : DEFAULTS.sidecar.inboundPort;
  for (const svc of inv.services) {
    const se = svc.fronts.find((f) => f.kind === 'ServiceEntry' && asArr(asObj(f.value.spec)?.endpoints).length > 0);
    if (se) {
      const endpoints = asArr(asObj(se.value.spec)?.endpoints).flatMap((e) => {
        const addr = asStr(asObj(e)?.address);
        const weight = asObj(e)?.weight;
        return addr ? [typeof weight === 'number' && weight !== 1 ? { address: `${addr}:${inboundPort}`, weight: Math.min(Math.max(weight, 1), 128) } : `${addr}:${inboundPort}`] : [];
      });
      if (endpoints.length > 0) svc.written.endpoints = endpoints as NonNullable<typeof svc.written.endpoints>;
      addComment(svc, 'endpoints', `from ServiceEntry ${se.name}: the workloads' addresses, where meshc's sidecar listens (inbound port ${inboundPort})`);
    }
  }

  // Who may call whom.
  importPeerAuthentication(inv);
  importRequestAuthentication(inv);
  const gatewaySas = [
    ...gatewayPods.ingress.map((p) => ({ namespace: p.namespace, serviceAccount: p.serviceAccount })),
    { namespace: ROOT_NS, serviceAccount: 'istio-ingressgateway-service-account' },
  ];
  const callers = importAuthorization(inv, gatewaySas);
  for (const svc of inv.services) setAllowFrom(inv, svc, callers.get(svc.name) ?? { all: true });

  // Traffic policy of services, then the edges.
  importDestinationRules(inv, inv.objects.filter((o) => o.kind === 'DestinationRule' && !/egressgateway/.test(asStr(asObj(o.value.spec)?.host) ?? '')));
  const ext = importServiceEntries(inv);
  const egressGw = importEgressGateways(inv, ext, gatewayPods);
  reportExternalTraffic(inv, ext);
  importServiceVirtualServices(inv, inv.objects.filter((o) => o.kind === 'VirtualService' && !inv.consumed.has(o) && asArr(asObj(o.value.spec)?.gateways).every((g) => g === 'mesh')), inboundPort);
  const secrets = inv.objects.filter((o) => o.kind === 'Secret');
  let trustDomain: string | undefined;
  const tlsDecided = new Map<string, IngressHost['tls']>();
  const tlsFor = (cred: string | undefined, gw: InputObject, path: (string | number)[]): IngressHost['tls'] => {
    if (!cred) return 'generated';
    const known = tlsDecided.get(cred);
    if (known) return known;
    const tls = decideTls(cred, gw, path);
    tlsDecided.set(cred, tls);
    return tls;
  };
  const decideTls = (cred: string, gw: InputObject, path: (string | number)[]): IngressHost['tls'] => {
    const secret = secrets.find((s) => s.name === cred);
    const cert = secret ? secretCert(secret) : undefined;
    const ca = cert ? meshCaOf(cert) : undefined;
    if (ca) {
      trustDomain ??= ca.trustDomain;
      r.note(gw, path, 'import-ingress-credential', `credential ${cred} was issued by a meshc mesh CA: imported as tls: generated (the new mesh's CA issues it again)`);
      return 'generated';
    }
    // mesh.yaml names certificate files, which must exist for the mesh to validate; the printed mesh
    // gets a certificate from the mesh CA and the diagnostic says how to keep the real one.
    const gwNs = gatewayPods.ingress[0]?.namespace ?? ROOT_NS;
    r.warn(gw, path, 'import-ingress-credential', `the certificate of credential ${cred} does not carry over (mesh.yaml names certificate files; a Secret is not one): imported as tls: generated, a certificate from the mesh CA that public clients do not trust`, `export it: kubectl -n ${gwNs} get secret ${cred} -o jsonpath='{.data.tls\\.crt}' | base64 -d > tls/${cred}.crt, the same for tls\\.key into tls/${cred}.key, then set tls: { certFile: tls/${cred}.crt, keyFile: tls/${cred}.key }`);
    return 'generated';
  };
  const ingress = importIngress(inv, gatewayPods, tlsFor);
  for (const svc of inv.services) {
    const c = callers.get(svc.name);
    const vs = ingress.routed.get(svc.name);
    if (vs && c && !c.all && !c.names.has(INGRESS))
      r.warn(vs, ['spec', 'http'], 'import-route-not-allowed', `routes to ${svc.name}, whose AuthorizationPolicies do not allow the ingress gateway: in meshc an ingress route is itself that permission, so the route is allowed`, `remove the route if ${svc.name} must not be reachable from the internet`);
  }

  // Upstreams and egress of every service.
  const registryOnlyDefault = inv.objects.some((o) => o.kind === 'IstioOperator' && asStr(asObj(asObj(asObj(o.value.spec)?.meshConfig)?.outboundTrafficPolicy)?.mode) === 'REGISTRY_ONLY');
  const externalHosts = new Set(ext.hosts.keys());
  const egressOf = new Map<string, string[]>();
  const allowAny: string[] = [];
  let allowAnyAt: InputObject | undefined;
  let scoped = false;
  for (const svc of inv.services) {
    const scope = sidecarScope(inv, svc, externalHosts, registryOnlyDefault);
    if (scope.source) inv.consumed.add(scope.source);
    if (scope.upstreams) {
      if (scope.upstreams.size > 0) svc.written.upstreams = sortUnique(scope.upstreams);
      addComment(svc, 'upstreams', `from Sidecar ${scope.source!.name} egress.hosts (${whereIs(scope.source!)})`);
    } else {
      const ups = inv.services.filter((s) => s !== svc && (callers.get(s.name)?.all || (callers.get(s.name) as { names?: Set<string> } | undefined)?.names?.has(svc.name))).map((s) => s.name);
      if (ups.length > 0) svc.written.upstreams = sortUnique(ups);
      addComment(svc, 'upstreams', `the services that allow it${scope.source ? ` (Sidecar ${scope.source.name} imports every service)` : ' (no Sidecar lists its egress hosts)'}`);
    }
    if (scope.external) scoped = true;
    egressOf.set(svc.name, sortUnique(scope.external ?? externalHosts));
    if (!scope.registryOnly) {
      allowAny.push(svc.name);
      allowAnyAt ??= scope.source ?? svc.pods[0]?.obj ?? svc.fronts[0];
    }
  }
  if (allowAny.length > 0 && allowAnyAt) {
    const atSidecar = allowAnyAt.kind === 'Sidecar';
    r.warn(allowAnyAt, atSidecar ? ['spec', 'outboundTrafficPolicy'] : [], 'import-allow-any-egress', `${allowAny.join(', ')} may reach any external host (outboundTrafficPolicy ALLOW_ANY, Istio's default, unless the mesh config says REGISTRY_ONLY): meshc allows only listed domains, so only the ServiceEntry hosts carry over`, 'list every external domain the services call in spec.egress.allow or their own egress');
  }
  const lists = [...egressOf.values()];
  const meshWide = lists.length > 0 && (lists.length > 1 || !scoped) ? lists.reduce((acc, l) => acc.filter((d) => l.includes(d))) : [];
  for (const svc of inv.services) {
    const own = (egressOf.get(svc.name) ?? []).filter((d) => !meshWide.includes(d));
    if (own.length > 0) {
      svc.written.egress = own;
      addComment(svc, 'egress', `ServiceEntry ${own.map((d) => ext.hosts.get(d)!.name).filter((n, i, a) => a.indexOf(n) === i).join(', ')}${scoped ? ', as its Sidecar lists them' : ''}`);
    }
  }

  // Defaults that differ between Istio and meshc, said once.
  const noLb = inv.services.filter((s) => !s.balancedBy);
  if (noLb.length > 0) r.note(noLb[0].pods[0]?.obj ?? noLb[0].fronts[0], [], 'import-default-lb', `no DestinationRule sets a load balancer for ${noLb.map((s) => s.name).join(', ')}: Istio balanced them with LEAST_REQUEST (its default); meshc's default is round_robin`, 'set loadBalancing: { policy: least_request } to keep Istio\'s behaviour');
  const noRetries = inv.services.filter((s) => s.written.protocol !== 'tcp' && !s.retriedBy);
  if (noRetries.length > 0) r.note(noRetries[0].pods[0]?.obj ?? noRetries[0].fronts[0], [], 'import-default-retries', `no VirtualService sets retries for ${noRetries.map((s) => s.name).join(', ')}: Istio retried twice on connection failures (its default); meshc does not retry unless retries are set`, 'set retries: { attempts: 2, retryOn: [connect-failure, reset] } to keep Istio\'s behaviour');

  // What was read by no stage.
  for (const o of inv.objects) {
    if (o.kind === 'VirtualService' && !inv.consumed.has(o)) r.warn(o, ['spec', 'hosts'], 'import-unmatched', 'names no service, external host or gateway of the imported mesh: it does not carry over', 'import the objects it refers to together');
    if (o.kind === 'DestinationRule' && !inv.consumed.has(o)) r.warn(o, ['spec', 'host'], 'import-unmatched', `host ${asStr(asObj(o.value.spec)?.host) ?? ''} is no service or external host of the imported mesh: it does not carry over`, 'import the objects it refers to together');
    if (o.kind === 'Sidecar' && !inv.consumed.has(o) && nsOf(o, inv) === inv.ns) r.note(o, ['spec'], 'import-unmatched', 'selects no imported service: ignored');
    if ((o.kind === 'AuthorizationPolicy' || o.kind === 'PeerAuthentication' || o.kind === 'Sidecar') && nsOf(o, inv) !== inv.ns && nsOf(o, inv) !== ROOT_NS) r.note(o, ['metadata', 'namespace'], 'import-other-namespace', `applies to namespace ${nsOf(o, inv)}, not the imported mesh's (${inv.ns}): ignored`);
  }

  const mesh: WrittenMesh = {
    apiVersion: 'meshc.dev/v1',
    kind: 'Mesh',
    metadata: { name: meshName(inv.objects, inv.ns) },
    spec: {
      trustDomain: trustDomain ?? 'cluster.local',
      namespace: inv.ns,
      services: Object.fromEntries(inv.services.map((s) => [s.name, s.written])),
    },
  };
  const ports = egressPorts(inv, ext);
  if (meshWide.length > 0 || ports.tlsPort || ports.httpPort || egressGw.viaGateway)
    mesh.spec.egress = { ...(meshWide.length ? { allow: meshWide } : {}), ...ports, ...(egressGw.viaGateway ? { viaGateway: true } : {}) };
  if (inboundPort !== DEFAULTS.sidecar.inboundPort) mesh.spec.sidecar = { inboundPort };
  if (Object.keys(ingress.hosts).length > 0) mesh.spec.ingress = { ...(ingress.httpsPort ? { httpsPort: ingress.httpsPort } : {}), hosts: ingress.hosts };

  const yaml = emitMesh(mesh, inv, { paths, files: read.files, objects: read.objects.length, egress: egressGw.comment, ingress: ingress.comments, meshWide: meshWide.map((d) => `${d} (ServiceEntry ${ext.hosts.get(d)!.name})`) });
  r.list.push(...checkPrinted(yaml));
  const diagnostics = sortDiagnostics(r.list);
  const reported = diagnostics.some((d) => d.severity !== 'note');
  return { yaml, mesh, diagnostics, exitCode: reported ? 1 : 0 };
}


/** By file, then position. */
function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return [...list].sort((a, b) => (a.file === b.file ? 0 : cmp(a.file, b.file)) || a.line - b.line || a.col - b.col || cmp(a.code, b.code) || cmp(a.message, b.message));
}
