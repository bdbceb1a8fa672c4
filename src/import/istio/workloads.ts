/**
 * Services from workloads: Deployments and StatefulSets are grouped by the Kubernetes Services
 * (and MESH_INTERNAL ServiceEntries) that front them; each group is one mesh service, named after
 * the host its callers use. Its identity is the pods' ServiceAccount: an AuthorizationPolicy
 * principal names a ServiceAccount, and resolves to every service whose pods run as it.
 */
import { cmp, RESERVED_NAMES, type Protocol } from '../../model/mesh.js';
import type { Service as WrittenService } from '../../schema/written-mesh.js';
import { asArr, asNum, asObj, asStr, hostForms, nsOf, selects, strMap, whereIs, type ImportedService, type Inventory, type Pod } from './context.js';
import type { InputObject, Obj } from './read.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function isProxy(c: Obj): boolean {
  const name = asStr(c.name) ?? '';
  const image = asStr(c.image) ?? '';
  return name === 'istio-proxy' || name === 'envoy' || /(^|\/)(proxyv2|envoy)([:@]|$)/.test(image);
}

function portsOf(c: Obj): { name?: string; port: number }[] {
  return asArr(c.ports).flatMap((p) => {
    const o = asObj(p);
    const port = asNum(o?.containerPort);
    return port === undefined ? [] : [{ ...(asStr(o?.name) ? { name: asStr(o?.name)! } : {}), port }];
  });
}

/** The pods of a Deployment or StatefulSet; undefined (and an error) when it is malformed. */
export function readPod(o: InputObject, inv: Inventory): Pod | undefined {
  const spec = asObj(o.value.spec);
  const template = asObj(spec?.template);
  const podSpec = asObj(template?.spec);
  if (!o.name) {
    inv.report.error(o, ['metadata', 'name'], 'import-malformed', 'has no name: not imported');
    return undefined;
  }
  if (!podSpec || !Array.isArray(podSpec.containers)) {
    inv.report.error(o, ['spec', 'template', 'spec', 'containers'], 'import-malformed', 'has no pod template with containers: not imported', 'check the manifest with `kubectl apply --dry-run=client -f`');
    return undefined;
  }
  const containers = asArr(podSpec.containers).map((c) => asObj(c) ?? {});
  const proxyPorts = new Set<number>();
  let inboundPort: number | undefined;
  for (const c of [...containers, ...asArr(podSpec.initContainers).map((c) => asObj(c) ?? {})]) {
    if (!isProxy(c)) continue;
    for (const p of portsOf(c)) {
      proxyPorts.add(p.port);
      if (p.name === 'mesh-inbound') inboundPort = p.port;
    }
  }
  const index = containers.findIndex((c) => !isProxy(c));
  const app = index === -1 ? undefined : containers[index];
  const replicas = spec?.replicas === undefined ? 1 : asNum(spec.replicas);
  if (replicas === undefined) inv.report.error(o, ['spec', 'replicas'], 'import-malformed', 'replicas is not a number: 1 assumed');
  return {
    obj: o,
    namespace: nsOf(o, inv),
    labels: strMap(asObj(template?.metadata)?.labels),
    serviceAccount: asStr(podSpec.serviceAccountName) ?? asStr(podSpec.serviceAccount) ?? 'default',
    ...(app ? { app: { name: asStr(app.name) ?? '', ...(asStr(app.image) ? { image: asStr(app.image)! } : {}), ports: portsOf(app), index } } : {}),
    proxyPorts,
    ...(inboundPort !== undefined ? { inboundPort } : {}),
    replicas: replicas ?? 1,
  };
}

/** A gateway's pods: only proxy containers, or Istio's gateway labels or injection template. */
export function isGatewayPod(p: Pod): boolean {
  const annotations = strMap(asObj(asObj(asObj(p.obj.value.spec)?.template)?.metadata)?.annotations);
  return !p.app || p.labels.istio === 'ingressgateway' || p.labels.istio === 'egressgateway' || annotations['inject.istio.io/templates'] === 'gateway';
}

