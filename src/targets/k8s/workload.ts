/**
 * The pod of a workload (a service with its Envoy sidecar, or a gateway): what it mounts, how it
 * is probed, and the hash that rolls it when its configuration changes (not its certificates).
 */
import type { CertMaterial } from '../../certs/material.js';
import { Emitted } from '../../output/yaml.js';
import { sdsFiles } from '../envoy/sds.js';
import { cmp, INGRESS_GATEWAY, type Mesh } from '../../model/mesh.js';
import type { AppSecurity, ProxyContainer, Resources } from '../../model/kubernetes.js';
import {
  CA_BUNDLE_CONFIGMAP,
  CONFIG_HASH_ANNOTATION,
  MOUNT_ROOT,
  envoyConfigMapName,
  ingressSecretName,
  sha256,
  workloadSecretName,
} from './names.js';
import { scrapeAnnotations } from './metrics.js';
import { withAccessLogVolume } from './telemetry.js';

type Obj = Record<string, unknown>;

/** The uid and gid the Envoy image runs as (user `envoy`); fsGroup lets it read the key files. */
export const ENVOY_UID = 101;
/** The one projected volume every meshc pod mounts its files from (a volume name, not an environment variable). */
export const POD_VOLUME = 'meshc';
/** Key files: owner and group (fsGroup) read, nobody else. */
const KEY_MODE = 0o440;
const FILE_MODE = 0o444;

/**
 * Which files of the output tree a workload's pod needs: its bootstrap, the SDS files the bootstrap
 * names, and each certificate file those name (the Envoy target references them by their
 * output-relative paths). Paths not named are not mounted, so a pod sees no key it does not use.
 * Everything is one projected volume mounted without `subPath`: the kubelet swaps its `..data`
 * symlink when a Secret or ConfigMap changes, and Envoy, watching that directory, re-reads its
 * certificates without a restart.
 */
export interface PodFiles {
  name: string;
  bootstrapPath: string;
  bootstrap: string;
  /** The SDS files the bootstrap names: ConfigMap key, mount path, content. */
  sds: { key: string; path: string; content: string }[];
  projected: Obj[];
  /**
   * sha256 of the bootstrap and its SDS files: the configuration. Certificates and the trust
   * bundle are left out, so a rotation reaches running pods through their volume, without a roll.
   */
  configHash: string;
}

export function podFiles(name: string, bootstrapPath: string, bootstrap: string, certs: CertMaterial): PodFiles {
  const sds = sdsFiles(certs, [name], name === INGRESS_GATEWAY)
    .filter((f) => bootstrap.includes(f.path))
    .map((f) => ({ key: f.path.slice('envoy/'.length).replaceAll('/', '-'), path: f.path, content: f.content }));
  const sources: Obj[] = [
    {
      configMap: {
        name: envoyConfigMapName(name),
        items: [{ key: baseName(bootstrapPath), path: bootstrapPath, mode: FILE_MODE }, ...sds.map((f) => ({ key: f.key, path: f.path, mode: FILE_MODE }))],
      },
    },
  ];
  const config = [bootstrap, ...sds.map((f) => f.content)];
  const uses = (p: string) => config.some((text) => text.includes(p));
  if (uses(certs.trustBundlePath)) {
    sources.push({ configMap: { name: CA_BUNDLE_CONFIGMAP, items: [{ key: baseName(certs.trustBundlePath), path: certs.trustBundlePath, mode: FILE_MODE }] } });
  }
  const own = certs.workloads.get(name);
  if (own && (uses(own.certPath) || uses(own.keyPath))) {
    sources.push({ secret: { name: workloadSecretName(name), items: tlsItems(own.certPath, own.keyPath) } });
  }
  // Only the ingress gateway terminates the public hosts' TLS.
  const hosts = name === INGRESS_GATEWAY ? [...certs.ingressHosts].sort(([a], [b]) => cmp(a, b)) : [];
  for (const [host, cert] of hosts) {
    if (!uses(cert.certPath) && !uses(cert.keyPath)) continue;
    sources.push({ secret: { name: ingressSecretName(host), items: tlsItems(cert.certPath, cert.keyPath) } });
  }
  return { name, bootstrapPath, bootstrap, sds, projected: sources, configHash: sha256(config.join('\n')) };
}

function tlsItems(certPath: string, keyPath: string): Obj[] {
  return [
    { key: 'tls.crt', path: certPath, mode: FILE_MODE },
    { key: 'tls.key', path: keyPath, mode: KEY_MODE },
  ];
}

function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

export interface EnvoyContainerOptions {
  /** Image, resources and worker count (mesh.yaml `kubernetes.proxy`, normalized). */
  proxy: ProxyContainer;
  ports: { name: string; containerPort: number }[];
  /**
   * Native sidecar (an init container with `restartPolicy: Always`, Kubernetes 1.29 and later):
   * it starts before the application (whose upstreams are then reachable) and stops after it.
   */
  sidecar: boolean;
  startupProbe?: Obj;
  readinessProbe?: Obj;
}

