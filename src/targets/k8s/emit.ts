/**
 * The Kubernetes tree (kustomize-ready). Every object is a plain object serialized by the one YAML
 * module; files and lists are in code-unit order, so the same mesh gives the same bytes.
 *
 *   k8s/kustomization.yaml         every file below
 *   k8s/namespace.yaml             the Namespace
 *   k8s/ca-bundle.yaml             ConfigMap meshc-ca-bundle: the trust bundle (public)
 *   k8s/network-policies.yaml      default deny (ingress and egress), DNS
 *   k8s/<service>.yaml             ServiceAccount, ConfigMap <service>-envoy (the Envoy bootstrap),
 *                                  Deployment (app + Envoy sidecar), headless Service, NetworkPolicy
 *   k8s/ingress-gateway.yaml       the same for the ingress gateway; its Service is a LoadBalancer
 *   k8s/egress-gateway.yaml        the same for the egress gateway (mTLS, each caller to its own list); ClusterIP Service
 *
 * Private keys never enter k8s/ (a tree meant to be committed): they are in kubernetes.io/tls
 * Secrets under secrets/k8s/ (mode 0600, git-ignored with the rest of secrets/), with an overlay:
 *
 *   secrets/k8s/kustomization.yaml        resources: ../../k8s and every Secret file below
 *   secrets/k8s/<identity>-tls.yaml       a workload's certificate and key
 *   secrets/k8s/ingress/<host>-tls.yaml   an ingress host's certificate chain and key (`*.` as `_wildcard.`)
 *
 * so `kubectl apply -k out/secrets/k8s` deploys everything, keys included.
 */
import type { CertMaterial, IssuedCert } from '../../certs/material.js';
import { hostFileName } from '../../certs/material.js';
import { EGRESS_GATEWAY, INGRESS_GATEWAY, type Mesh, type Service, serviceByName } from '../../model/mesh.js';
import { toYaml, toYamlDocuments } from '../../output/yaml.js';
import type { OutputFile } from '../target.js';
import { GENERATED_HEADER, wanted } from '../target.js';
import {
  APP_ENV_DOC,
  CA_BUNDLE_CONFIGMAP,
  appEnv,
  commonLabels,
  header,
  ingressSecretName,
  kustomization,
  selectorLabels,
  workloadLabels,
  workloadSecretName,
} from './names.js';
import { egressGatewayPolicy, ingressGatewayPolicy, namespacePolicies, servicePolicy } from './network-policy.js';
import { metricsContainerPorts, metricsPolicy, podMonitor, POD_MONITOR_FILE } from './metrics.js';
import { otlpPolicy } from './telemetry.js';
import {
  appSecurityContext,
  containerResources,
  deployment,
  envoyConfigMap,
  envoyContainer,
  podDisruptionBudget,
  podFiles,
  podSpec,
  serviceAccount,
} from './workload.js';
import { namespaceLabels } from './pod-security.js';
import { cmp } from '../../model/mesh.js';

type Obj = Record<string, unknown>;

export const K8S_DIR = 'k8s';
export const K8S_SECRETS_DIR = 'secrets/k8s';
const SECRET_MODE = 0o600;

/** A workload's Envoy bootstrap (`envoy/<name>.yaml`), as the Envoy target emits it for the cluster. */
export type BootstrapOf = (name: string) => string;

export function envoyBootstrapPath(name: string): string {
  return `envoy/${name}.yaml`;
}

/** The Kubernetes manifests and the secrets overlay, one file at a time. */
export function* emitK8s(mesh: Mesh, certs: CertMaterial, bootstrapOf: BootstrapOf, only?: ReadonlySet<string>): Iterable<OutputFile> {
  yield* emitK8sManifests(mesh, certs, bootstrapOf, only);
  yield* emitK8sSecrets(mesh, certs, only);
}