/** What two definitions of one workload must agree on to be the same workload. */
function podFacts(p: Pod): string {
  return JSON.stringify([p.serviceAccount, p.app?.image, p.app?.ports.map((x) => x.port), p.replicas, Object.entries(p.labels).filter(([k]) => k !== 'sidecar.istio.io/inject').sort()]);
}

/**
 * Reads every workload. The same workload written twice (meshc's k8s/ and istio/ trees both
 * define each Deployment) is one workload when the two agree on its service account, image,
 * ports, replicas and labels; otherwise the first is kept and the conflict reported.
 */
export function readPods(inv: Inventory, objects: InputObject[]): Pod[] {
  const seen = new Map<string, Pod>();
  const pods: Pod[] = [];
  for (const o of objects) {
    const pod = readPod(o, inv);
    if (!pod) continue;
    const key = `${o.kind}/${pod.namespace}/${o.name}`;
    const prev = seen.get(key);
    if (prev && isGatewayPod(prev) && isGatewayPod(pod)) {
      // Two definitions of a gateway (meshc's Envoy one and Istio's): both select Gateways; neither is a service.
      pods.push(pod);
      continue;
    }
    if (prev) {
      for (const port of pod.proxyPorts) prev.proxyPorts.add(port);
      prev.inboundPort ??= pod.inboundPort;
      if (podFacts(prev) !== podFacts(pod)) inv.report.error(o, [], 'import-conflict', `is defined twice and the definitions differ (the other is at ${whereIs(prev.obj)}): the first is imported`, 'keep one definition of each workload in the input');
      continue;
    }
    seen.set(key, pod);
    pods.push(pod);
  }
  return pods;
}

/** Istio's protocol selection: `appProtocol`, else the port name's prefix (`http-web`, `grpc`). */
export function protocolOf(name: string | undefined, appProtocol: string | undefined): { protocol?: Protocol; istio?: string } {
  const raw = (appProtocol ?? name?.split('-')[0] ?? '').toLowerCase();
  switch (raw) {
    case 'http':
    case 'http1':
      return { protocol: 'http', istio: raw };
    case 'http2':
    case 'h2c':
      return { protocol: 'http2', istio: raw };
    case 'grpc':
    case 'grpc-web':
      return { protocol: 'grpc', istio: raw };
    case 'tcp':
    case 'tls':
    case 'https':
    case 'mongo':
    case 'mysql':
    case 'redis':
      return { protocol: 'tcp', istio: raw };
    default:
      return {};
  }
}

interface Front {
  obj: InputObject;
  /** Service name, or the short name of a ServiceEntry host in the cluster. */
  name: string;
  hosts: string[];
  pods: Pod[];
  /** Service ports that reach the application (not a proxy port), with their protocol hints. */
  ports: { servicePort: number; target: number; name?: string; appProtocol?: string; index: number }[];
}

function servicePorts(o: InputObject, pods: Pod[]): Front['ports'] {
  const spec = asObj(o.value.spec) ?? {};
  const out: Front['ports'] = [];
  asArr(spec.ports).forEach((raw, index) => {
    const p = asObj(raw);
    const servicePort = asNum(p?.port);
    if (!p || servicePort === undefined) return;
    const tp = p.targetPort ?? servicePort;
    let target: number | undefined = asNum(tp);
    if (target === undefined && typeof tp === 'string') target = pods.flatMap((x) => x.app?.ports ?? []).find((cp) => cp.name === tp)?.port;
    if (target === undefined || pods.some((x) => x.proxyPorts.has(target!))) return;
    out.push({ servicePort, target, ...(asStr(p.name) ? { name: asStr(p.name)! } : {}), ...(asStr(p.appProtocol) ? { appProtocol: asStr(p.appProtocol)! } : {}), index });
  });
  return out;
}

