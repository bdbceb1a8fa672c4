/**
 * Names, labels and small helpers shared by the Kubernetes and Istio targets, so both trees agree
 * on what a workload is called and how its pods are selected.
 */
import { cmp, EGRESS_GATEWAY, INGRESS_GATEWAY, serviceByName, type Mesh, type Service } from '../../model/mesh.js';
import { DEFAULT_PROXY_IMAGE } from '../../model/kubernetes.js';
import { GENERATED_HEADER } from '../target.js';
import { sha256 } from '../../output/manifest.js';

/** The only label pods are selected by: stable, so a Deployment's selector never changes. */
export const NAME_LABEL = 'app.kubernetes.io/name';
export const CONFIG_HASH_ANNOTATION = 'meshc.dev/config-hash';
/** The default Envoy image (mesh.yaml `spec.kubernetes.proxyImage`): the version the integration harness runs. */
export const ENVOY_IMAGE = DEFAULT_PROXY_IMAGE;
/** Where pods mount the output tree; Envoy runs with this as its working directory. */
export const MOUNT_ROOT = '/etc/meshc';
/** Trust bundle ConfigMap (public). */
export const CA_BUNDLE_CONFIGMAP = 'meshc-ca-bundle';

export function fqdn(mesh: Mesh, name: string): string {
  return `${name}.${mesh.namespace}.svc.cluster.local`;
}

export function selectorLabels(name: string): Record<string, string> {
  return { [NAME_LABEL]: name };
}

export function commonLabels(mesh: Mesh): Record<string, string> {
  return { 'app.kubernetes.io/managed-by': 'meshc', 'app.kubernetes.io/part-of': mesh.name };
}

/**
 * A workload's labels: the common ones, its name (the selector), its component (`service` or
 * `gateway`) and its version (the image tag: the application's, or Envoy's for a gateway).
 */
export function workloadLabels(mesh: Mesh, name: string): Record<string, string> {
  const svc = serviceByName(mesh, name);
  const image = svc?.image ?? (name === INGRESS_GATEWAY ? mesh.ingress.kubernetes.proxy.image : name === EGRESS_GATEWAY ? mesh.egressGateway.kubernetes.proxy.image : undefined);
  const version = image === undefined ? undefined : imageVersion(image);
  const labels = Object.assign(commonLabels(mesh), selectorLabels(name)); // not `{ ...a, ...b }`: see normalize.ts
  labels['app.kubernetes.io/component'] = svc ? 'service' : 'gateway';
  if (version !== undefined) labels['app.kubernetes.io/version'] = version;
  return labels;
}

/** The tag of an image reference (`ghcr.io/acme/web:1.4.2` → `1.4.2`) when it is a valid label value. */
export function imageVersion(image: string): string | undefined {
  const ref = image.split('@')[0];
  const last = ref.slice(ref.lastIndexOf('/') + 1);
  const colon = last.indexOf(':');
  if (colon < 0) return undefined;
  const tag = last.slice(colon + 1);
  return tag.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(tag) ? tag : undefined;
}

export function metadata(mesh: Mesh, name: string, labels: Record<string, string> = commonLabels(mesh), namespace = mesh.namespace) {
  return { name, namespace, labels };
}

/**
 * A DNS-1123 subdomain name (at most 253 characters): long names are cut and given a short hash
 * of the whole, so they stay unique and stable.
 */
export function objectName(raw: string, max = 253): string {
  const name = raw.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
  if (name.length <= max) return name;
  const hash = sha256(raw).slice(0, 10);
  return `${name.slice(0, max - 11).replace(/[.-]+$/, '')}-${hash}`;
}

/** The kubernetes.io/tls Secret holding a workload's certificate and key. */
export function workloadSecretName(name: string): string {
  return objectName(`${name}-tls`);
}

/**
 * The kubernetes.io/tls Secret of an ingress host (also the Istio Gateway's `credentialName`):
 * `ingress.<host>`, or `ingress-wildcard.<rest>` for `*.<rest>`. Always with a dot, so never a
 * workload's `<service>-tls`; exact and wildcard hosts never share a name.
 */
export function ingressSecretName(host: string): string {
  return hostScopedName('ingress', host);
}

/**
 * `<prefix>.<host>` for an exact host, `<prefix>-wildcard.<rest>` for `*.<rest>`: a valid object
 * name, distinct for `*.x` and `wildcard.x`, never equal to a `<service>-...` name (it has a dot).
 */
export function hostScopedName(prefix: string, host: string): string {
  return objectName(host.startsWith('*.') ? `${prefix}-wildcard.${host.slice(2)}` : `${prefix}.${host}`);
}

export function envoyConfigMapName(name: string): string {
  return `${name}-envoy`;
}

export { sha256 };


/** The generated header, then more comment lines. */
/** A kustomize Kustomization listing `resources` (the k8s and istio trees and their secrets overlays). */
export function kustomization(resources: string[]): Record<string, unknown> {
  return { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources };
}

export function header(...lines: string[]): string {
  return [GENERATED_HEADER, ...lines].map((l) => (l ? `# ${l}` : '#')).join('\n') + '\n';
}