/** The k8s/ tree. */
export function* emitK8sManifests(mesh: Mesh, certs: CertMaterial, bootstrapOf: BootstrapOf, only?: ReadonlySet<string>): Iterable<OutputFile> {
  const resources: string[] = [];
  const add = (name: string, content: string): OutputFile => {
    resources.push(name);
    return { path: `${K8S_DIR}/${name}`, content };
  };

  yield add(
    'namespace.yaml',
    toYaml({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: mesh.namespace, labels: namespaceLabels(mesh) } }, GENERATED_HEADER),
  );
  yield add(
    'ca-bundle.yaml',
    toYaml(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: CA_BUNDLE_CONFIGMAP, namespace: mesh.namespace, labels: commonLabels(mesh) },
        data: { [baseName(certs.trustBundlePath)]: certs.trustBundlePem },
      },
      GENERATED_HEADER,
    ),
  );
  yield add('network-policies.yaml', toYamlDocuments([...namespacePolicies(mesh), ...metricsPolicy(mesh), ...otlpPolicy(mesh)], GENERATED_HEADER));
  const monitor = podMonitor(mesh);
  if (monitor) yield add(POD_MONITOR_FILE, toYaml(monitor, GENERATED_HEADER));

  for (const svc of mesh.services) {
    if (wanted(only, svc.name)) yield add(`${svc.name}.yaml`, serviceFile(mesh, certs, svc, bootstrapOf(svc.name)));
    else resources.push(`${svc.name}.yaml`);
  }
  yield add(`${INGRESS_GATEWAY}.yaml`, ingressGatewayFile(mesh, certs, bootstrapOf(INGRESS_GATEWAY)));
  yield add(`${EGRESS_GATEWAY}.yaml`, egressGatewayFile(mesh, certs, bootstrapOf(EGRESS_GATEWAY)));
  yield { path: `${K8S_DIR}/kustomization.yaml`, content: toYaml(kustomization(resources.sort(cmp)), GENERATED_HEADER) };
}

/** The secrets overlay (secrets/k8s/): it needs the certificates, not the manifests. */
export function* emitK8sSecrets(mesh: Mesh, certs: CertMaterial, only?: ReadonlySet<string>): Iterable<OutputFile> {
  const secretNames: string[] = [];
  for (const name of [...certs.workloads.keys()].sort(cmp)) secretNames.push(workloadSecretPath('', name));
  // A gateway's Secret is not one service's own: always emitted.
  yield* workloadSecretFiles(mesh, certs, K8S_SECRETS_DIR, (name) => serviceByName(mesh, name) === undefined || wanted(only, name));
  for (const f of ingressSecretFiles(mesh, certs)) {
    secretNames.push(f.path.slice(K8S_SECRETS_DIR.length + 1));
    yield f;
  }
  yield {
    path: `${K8S_SECRETS_DIR}/kustomization.yaml`,
    content:
      header(
        'Overlay with the private keys: `kubectl apply -k out/secrets/k8s` deploys the k8s/ tree and',
        'these kubernetes.io/tls Secrets (a workload\'s certificate and key, an ingress host\'s chain and key).',
        'Keep secrets/ out of version control.',
      ) + toYaml(kustomization([`../../${K8S_DIR}`, ...secretNames.sort(cmp)])),
  };
}

function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

function serviceFile(mesh: Mesh, certs: CertMaterial, svc: Service, bootstrap: string): string {
  const labels = workloadLabels(mesh, svc.name);
  const files = podFiles(svc.name, envoyBootstrapPath(svc.name), bootstrap, certs);
  const sc = svc.sidecar;
  const probe =
    svc.protocol === 'tcp'
      ? { tcpSocket: { port: sc.probePort } }
      : { httpGet: { path: svc.healthPath, port: sc.probePort, scheme: 'HTTP' } };
  const app: Obj = {
    name: svc.name,
    image: svc.image,
    env: appEnv(mesh, svc),
    ports: [{ name: 'app', containerPort: svc.port, protocol: 'TCP' }],
    // Through the sidecar's plaintext probe port: it answers the health path only, so probes
    // work under strict mTLS, and a failing application is restarted (not its sidecar).
    // Spreads last: V8 gives each `{ ...x, more }` object a map of its own (see normalize.ts).
    readinessProbe: { periodSeconds: 5, failureThreshold: 3, ...probe },
    livenessProbe: { initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3, ...probe },
    resources: containerResources(svc.kubernetes.resources),
    securityContext: appSecurityContext(svc.kubernetes.securityContext),
  };
  const sidecar = envoyContainer(files, {
    proxy: svc.kubernetes.proxy,
    ports: [
      { name: 'mesh-inbound', containerPort: sc.inboundPort },
      { name: 'mesh-probe', containerPort: sc.probePort },
      ...metricsContainerPorts(mesh),
    ],
    sidecar: true,
    // The application starts once its sidecar listens (its upstreams are reachable from the start).
    startupProbe: { tcpSocket: { port: sc.probePort }, periodSeconds: 1, failureThreshold: 60 },
  });
  const objects: Obj[] = [
    serviceAccount(mesh, svc.name, labels),
    envoyConfigMap(mesh, files, labels),
    deployment(mesh, svc.name, labels, selectorLabels(svc.name), svc.replicas, files, podSpec(svc.name, files, { initContainers: [sidecar], containers: [app] })),
    ...sidecarServices(mesh, svc, labels),
    servicePolicy(mesh, svc),
  ];
  return (
    toYamlDocuments(objects, {
      text: header(
        `Service ${svc.name}: its application (${svc.image}) with an Envoy sidecar (bootstrap: envoy/${svc.name}.yaml).`,
        'The Service is headless: callers\' sidecars resolve it (STRICT_DNS) and balance over the pods themselves.',
        ...APP_ENV_DOC,
      ),
    })
  );
}