/** Groups the workloads into services and fills in port, protocol, image and replicas. */
export function buildServices(inv: Inventory, pods: Pod[]): void {
  const meshPods = pods.filter((p) => p.namespace === inv.ns && !isGatewayPod(p));
  const fronts: Front[] = [];
  const seenServices = new Set<string>();
  for (const o of inv.objects.filter((x) => x.kind === 'Service' && x.group === '' && nsOf(x, inv) === inv.ns)) {
    const spec = asObj(o.value.spec) ?? {};
    const selector = strMap(spec.selector);
    if (Object.keys(selector).length === 0) continue;
    const selected = meshPods.filter((p) => selects(selector, p.labels));
    if (selected.length === 0) continue;
    const key = o.name;
    const ports = servicePorts(o, selected);
    // meshc's k8s tree has a headless Service on the sidecar's port only; the istio tree, the
    // same name on the application's port. The first adds a name and nothing else.
    if (seenServices.has(key)) {
      const prev = fronts.find((f) => f.name === key && f.obj.kind === 'Service');
      if (prev && prev.ports.length === 0) Object.assign(prev, { obj: o, ports });
      else if (prev && ports.length > 0 && JSON.stringify(prev.ports.map((p) => [p.servicePort, p.target, p.name])) !== JSON.stringify(ports.map((p) => [p.servicePort, p.target, p.name])))
        inv.report.error(o, ['spec', 'ports'], 'import-conflict', `is defined twice with different ports (the other is at ${whereIs(prev.obj)}): the first is imported`, 'keep one definition of each Service in the input');
      continue;
    }
    seenServices.add(key);
    fronts.push({ obj: o, name: o.name, hosts: hostForms(o.name, inv.ns), pods: selected, ports });
  }
  // A MESH_INTERNAL ServiceEntry in the cluster's own domain names a service too (meshc writes one
  // for a service with written endpoints), selecting pods by its endpoints' labels.
  for (const o of inv.objects.filter((x) => x.kind === 'ServiceEntry' && nsOf(x, inv) === inv.ns)) {
    const spec = asObj(o.value.spec) ?? {};
    if (spec.location !== 'MESH_INTERNAL') continue;
    const hosts = asArr(spec.hosts).filter((h): h is string => typeof h === 'string').map((h) => h.toLowerCase());
    const suffix = `.${inv.ns}.svc.cluster.local`;
    const own = hosts.find((h) => h.endsWith(suffix) && DNS_LABEL.test(h.slice(0, -suffix.length)));
    if (!own) continue;
    const selector = strMap(asObj(spec.workloadSelector)?.labels);
    const endpointLabels = asArr(spec.endpoints).map((e) => strMap(asObj(e)?.labels));
    const selected = meshPods.filter((p) => (Object.keys(selector).length > 0 && selects(selector, p.labels)) || endpointLabels.some((l) => Object.keys(l).length > 0 && selects(l, p.labels)));
    const ports = asArr(spec.ports).flatMap((raw, index) => {
      const p = asObj(raw);
      const n = asNum(p?.number);
      const target = asNum(p?.targetPort) ?? n;
      return n === undefined || target === undefined ? [] : [{ servicePort: n, target, ...(asStr(p?.name) ? { name: asStr(p?.name)! } : {}), ...(asStr(p?.protocol) ? { appProtocol: asStr(p?.protocol)! } : {}), index }];
    });
    fronts.push({ obj: o, name: own.slice(0, -suffix.length), hosts: [...hosts, ...hostForms(own.slice(0, -suffix.length), inv.ns)], pods: selected, ports });
  }

  // Pods that share a front are one service (union-find over fronts).
  const groupOf = new Map<Pod, number>();
  const groups: { pods: Set<Pod>; fronts: Front[] }[] = [];
  for (const f of fronts) {
    const joined = new Set(f.pods.map((p) => groupOf.get(p)).filter((g): g is number => g !== undefined));
    const target = joined.size > 0 ? Math.min(...joined) : groups.push({ pods: new Set(), fronts: [] }) - 1;
    for (const g of joined) {
      if (g === target) continue;
      for (const p of groups[g].pods) groups[target].pods.add(p);
      groups[target].fronts.push(...groups[g].fronts);
      groups[g] = { pods: new Set(), fronts: [] };
    }
    groups[target].fronts.push(f);
    for (const p of f.pods) groups[target].pods.add(p);
    for (const p of groups[target].pods) groupOf.set(p, target);
  }
  for (const p of meshPods) if (!groupOf.has(p)) groupOf.set(p, groups.push({ pods: new Set([p]), fronts: [] }) - 1);
  // Fronts without pods (a VM's ServiceEntry with endpoints only) are services of their own.
  for (const f of fronts) if (f.pods.length === 0 && f.obj.kind === 'ServiceEntry' && asArr(asObj(f.obj.value.spec)?.endpoints).length > 0) groups.push({ pods: new Set(), fronts: [f] });

  const taken = new Set<string>();
  for (const g of groups) {
    if (g.pods.size === 0 && g.fronts.length === 0) continue;
    const groupPods = [...g.pods].sort((a, b) => a.obj.order - b.obj.order);
    const svc = makeService(inv, groupPods, g.fronts, taken);
    if (svc) inv.services.push(svc);
  }
  inv.services.sort((a, b) => cmp(a.name, b.name));
}