export function envoyContainer(files: PodFiles, opts: EnvoyContainerOptions): Obj {
  return {
    name: 'envoy',
    image: opts.proxy.image,
    command: ['envoy'],
    // A bounded worker count: without --concurrency Envoy starts one worker per core of the node.
    args: ['-c', `${MOUNT_ROOT}/${files.bootstrapPath}`, '--log-level', 'info', '--concurrency', String(opts.proxy.concurrency)],
    // The bootstraps name certificates relative to the output root, mounted here.
    workingDir: MOUNT_ROOT,
    ports: opts.ports.map((p) => ({ protocol: 'TCP', ...p })),
    restartPolicy: opts.sidecar ? 'Always' : undefined,
    startupProbe: opts.startupProbe,
    readinessProbe: opts.readinessProbe,
    resources: containerResources(opts.proxy.resources),
    volumeMounts: [{ name: POD_VOLUME, mountPath: MOUNT_ROOT, readOnly: true }],
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
      runAsGroup: ENVOY_UID,
      runAsNonRoot: true,
      runAsUser: ENVOY_UID,
    },
  };
}

export interface PodSpecOptions {
  containers: Obj[];
  initContainers?: Obj[];
  /** Ports below 1024 the gateway binds as a non-root user. */
  lowPorts?: boolean;
  /** Spread the pods over nodes and zones (gateways). */
  spread?: Record<string, string>;
}

/** A container's `resources`, without empty lists. */
export function containerResources(r: Resources): Obj {
  const list = (l: Resources['limits']) => (Object.keys(l).length > 0 ? { cpu: l.cpu, memory: l.memory } : undefined);
  return { requests: list(r.requests), limits: list(r.limits) };
}

/**
 * The application container's security context: the Pod Security Standards restricted profile,
 * or, with `runAsNonRoot: false`, what baseline admits (the image's user and the runtime's
 * default capabilities, still no privilege escalation).
 */
export function appSecurityContext(sc: AppSecurity): Obj {
  return {
    allowPrivilegeEscalation: false,
    capabilities: sc.runAsNonRoot ? { drop: ['ALL'] } : undefined,
    readOnlyRootFilesystem: sc.readOnlyRootFilesystem,
    runAsGroup: sc.runAsGroup,
    runAsNonRoot: sc.runAsNonRoot,
    runAsUser: sc.runAsUser,
  };
}

/** The pod-level security context every pod shares: the runtime's default seccomp profile. */
export const SECCOMP_RUNTIME_DEFAULT = { type: 'RuntimeDefault' };

/** Soft spreading (ScheduleAnyway): a one-node or one-zone cluster still schedules every replica. */
export function topologySpread(selector: Record<string, string>): Obj[] {
  return ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'].map((topologyKey) => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: 'ScheduleAnyway',
    labelSelector: { matchLabels: selector },
  }));
}

/** A gateway's PodDisruptionBudget: a voluntary disruption (a node drain) takes one pod at a time. */
export function podDisruptionBudget(mesh: Mesh, name: string, labels: Record<string, string>, selector: Record<string, string>): Obj {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name, namespace: mesh.namespace, labels },
    spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
  };
}

export function podSpec(name: string, files: PodFiles, opts: PodSpecOptions): Obj {
  return {
    serviceAccountName: name,
    // No workload talks to the Kubernetes API.
    automountServiceAccountToken: false,
    initContainers: opts.initContainers,
    containers: opts.containers,
    topologySpreadConstraints: opts.spread ? topologySpread(opts.spread) : undefined,
    securityContext: {
      fsGroup: ENVOY_UID,
      seccompProfile: SECCOMP_RUNTIME_DEFAULT,
      sysctls: opts.lowPorts ? [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] : undefined,
    },
    volumes: [{ name: POD_VOLUME, projected: { defaultMode: FILE_MODE, sources: files.projected } }],
  };
}

export function deployment(mesh: Mesh, name: string, labels: Record<string, string>, selector: Record<string, string>, replicas: number, files: PodFiles, spec: Obj): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: mesh.namespace, labels },
    spec: {
      replicas,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels, annotations: { [CONFIG_HASH_ANNOTATION]: files.configHash, ...scrapeAnnotations(mesh) } },
        spec: withAccessLogVolume(mesh, spec),
      },
    },
  };
}

export function envoyConfigMap(mesh: Mesh, files: PodFiles, labels: Record<string, string>): Obj {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: envoyConfigMapName(files.name), namespace: mesh.namespace, labels },
    // The bootstrap is the Envoy target's YAML as it wrote it (BootstrapOf).
    data: { [baseName(files.bootstrapPath)]: new Emitted(files.bootstrap), ...Object.fromEntries(files.sds.map((f) => [f.key, new Emitted(f.content)])) },
  };
}

export function serviceAccount(mesh: Mesh, name: string, labels: Record<string, string>): Obj {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name, namespace: mesh.namespace, labels },
    automountServiceAccountToken: false,
  };
}