/**
 * The headless Service on the sidecar's inbound port, named like the service; and one more per
 * written endpoint that names another host in this namespace (`search-a.<ns>.svc.cluster.local`),
 * selecting the same pods, so the names the sidecars resolve exist.
 */
function sidecarServices(mesh: Mesh, svc: Service, labels: Record<string, string>): Obj[] {
  const extra = extraEndpointServices(mesh, svc);
  const headless = (name: string, port: number) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: mesh.namespace, labels },
    spec: {
      clusterIP: 'None',
      selector: selectorLabels(svc.name),
      ports: [{ name: 'mesh-inbound', port, targetPort: svc.sidecar.inboundPort, protocol: 'TCP', appProtocol: 'tls' }],
    },
  });
  return [headless(svc.name, svc.sidecar.inboundPort), ...[...extra].map(([n, p]) => headless(n, p))];
}

function isIdentity(mesh: Mesh, name: string): boolean {
  return name === INGRESS_GATEWAY || name === EGRESS_GATEWAY || serviceByName(mesh, name) !== undefined;
}

/** `x.<ns>.svc.cluster.local` → `x`; anything else → undefined. */
export function endpointServiceName(mesh: Mesh, host: string): string | undefined {
  const suffix = `.${mesh.namespace}.svc.cluster.local`;
  if (!host.endsWith(suffix)) return undefined;
  const name = host.slice(0, -suffix.length);
  return /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name) && name.length <= 63 ? name : undefined;
}

const endpointNameIndex = new WeakMap<Mesh, Map<string, string[]>>();

/** Endpoint names in the namespace that are not an identity's own name → the services listing them. */
export function endpointNameClaims(mesh: Mesh): Map<string, string[]> {
  let claims = endpointNameIndex.get(mesh);
  if (!claims) {
    claims = new Map();
    for (const svc of mesh.services) {
      for (const e of svc.endpoints) {
        const name = endpointServiceName(mesh, e.host);
        if (!name || isIdentity(mesh, name)) continue;
        const owners = claims.get(name) ?? [];
        if (!owners.includes(svc.name)) owners.push(svc.name);
        claims.set(name, owners);
      }
    }
    endpointNameIndex.set(mesh, claims);
  }
  return claims;
}

/**
 * The extra Service names (and ports) a service's written endpoints need: names in the namespace
 * that no identity has and no other service lists (a shared name cannot select two services'
 * pods; `check` warns about it).
 */
export function extraEndpointServices(mesh: Mesh, svc: Service): Map<string, number> {
  const claims = endpointNameClaims(mesh);
  const extra = new Map<string, number>();
  for (const e of svc.endpoints) {
    const name = endpointServiceName(mesh, e.host);
    if (name && claims.get(name)?.length === 1 && !extra.has(name)) extra.set(name, e.port);
  }
  return new Map([...extra].sort(([a], [b]) => cmp(a, b)));
}

function ingressGatewayFile(mesh: Mesh, certs: CertMaterial, bootstrap: string): string {
  const gw = mesh.ingress;
  return gatewayFile(mesh, certs, bootstrap, {
    name: INGRESS_GATEWAY,
    kubernetes: gw.kubernetes,
    ports: gw.httpsPort !== gw.httpPort ? [{ name: 'http', containerPort: gw.httpPort }, { name: 'https', containerPort: gw.httpsPort }] : [{ name: 'http', containerPort: gw.httpPort }],
    // The HTTP listener always exists; the admin port is on loopback, out of the kubelet's reach.
    readinessProbe: { tcpSocket: { port: gw.httpPort }, periodSeconds: 5 },
    service: {
      type: 'LoadBalancer',
      // Client addresses reach the gateway unchanged (no second hop through another node).
      externalTrafficPolicy: 'Local',
      ports: [
        { name: 'http', port: 80, targetPort: gw.httpPort, protocol: 'TCP' },
        // The public HTTPS port is the one redirects name.
        { name: 'https', port: gw.httpsPort, targetPort: gw.httpsPort, protocol: 'TCP' },
      ],
    },
    policy: ingressGatewayPolicy(mesh),
    header: [
      'The ingress gateway: TLS termination by SNI, HTTP to HTTPS redirects, routing over mesh mTLS.',
      `LoadBalancer ports: 80 -> ${gw.httpPort} (HTTP), ${gw.httpsPort} -> ${gw.httpsPort} (HTTPS, the port redirects name).`,
      'Host certificates and keys: Secrets ingress.<host> (ingress-wildcard.<domain> for *.<domain>) in the secrets/k8s overlay.',
    ],
  });
}

