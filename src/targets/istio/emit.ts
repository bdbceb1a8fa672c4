/**
 * The Istio tree: the same policy as Istio resources (networking.istio.io/v1,
 * security.istio.io/v1), so a team can move to Istio with the same mesh.yaml.
 *
 *   istio/kustomization.yaml     every file below
 *   istio/namespace.yaml         the Namespace, labelled for sidecar injection
 *   istio/mesh.yaml              PeerAuthentication `default`: STRICT mTLS for the namespace
 *   istio/<service>.yaml         the workload (ServiceAccount, Deployment of the application only,
 *                                Service on its port; see workloads.ts), AuthorizationPolicy (ALLOW the callers' principals; no callers:
 *                                no rules, which denies every request), Sidecar (egress to its
 *                                upstreams and domains only, REGISTRY_ONLY), DestinationRule
 *                                (ISTIO_MUTUAL, load balancing, outlier detection, connection
 *                                pool), VirtualService (retries and request timeout, for http,
 *                                http2 and grpc; for endpoints that are Services of the namespace,
 *                                split over them by weight), and for other written endpoints a
 *                                ServiceEntry with their addresses and weights
 *   istio/network-policies.yaml  NetworkPolicies: the mesh's edges on the applications' ports (see network-policy.ts)
 *   istio/egress.yaml            a ServiceEntry per external domain (wildcards: resolution NONE)
 *   istio/ingress-gateway.yaml   Gateway (a server per host, TLS from Secret credentials; HTTP
 *                                redirected to HTTPS), a VirtualService per host, and the gateway
 *                                workload (ServiceAccount, Deployment with Istio gateway injection,
 *                                LoadBalancer Service)
 *
 *   secrets/istio/kustomization.yaml       overlay: ../../istio plus the Secret files below
 *   secrets/istio/ingress/<host>-tls.yaml  the Gateway's credentials (kubernetes.io/tls, 0600)
 *
 * The tree deploys on its own, instead of k8s/ (both name objects after the services). Workloads
 * are selected by the label `app.kubernetes.io/name: <service>` (as in the k8s target); principals are `cluster.local/ns/<namespace>/sa/<service>` (Istio's local
 * trust domain alias), so each service runs as the ServiceAccount named like it, and the ingress
 * gateway as `ingress-gateway` in the mesh namespace, labelled `istio: ingressgateway` (a gateway
 * deployed with Istio's gateway injection).
 */
import type { CertMaterial } from '../../certs/material.js';
import { cmp, INGRESS_GATEWAY, type IngressHost, type Mesh, type Service, serviceByName } from '../../model/mesh.js';
import { toYaml, toYamlDocuments } from '../../output/yaml.js';
import { GENERATED_HEADER, wanted, type OutputFile } from '../target.js';
import { ingressSecretFiles } from '../k8s/emit.js';
import { telemetryObjects, TELEMETRY_FILE } from './telemetry.js';
import { hasWrittenEndpoints, istioPort, namespaceObject, percentages, serviceWorkload, weightedEndpointServices } from './workloads.js';
import { istioNetworkPolicies } from './network-policy.js';
import { containerResources, podDisruptionBudget, SECCOMP_RUNTIME_DEFAULT, topologySpread } from '../k8s/workload.js';
import {
  APP_ENV_DOC_ISTIO,
  commonLabels,
  fqdn,
  header,
  hostScopedName,
  ingressSecretName,
  kustomization,
  objectName,
  seconds,
  selectorLabels,
} from '../k8s/names.js';

type Obj = Record<string, unknown>;

export const ISTIO_DIR = 'istio';
export const ISTIO_SECRETS_DIR = 'secrets/istio';
export const GATEWAY_NAME = INGRESS_GATEWAY;
export const GATEWAY_SELECTOR = { istio: 'ingressgateway' };
/** The gateway pods: Istio's conventional label, and the mesh's own name label. */
export const GATEWAY_POD_LABELS = { ...GATEWAY_SELECTOR, ...selectorLabels(INGRESS_GATEWAY) };