function serviceName(pods: Pod[], fronts: Front[]): string {
  const names = [...new Set(fronts.map((f) => f.name))].sort(cmp);
  const sas = new Set(pods.map((p) => p.serviceAccount));
  return (
    names.find((n) => sas.has(n)) ??
    (fronts.filter((f) => f.obj.kind === 'Service').length === 1 ? fronts.find((f) => f.obj.kind === 'Service')!.name : undefined) ??
    names.find((n) => pods.some((p) => p.obj.name === n)) ??
    names[0] ??
    pods[0].labels.app ??
    pods[0].labels['app.kubernetes.io/name'] ??
    pods[0].obj.name
  );
}

function makeService(inv: Inventory, pods: Pod[], fronts: Front[], taken: Set<string>): ImportedService | undefined {
  const name = serviceName(pods, fronts);
  const anchor = fronts[0]?.obj ?? pods[0].obj;
  if (!DNS_LABEL.test(name) || name.length > 63 || RESERVED_NAMES.includes(name)) {
    inv.report.error(anchor, ['metadata', 'name'], 'import-bad-name', `"${name}" cannot name a mesh service (a DNS-1123 label other than ${RESERVED_NAMES.join(' and ')}): not imported`, 'rename the Service or workload');
    return undefined;
  }
  if (taken.has(name)) {
    inv.report.error(anchor, ['metadata', 'name'], 'import-conflict', `a second service would be named "${name}": not imported`, 'give the Services distinct names');
    return undefined;
  }
  taken.add(name);
  const written: WrittenService = { port: 0 };
  const svc: ImportedService = { name, pods, fronts: fronts.map((f) => f.obj), hosts: new Set(fronts.flatMap((f) => f.hosts)), serviceAccounts: new Set(pods.map((p) => p.serviceAccount)), written, comments: new Map() };
  for (const h of hostForms(name, inv.ns)) svc.hosts.add(h);

  const parts = [
    ...fronts.map((f) => `${f.obj.kind} ${f.obj.name} (${whereIs(f.obj)})`),
    ...pods.map((p) => `${p.obj.kind} ${p.obj.name} (${whereIs(p.obj)})`),
  ];
  const sas = [...svc.serviceAccounts].sort(cmp);
  svc.comments.set('', `from ${parts.join(', ')}${sas.length ? `; identity: ServiceAccount ${sas.join(', ')}` : ''}`);
  for (const sa of sas) {
    if (sa !== name) inv.report.note(pods.find((p) => p.serviceAccount === sa)!.obj, ['spec', 'template', 'spec', 'serviceAccountName'], 'import-identity-renamed', `ServiceAccount ${sa} becomes the identity of service ${name} (meshc names a workload's identity after its service): principals naming ${sa} are imported as ${name}`);
  }
  if (pods.length > 0 && sas.length > 1) inv.report.warn(pods[0].obj, ['spec', 'template', 'spec', 'serviceAccountName'], 'import-mixed-identity', `service ${name} runs as several ServiceAccounts (${sas.join(', ')}); meshc gives a service one identity`, 'run every workload of a service as one ServiceAccount');

  // The port: the first Service port that reaches the application; other ports do not carry over.
  const port = fronts.flatMap((f) => f.ports.map((p) => ({ ...p, obj: f.obj }))).sort((a, b) => (a.obj.kind === b.obj.kind ? 0 : a.obj.kind === 'Service' ? -1 : 1))[0];
  const appPorts = pods.flatMap((p) => p.app?.ports ?? []);
  if (port) {
    written.port = port.target;
    const proto = protocolOf(port.name, port.appProtocol);
    const fromContainer = protocolOf(appPorts.find((p) => p.port === port.target)?.name, undefined);
    const protocol = proto.protocol ?? fromContainer.protocol;
    if (protocol && protocol !== 'http') written.protocol = protocol;
    if (!protocol) inv.report.note(port.obj, ['spec', 'ports', port.index], 'import-protocol', `port ${port.servicePort} names no protocol (Istio detects it): imported as http`, 'name the port (`http-…`, `grpc-…`, `tcp-…`) or set appProtocol; set protocol: tcp in mesh.yaml if it is not HTTP');
    if (['tls', 'https', 'mongo', 'mysql', 'redis'].includes(proto.istio ?? '')) inv.report.note(port.obj, ['spec', 'ports', port.index], 'import-protocol', `port ${port.servicePort} speaks ${proto.istio}: imported as tcp (meshc's sidecars forward it as a byte stream inside mutual TLS)`);
    if (port.servicePort !== port.target && port.obj.kind === 'Service') inv.report.note(port.obj, ['spec', 'ports', port.index, 'port'], 'import-port-renumbered', `callers reached port ${port.servicePort}, the application listens on ${port.target}: meshc's port is the application's (${port.target})`);
    const extra = fronts.filter((f) => f.obj.kind === 'Service').flatMap((f) => f.ports.filter((p) => !(f.obj === port.obj && p.index === port.index) && p.target !== port.target).map((p) => ({ f, p })));
    for (const { f, p } of extra) inv.report.warn(f.obj, ['spec', 'ports', p.index], 'import-extra-port', `port ${p.servicePort} (to ${p.target}) does not carry over: a meshc service has one port (${port.target})`, 'split the service, or serve both on one port');
  } else if (appPorts.length > 0) {
    written.port = appPorts[0].port;
    const protocol = protocolOf(appPorts[0].name, undefined).protocol;
    if (protocol && protocol !== 'http') written.protocol = protocol;
  } else {
    written.port = 8080;
    inv.report.warn(anchor, [], 'import-no-port', `service ${name} has no Service port and no container port: port 8080 is written as a placeholder`, 'set the port the application listens on');
  }

  // Image and replicas: one image per service; replicas summed over its workloads.
  const images = [...new Set(pods.map((p) => p.app?.image).filter((x): x is string => !!x))];
  if (images.length > 0) written.image = pods.find((p) => p.app?.image)!.app!.image;
  if (images.length > 1) {
    const first = pods.find((p) => p.app?.image)!;
    inv.report.warn(first.obj, ['spec', 'template', 'spec', 'containers', first.app!.index, 'image'], 'import-versions', `service ${name} runs ${pods.length} workloads with different images (${pods.map((p) => `${p.obj.name}: ${p.app?.image}`).join(', ')}); meshc runs one image per service: ${first.app!.image} is imported`, 'import each version as a service of its own, or keep one version');
  }
  const replicas = pods.reduce((n, p) => n + p.replicas, 0);
  if (pods.length > 0 && replicas !== 1) written.replicas = Math.min(replicas, 1000);
  if (pods.length > 1) svc.comments.set('replicas', `the sum over ${pods.map((p) => p.obj.name).join(', ')}`);
  return svc;
}