function egressGatewayFile(mesh: Mesh, certs: CertMaterial, bootstrap: string): string {
  const gw = mesh.egressGateway;
  const ports = gw.tlsPort !== gw.httpPort ? [{ name: 'http', containerPort: gw.httpPort }, { name: 'tls', containerPort: gw.tlsPort }] : [{ name: 'http', containerPort: gw.httpPort }];
  return gatewayFile(mesh, certs, bootstrap, {
    name: EGRESS_GATEWAY,
    kubernetes: gw.kubernetes,
    ports,
    // No probe: its only ports are the egress listeners, which NetworkPolicy opens to the services
    // with an allow-list alone (opening them to the kubelet would open them to every pod), and the
    // admin port is on loopback. Without an allow-list it has no listener at all.
    service: { type: 'ClusterIP', ports: ports.map((p) => ({ name: p.name, port: p.containerPort, targetPort: p.containerPort, protocol: 'TCP' })) },
    policy: egressGatewayPolicy(mesh),
    header: [
      `The egress gateway (${gw.allow.length} domains): sidecars reach it over mutual TLS, and it admits each`,
      "service's identity to that service's own allow-list only. The only pods NetworkPolicy lets out to the internet.",
    ],
  });
}

/** What makes one gateway's file differ from the other's. */
interface GatewayParts {
  name: string;
  kubernetes: Mesh['ingress']['kubernetes'];
  ports: { name: string; containerPort: number }[];
  readinessProbe?: Obj;
  /** The Service's spec, but its selector. */
  service: Obj;
  policy: Obj;
  header: string[];
}

/** A gateway's ServiceAccount, ConfigMap, Deployment, PodDisruptionBudget, Service and NetworkPolicy. */
function gatewayFile(mesh: Mesh, certs: CertMaterial, bootstrap: string, gw: GatewayParts): string {
  const labels = workloadLabels(mesh, gw.name);
  const selector = selectorLabels(gw.name);
  const files = podFiles(gw.name, envoyBootstrapPath(gw.name), bootstrap, certs);
  const container = envoyContainer(files, { proxy: gw.kubernetes.proxy, ports: [...gw.ports, ...metricsContainerPorts(mesh)], sidecar: false, readinessProbe: gw.readinessProbe });
  const spec = podSpec(gw.name, files, { containers: [container], lowPorts: gw.ports.some((p) => p.containerPort < 1024), spread: selector });
  const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: gw.name, namespace: mesh.namespace, labels }, spec: { ...gw.service, selector } };
  const objects = [
    serviceAccount(mesh, gw.name, labels),
    envoyConfigMap(mesh, files, labels),
    deployment(mesh, gw.name, labels, selector, gw.kubernetes.replicas, files, spec),
    podDisruptionBudget(mesh, gw.name, labels, selector),
    service,
    gw.policy,
  ];
  return toYamlDocuments(objects, { text: header(...gw.header) });
}

function tlsSecret(mesh: Mesh, name: string, cert: IssuedCert): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name, namespace: mesh.namespace, labels: commonLabels(mesh) },
    data: { 'tls.crt': b64(cert.certPem), 'tls.key': b64(cert.keyPem) },
  };
}

function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

/** `<dir>/<identity>-tls.yaml` (without `dir/` when dir is empty). */
function workloadSecretPath(dir: string, name: string): string {
  return `${dir ? `${dir}/` : ''}${name}-tls.yaml`;
}

/** A kubernetes.io/tls Secret per workload (`<name>-tls.yaml`), each in its own file (0600). */
export function workloadSecretFiles(mesh: Mesh, certs: CertMaterial, dir = K8S_SECRETS_DIR, include: (identity: string) => boolean = () => true): OutputFile[] {
  return [...certs.workloads]
    .filter(([name]) => include(name))
    .sort(([a], [b]) => cmp(a, b))
    .map(([name, cert]) => ({
      path: workloadSecretPath(dir, name),
      content: toYaml(tlsSecret(mesh, workloadSecretName(name), cert), GENERATED_HEADER),
      mode: SECRET_MODE,
    }));
}

/** A kubernetes.io/tls Secret per ingress host (`ingress/<host>-tls.yaml`, `*.` as `_wildcard.`), 0600. */
export function ingressSecretFiles(mesh: Mesh, certs: CertMaterial, dir = K8S_SECRETS_DIR): OutputFile[] {
  return [...certs.ingressHosts]
    .sort(([a], [b]) => cmp(a, b))
    .map(([host, cert]) => ({
      path: `${dir}/ingress/${hostFileName(host)}-tls.yaml`,
      content: toYaml(tlsSecret(mesh, ingressSecretName(host), cert), GENERATED_HEADER),
      mode: SECRET_MODE,
    }));
}