const NET = 'networking.istio.io/v1';
const SEC = 'security.istio.io/v1';

function meta(mesh: Mesh, name: string): Obj {
  return { name, namespace: mesh.namespace, labels: commonLabels(mesh) };
}

/** `cluster.local/ns/<ns>/sa/<name>` */
export function principal(mesh: Mesh, name: string): string {
  return `cluster.local/ns/${mesh.namespace}/sa/${name}`;
}

export function* emitIstio(mesh: Mesh, certs: CertMaterial, only?: ReadonlySet<string>): Iterable<OutputFile> {
  const resources: string[] = [];
  const add = (name: string, content: string): OutputFile => {
    resources.push(name);
    return { path: `${ISTIO_DIR}/${name}`, content };
  };

  yield add('namespace.yaml', toYaml(namespaceObject(mesh), GENERATED_HEADER));
  yield add(
    'mesh.yaml',
    toYaml(
      { apiVersion: SEC, kind: 'PeerAuthentication', metadata: meta(mesh, 'default'), spec: { mtls: { mode: 'STRICT' } } },
      GENERATED_HEADER,
    ),
  );
  for (const svc of mesh.services) {
    if (!wanted(only, svc.name)) {
      resources.push(`${svc.name}.yaml`);
      continue;
    }
    yield add(
      `${svc.name}.yaml`,
      toYamlDocuments(serviceObjects(mesh, svc), {
        text: header(
          `Service ${svc.name}: its workload (${svc.image}, sidecar injected by Istio), who may call it, what it may`,
          'reach, how callers balance and retry.',
          ...APP_ENV_DOC_ISTIO,
        ),
      }),
    );
  }
  yield add(
    'network-policies.yaml',
    toYamlDocuments(istioNetworkPolicies(mesh), {
      text: header(
        'NetworkPolicies: a backstop under Istio\'s own authorization. Each pod may receive from its callers and send to its',
        'upstreams only, on the applications\' ports; every pod reaches DNS and istiod; only services with egress reach the internet.',
      ),
    }),
  );
  const entries = egressEntries(mesh);
  if (entries.length > 0) {
    yield add(
      'egress.yaml',
      toYamlDocuments(entries, { text: header('External domains (the union of every allow-list); each service\'s Sidecar imports only its own.') }),
    );
  }
  if (mesh.ingress.hosts.length > 0) {
    yield add(
      'ingress-gateway.yaml',
      toYamlDocuments(ingressObjects(mesh), {
        text: header(
          'The ingress gateway: the Gateway selects the workload below (labelled istio: ingressgateway, Istio gateway',
          `injection), which runs as the ServiceAccount ${INGRESS_GATEWAY} in namespace ${mesh.namespace} and reads the`,
          'host credentials (Secrets ingress.<host>) from that namespace: secrets/istio overlay.',
        ),
      }),
    );
  }
  const telemetry = telemetryObjects(mesh);
  if (telemetry.length > 0) yield add(TELEMETRY_FILE, toYamlDocuments(telemetry, GENERATED_HEADER));
  yield { path: `${ISTIO_DIR}/kustomization.yaml`, content: toYaml(kustomization(resources.sort(cmp)), GENERATED_HEADER) };

  // The Gateway's credentials: the same kubernetes.io/tls Secrets as the k8s target's.
  const secrets = ingressSecretFiles(mesh, certs, ISTIO_SECRETS_DIR);
  yield* secrets;
  yield {
    path: `${ISTIO_SECRETS_DIR}/kustomization.yaml`,
    content:
      header(
        'Overlay with the private keys: `kubectl apply -k out/secrets/istio` applies the istio/ tree and the',
        'ingress hosts\' kubernetes.io/tls Secrets (the Gateway\'s credentialName). Keep secrets/ out of version control.',
      ) +
      toYaml(kustomization([`../../${ISTIO_DIR}`, ...secrets.map((f) => f.path.slice(ISTIO_SECRETS_DIR.length + 1)).sort(cmp)])),
  };
}