/** A duration as Istio and protobuf JSON read it: whole or fractional seconds (`5s`, `0.25s`). */
export function seconds(ms: number): string {
  return `${ms / 1000}s`;
}

/** `catalog` → `CATALOG`, `user-profile` → `USER_PROFILE`. */
export function envName(service: string): string {
  return service.toUpperCase().replace(/-/g, '_');
}

/**
 * The environment a service's application gets in the k8s tree: where its upstreams and the
 * egress path are (its own sidecar, on `localAddress`). The names are listed in APP_ENV_VARS
 * below, which documents them in every k8s/<service>.yaml header and in the README.
 */
export function appEnv(mesh: Mesh, svc: Service): { name: string; value: string }[] {
  const local = svc.sidecar.localAddress;
  const env: { name: string; value: string }[] = [];
  for (const up of svc.upstreams) {
    const target = serviceByName(mesh, up.service);
    env.push({ name: `${envName(up.service)}_ADDR`, value: `${local}:${up.localPort}` });
    if (target?.protocol !== 'tcp') env.push({ name: `${envName(up.service)}_URL`, value: `http://${local}:${up.localPort}` });
  }
  const proxy = `http://${local}:${svc.sidecar.egressHttpPort}`;
  const noProxy = [...new Set(['127.0.0.1', 'localhost', local])].join(',');
  env.push(
    { name: 'HTTP_PROXY', value: proxy },
    { name: 'HTTPS_PROXY', value: proxy },
    { name: 'NO_PROXY', value: noProxy },
    { name: 'http_proxy', value: proxy },
    { name: 'https_proxy', value: proxy },
    { name: 'no_proxy', value: noProxy },
    { name: 'MESHC_EGRESS_TLS', value: `${local}:${svc.sidecar.egressTlsPort}` },
  );
  return env.sort((a, b) => cmp(a.name, b.name));
}

/** The application's environment in the k8s tree: one table feeds the file headers and the README. */
export const APP_ENV_VARS: readonly { name: string; value: string; what: string }[] = [
  { name: '<UPSTREAM>_ADDR', value: '127.0.0.1:<localPort>', what: 'every upstream (name upper-cased, `-` as `_`)' },
  { name: '<UPSTREAM>_URL', value: 'http://127.0.0.1:<localPort>', what: 'upstreams speaking http, http2 or grpc' },
  { name: 'HTTP_PROXY, HTTPS_PROXY, http_proxy, https_proxy', value: 'http://127.0.0.1:<egressHttpPort>', what: 'egress by Host, and HTTP CONNECT' },
  { name: 'NO_PROXY, no_proxy', value: '127.0.0.1,localhost', what: 'upstream calls never go through the egress proxy' },
  { name: 'MESHC_EGRESS_TLS', value: '127.0.0.1:<egressTlsPort>', what: 'egress TLS, passed through by SNI' },
];

export const APP_ENV_DOC = [
  "Environment of the application container (values point at this pod's own sidecar):",
  ...APP_ENV_VARS.map((v) => `  ${v.name} = ${v.value}: ${v.what.replace(/`/g, '')}`),
];

/** The README section `k8s-env`: the variables above as a Markdown table. */
export function renderK8sEnv(): string {
  return ['| variable | value | for |', '|---|---|---|', ...APP_ENV_VARS.map((v) => `| \`${v.name.split(', ').join('`, `')}\` | \`${v.value}\` | ${v.what} |`)].join('\n') + '\n';
}

/**
 * The environment of an application under Istio (istio/ tree): the sidecar captures traffic
 * transparently, so upstreams are called by their cluster names and no proxy is configured.
 *
 *   <UPSTREAM>_ADDR   <upstream>.<ns>.svc.cluster.local:<port>          every upstream
 *   <UPSTREAM>_URL    http://<upstream>.<ns>.svc.cluster.local:<port>   http, http2 and grpc upstreams
 */
export function appEnvIstio(mesh: Mesh, svc: Service): { name: string; value: string }[] {
  const env: { name: string; value: string }[] = [];
  for (const up of svc.upstreams) {
    const target = serviceByName(mesh, up.service);
    if (!target) continue;
    const address = `${fqdn(mesh, target.name)}:${target.port}`;
    env.push({ name: `${envName(up.service)}_ADDR`, value: address });
    if (target.protocol !== 'tcp') env.push({ name: `${envName(up.service)}_URL`, value: `http://${address}` });
  }
  return env.sort((a, b) => cmp(a.name, b.name));
}

export const APP_ENV_DOC_ISTIO = [
  'Environment of the application container (Istio captures traffic transparently):',
  '  <UPSTREAM>_ADDR    <upstream>.<namespace>.svc.cluster.local:<port> for every upstream (name upper-cased, - as _)',
  '  <UPSTREAM>_URL     http://<upstream>.<namespace>.svc.cluster.local:<port> for http, http2 and grpc upstreams',
  'The application listens on every interface (0.0.0.0:<port>): Istio delivers inbound traffic to the pod IP.',
];
