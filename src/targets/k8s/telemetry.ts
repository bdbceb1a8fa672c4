/**
 * Access logs and traces in Kubernetes (spec.telemetry): the settings the Envoy bootstraps carry
 * need two things of the manifests. A log file other than standard output needs a writable folder
 * (the Envoy containers' root filesystem is read-only): an `emptyDir` volume mounted there. Spans
 * need a way out of the namespace's default-deny: a NetworkPolicy letting every mesh pod reach the
 * OTLP endpoint's port, and only as wide as its host lets us say (docs/observability.md).
 */
import { pointer, warning, type Finding } from '../../model/diagnostic.js';
import type { HostPort, Mesh } from '../../model/mesh.js';
import { isIpv4 } from '../../model/normalize.js';
import { STDERR, STDOUT } from '../../model/telemetry.js';
import { commonLabels, MOUNT_ROOT } from './names.js';
import { policy, tcp } from './network-policy.js';

type Obj = Record<string, unknown>;

export const ACCESS_LOG_VOLUME = 'access-log';
export const OTLP_POLICY = 'meshc.allow-otlp';

/** The folder the access log is written to when it is a file the manifests must make writable; else undefined. */
export function accessLogDir(mesh: Mesh): string | undefined {
  const log = mesh.telemetry.accessLog;
  if (!log.enabled || log.path === STDOUT || log.path === STDERR) return undefined;
  const dir = log.path.slice(0, log.path.lastIndexOf('/'));
  // The root, /dev, and meshc's own read-only mount cannot take a volume (accessLogFindings says so).
  if (dir === '' || dir === '/dev' || dir.startsWith('/dev/') || dir === MOUNT_ROOT || dir.startsWith(`${MOUNT_ROOT}/`)) return undefined;
  return dir;
}

/** A log file whose folder cannot be a volume (the root, /dev, meshc's own mount): Envoy could not write it. */
export function accessLogFindings(mesh: Mesh): Finding[] {
  const log = mesh.telemetry.accessLog;
  if (!log.enabled || log.path === STDOUT || log.path === STDERR || accessLogDir(mesh) !== undefined) return [];
  return [
    warning(
      'partially-supported-feature',
      pointer('spec', 'telemetry', 'accessLog', 'path'),
      `k8s: the Envoy containers cannot write ${log.path}: their root filesystem is read-only and its folder cannot take a volume`,
      'put the file in a folder of its own (for example /var/log/meshc/access.log), or keep /dev/stdout',
    ),
  ];
}

/** A pod spec whose Envoy containers (`envoy`) get the access log folder as an emptyDir volume, when there is one. */
export function withAccessLogVolume(mesh: Mesh, spec: Obj): Obj {
  const dir = accessLogDir(mesh);
  if (!dir) return spec;
  const isEnvoy = (c: Obj) => c.name === 'envoy';
  const mount = (c: Obj): Obj => (isEnvoy(c) ? { ...c, volumeMounts: [...((c.volumeMounts as Obj[]) ?? []), { name: ACCESS_LOG_VOLUME, mountPath: dir }] } : c);
  const all = [...((spec.initContainers as Obj[] | undefined) ?? []), ...(spec.containers as Obj[])];
  if (!all.some(isEnvoy)) return spec;
  return {
    ...spec,
    initContainers: (spec.initContainers as Obj[] | undefined)?.map(mount),
    containers: (spec.containers as Obj[]).map(mount),
    volumes: [...((spec.volumes as Obj[]) ?? []), { name: ACCESS_LOG_VOLUME, emptyDir: {} }],
  };
}

/**
 * Where the OTLP endpoint is, as a NetworkPolicy peer: an IPv4 address exactly; a Service's name
 * (`collector.<namespace>.svc.cluster.local`) by its namespace; a bare name, this namespace;
 * anything else may be outside the cluster, so any address (still on that port only).
 */
export function otlpPeer(mesh: Mesh, endpoint: HostPort): Obj {
  const host = endpoint.host;
  if (isIpv4(host)) return { ipBlock: { cidr: `${host}/32` } };
  const labels = host.split('.');
  if (labels.length === 1) return { podSelector: {} };
  if (labels.length >= 3 && labels[2] === 'svc') return { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': labels[1] } } };
  return { ipBlock: { cidr: '0.0.0.0/0' } };
}

/** Egress from every mesh pod to the OTLP endpoint's port, with `telemetry.tracing`; else none. */
export function otlpPolicy(mesh: Mesh): Obj[] {
  const t = mesh.telemetry.tracing;
  if (!t) return [];
  return [policy(mesh, OTLP_POLICY, { matchLabels: commonLabels(mesh) }, { policyTypes: ['Egress'], egress: [{ to: [otlpPeer(mesh, t.endpoint)], ports: [tcp(t.endpoint.port)] }] })];
}