function serviceObjects(mesh: Mesh, svc: Service): Obj[] {
  const out: Obj[] = [...serviceWorkload(mesh, svc), authorizationPolicy(mesh, svc), sidecarResource(mesh, svc), destinationRule(mesh, svc)];
  // The hosts the weighted routes go to take the service's own traffic policy.
  for (const e of weightedEndpointServices(mesh, svc) ?? []) out.push(destinationRule(mesh, svc, e.name));
  const vs = serviceVirtualService(mesh, svc);
  if (vs) out.push(vs);
  const se = endpointsEntry(mesh, svc);
  if (se) out.push(se);
  return out;
}

function authorizationPolicy(mesh: Mesh, svc: Service): Obj {
  const spec: Obj = { selector: { matchLabels: selectorLabels(svc.name) }, action: 'ALLOW' };
  // An ALLOW policy without rules matches nothing: every request to the service is denied.
  if (svc.callers.length > 0) spec.rules = [{ from: [{ source: { principals: svc.callers.map((c) => principal(mesh, c)) } }] }];
  return { apiVersion: SEC, kind: 'AuthorizationPolicy', metadata: meta(mesh, svc.name), spec };
}

function sidecarResource(mesh: Mesh, svc: Service): Obj {
  // An upstream with weighted endpoints is reached through the Services its routes name.
  const upstreamHosts = (u: string): string[] => {
    const target = serviceByName(mesh, u);
    const weighted = target ? weightedEndpointServices(mesh, target) : undefined;
    return [u, ...(weighted ?? []).map((e) => e.name)];
  };
  const hosts = [
    ...[...new Set(svc.upstreams.flatMap((u) => upstreamHosts(u.service)))].sort(cmp).map((u) => `./${fqdn(mesh, u)}`),
    ...svc.egress.map((d) => `./${d}`),
  ];
  return {
    apiVersion: NET,
    kind: 'Sidecar',
    metadata: meta(mesh, svc.name),
    spec: {
      workloadSelector: { labels: selectorLabels(svc.name) },
      // `~/*` imports nothing: without an egress listener Istio would import every namespace.
      egress: [{ hosts: hosts.length > 0 ? hosts : ['~/*'] }],
      outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
    },
  };
}

function loadBalancer(svc: Service): Obj {
  const lb = svc.loadBalancing;
  switch (lb.policy) {
    case 'round_robin':
      return { simple: 'ROUND_ROBIN' };
    case 'least_request':
      // Envoy's default of two choices; other counts are reported by `check` (capability matrix).
      return { simple: 'LEAST_REQUEST' };
    case 'random':
      return { simple: 'RANDOM' };
    case 'ring_hash':
    case 'maglev': {
      const algorithm = lb.policy === 'ring_hash' ? { ringHash: { minimumRingSize: 1024 } } : { maglev: { tableSize: 65537 } };
      const key = lb.hashOn;
      // Rules make a hash policy without a key an error before any target runs.
      if (!key) throw new Error(`istio: ${svc.name} has ${lb.policy} without hashOn`);
      const by =
        key.kind === 'header'
          ? { httpHeaderName: key.name }
          : key.kind === 'cookie'
            ? { httpCookie: { name: key.name, path: key.path, ttl: key.ttlSeconds === undefined ? undefined : seconds(key.ttlSeconds * 1000) } }
            : { useSourceIp: true };
      return { consistentHash: { ...algorithm, ...by } };
    }
  }
}

function destinationRule(mesh: Mesh, svc: Service, hostName = svc.name): Obj {
  const http = svc.protocol !== 'tcp';
  const limits = svc.connectionLimits ?? {};
  const tcp: Obj = {
    connectTimeout: seconds(svc.timeouts.connectMs),
    maxConnections: limits.maxConnections,
    idleTimeout: !http && svc.timeouts.idleMs !== undefined ? seconds(svc.timeouts.idleMs) : undefined,
  };
  const httpPool: Obj = http
    ? {
        http1MaxPendingRequests: limits.maxPendingRequests,
        http2MaxRequests: limits.maxRequests,
        idleTimeout: svc.timeouts.idleMs !== undefined ? seconds(svc.timeouts.idleMs) : undefined,
      }
    : {};
  const od = svc.outlierDetection;
  return {
    apiVersion: NET,
    kind: 'DestinationRule',
    metadata: meta(mesh, hostName),
    spec: {
      host: fqdn(mesh, hostName),
      trafficPolicy: {
        tls: { mode: 'ISTIO_MUTUAL' },
        loadBalancer: loadBalancer(svc),
        connectionPool: { tcp, http: Object.values(httpPool).some((v) => v !== undefined) ? httpPool : undefined },
        outlierDetection: od
          ? {
              consecutive5xxErrors: od.consecutive5xx,
              interval: seconds(od.intervalMs),
              baseEjectionTime: seconds(od.baseEjectionTimeMs),
              maxEjectionPercent: od.maxEjectionPercent,
            }
          : undefined,
      },
    },
  };
}

/** Istio retries of a service: explicitly none when attempts is 0 (Istio would otherwise retry twice). */
function retries(svc: Service): Obj {
  const r = svc.retries;
  if (r.attempts === 0) return { attempts: 0 };
  return {
    attempts: r.attempts,
    perTryTimeout: r.perTryTimeoutMs !== undefined ? seconds(r.perTryTimeoutMs) : undefined,
    retryOn: [...r.retryOn].sort(cmp).join(','),
  };
}

/** Retries and the request timeout of calls from other services (http, http2, grpc). */
function serviceVirtualService(mesh: Mesh, svc: Service): Obj | undefined {
  const host = fqdn(mesh, svc.name);
  const weighted = weightedEndpointServices(mesh, svc);
  const route = weighted
    ? percentages(weighted.map((e) => e.weight)).map((weight, i) => ({ destination: { host: fqdn(mesh, weighted[i].name), port: { number: svc.port } }, weight }))
    : [{ destination: { host, port: { number: svc.port } } }];
  if (svc.protocol === 'tcp') {
    return weighted ? { apiVersion: NET, kind: 'VirtualService', metadata: meta(mesh, svc.name), spec: { hosts: [host], tcp: [{ route }] } } : undefined;
  }
  return {
    apiVersion: NET,
    kind: 'VirtualService',
    metadata: meta(mesh, svc.name),
    spec: {
      hosts: [host],
      http: [
        {
          route,
          timeout: svc.timeouts.requestMs !== undefined ? seconds(svc.timeouts.requestMs) : undefined,
          retries: retries(svc),
        },
      ],
    },
  };
}

/**
 * Written endpoints that are not all Services of the namespace (addresses, names elsewhere): a
 * MESH_INTERNAL ServiceEntry for the service's host with those addresses and weights, running as
 * the service's account. Its host resolves only with Istio's DNS proxying (`check` warns). Istio's
 * sidecar listens on the application's port, so that is the endpoint port.
 */
function endpointsEntry(mesh: Mesh, svc: Service): Obj | undefined {
  if (!hasWrittenEndpoints(mesh, svc) || weightedEndpointServices(mesh, svc) !== undefined) return undefined;
  const host = fqdn(mesh, svc.name);
  const p = istioPort(svc);
  const portName = p.name;
  return {
    apiVersion: NET,
    kind: 'ServiceEntry',
    metadata: meta(mesh, objectName(`${svc.name}-endpoints`)),
    spec: {
      hosts: [host],
      location: 'MESH_INTERNAL',
      resolution: svc.endpoints.every((e) => e.isIp) ? 'STATIC' : 'DNS',
      ports: [{ number: svc.port, name: portName, protocol: p.protocol }],
      endpoints: svc.endpoints.map((e) => ({ address: e.host, ports: { [portName]: svc.port }, weight: e.weight, serviceAccount: svc.name, labels: selectorLabels(svc.name) })),
      exportTo: ['.'],
    },
  };
}

export function egressEntryName(domain: string): string {
  return hostScopedName('egress', domain);
}

function egressEntries(mesh: Mesh): Obj[] {
  const ports = [
    { number: mesh.egress.tlsPort, name: 'tls', protocol: 'TLS' },
    { number: mesh.egress.httpPort, name: 'http', protocol: 'HTTP' },
  ];
  return mesh.egressGateway.allow.map((domain) => ({
    apiVersion: NET,
    kind: 'ServiceEntry',
    metadata: meta(mesh, egressEntryName(domain)),
    spec: {
      hosts: [domain],
      location: 'MESH_EXTERNAL',
      ports,
      // Istio resolves wildcard hosts only with NONE: the sidecar forwards to the address the
      // application resolved (matched by SNI or Host).
      resolution: domain.startsWith('*.') ? 'NONE' : 'DNS',
      exportTo: ['.'],
    },
  }));
}

function ingressObjects(mesh: Mesh): Obj[] {
  const gw = mesh.ingress;
  const servers: Obj[] = gw.hosts.map((h, i) => ({
    port: { number: gw.httpsPort, name: `https-${i}`, protocol: 'HTTPS' },
    hosts: [h.host],
    tls: { mode: 'SIMPLE', credentialName: ingressSecretName(h.host) },
  }));
  // A Gateway-level redirect keeps the port out of the Location (https://host/...), right only for
  // 443; otherwise each host's VirtualService redirects with an explicit port.
  const gatewayRedirect = gw.httpsPort === 443;
  const redirected = gw.hosts.filter((h) => h.redirectHttp && gatewayRedirect).map((h) => h.host);
  const plain = gw.hosts.filter((h) => !(h.redirectHttp && gatewayRedirect)).map((h) => h.host);
  if (redirected.length > 0) servers.push({ port: { number: 80, name: 'http-redirect', protocol: 'HTTP' }, hosts: redirected, tls: { httpsRedirect: true } });
  if (plain.length > 0) servers.push({ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: plain });
  const gateway = {
    apiVersion: NET,
    kind: 'Gateway',
    metadata: meta(mesh, GATEWAY_NAME),
    spec: { selector: GATEWAY_SELECTOR, servers },
  };
  return [gateway, ...gw.hosts.map((h) => hostVirtualService(mesh, h, gatewayRedirect)), ...gatewayWorkload(mesh)];
}

/**
 * The gateway workload the Gateway selects, as Istio's gateway Helm chart deploys it
 * (manifests/charts/gateway): injected with the `gateway` template in the mesh namespace, running
 * as the ServiceAccount `ingress-gateway` (the principal the services' AuthorizationPolicies allow),
 * with a Role to read the Secrets its Gateway names (`credentialName`), the unprivileged-port sysctl
 * for ports below 1024, a restricted security context, resources, replicas spread over nodes and
 * zones, and a PodDisruptionBudget. https://istio.io/latest/docs/setup/additional-setup/gateway/
 */
function gatewayWorkload(mesh: Mesh): Obj[] {
  const gw = mesh.ingress;
  const k = gw.kubernetes;
  const labels = { ...commonLabels(mesh), ...GATEWAY_POD_LABELS, 'app.kubernetes.io/component': 'gateway' };
  const podLabels = { ...labels, 'sidecar.istio.io/inject': 'true' };
  const proxyConfig: Obj = { concurrency: k.proxy.concurrency };
  // The Location of a redirect does not look at X-Forwarded-Proto (capability matrix: partial);
  // trusting one proxy in front at least keeps the client's scheme and address in the headers.
  if (gw.trustForwardedProto) proxyConfig.gatewayTopology = { numTrustedProxies: 1 };
  const annotations: Record<string, string> = { 'inject.istio.io/templates': 'gateway', 'proxy.istio.io/config': JSON.stringify(proxyConfig) };
  const meta = { name: INGRESS_GATEWAY, namespace: mesh.namespace, labels };
  const lowPorts = gw.httpPort < 1024 || gw.httpsPort < 1024;
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta,
      // What the chart grants: istiod checks that the gateway's account may read the namespace's
      // Secrets before it serves their certificates to it.
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'watch', 'list'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: INGRESS_GATEWAY },
      subjects: [{ kind: 'ServiceAccount', name: INGRESS_GATEWAY, namespace: mesh.namespace }],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta,
      spec: {
        replicas: k.replicas,
        selector: { matchLabels: GATEWAY_POD_LABELS },
        template: {
          metadata: { labels: podLabels, annotations },
          spec: {
            serviceAccountName: INGRESS_GATEWAY,
            topologySpreadConstraints: topologySpread(GATEWAY_POD_LABELS),
            securityContext: {
              seccompProfile: SECCOMP_RUNTIME_DEFAULT,
              sysctls: lowPorts ? [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] : undefined,
            },
            containers: [
              {
                name: 'istio-proxy',
                // `auto`: Istio's injector fills in the image and the rest of the container.
                image: 'auto',
                resources: containerResources(k.proxy.resources),
                securityContext: {
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ['ALL'] },
                  privileged: false,
                  readOnlyRootFilesystem: true,
                  runAsGroup: ISTIO_PROXY_UID,
                  runAsNonRoot: true,
                  runAsUser: ISTIO_PROXY_UID,
                },
              },
            ],
          },
        },
      },
    },
    podDisruptionBudget(mesh, INGRESS_GATEWAY, labels, GATEWAY_POD_LABELS),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta,
      spec: {
        type: 'LoadBalancer',
        selector: GATEWAY_POD_LABELS,
        // Istio binds the Gateway's server ports through these: 80 and the public HTTPS port.
        ports: [
          { name: 'http', port: 80, targetPort: gw.httpPort, protocol: 'TCP' },
          { name: 'https', port: gw.httpsPort, targetPort: gw.httpsPort, protocol: 'TCP' },
        ],
      },
    },
  ];
}

/** The user Istio's proxy image runs as (istio-proxy). */
const ISTIO_PROXY_UID = 1337;

export function hostVirtualServiceName(host: string): string {
  return hostScopedName('ingress', host);
}

function hostVirtualService(mesh: Mesh, host: IngressHost, gatewayRedirect: boolean): Obj {
  const http: Obj[] = [];
  if (host.redirectHttp && !gatewayRedirect) {
    http.push({ name: 'https-redirect', match: [{ port: 80 }], redirect: { scheme: 'https', port: mesh.ingress.httpsPort, redirectCode: 301 } });
  }
  // Routes arrive longest prefix first (normalize), which is the order Istio matches in.
  for (const r of host.routes) {
    const svc = serviceByName(mesh, r.service);
    if (!svc) throw new Error(`istio: route to unknown service ${r.service}`);
    const timeoutMs = r.timeoutMs ?? svc.timeouts.requestMs;
    http.push({
      match: [{ uri: { prefix: r.pathPrefix } }],
      route: [{ destination: { host: fqdn(mesh, svc.name), port: { number: svc.port } } }],
      timeout: timeoutMs !== undefined ? seconds(timeoutMs) : undefined,
      retries: svc.protocol === 'tcp' ? undefined : retries(svc),
    });
  }
  return {
    apiVersion: NET,
    kind: 'VirtualService',
    metadata: meta(mesh, hostVirtualServiceName(host.host)),
    spec: { hosts: [host.host], gateways: [GATEWAY_NAME], http },
  };
}
