/**
 * A kubelet-style runner for the generated k8s/ tree: it runs the proxy containers of every
 * Deployment with the real Envoy, exactly as their manifests say, so a mount path, an argument,
 * a port or a probe that does not match the config inside the ConfigMap fails a test.
 *
 * What it does as a kubelet and a cluster would, and nothing more:
 *   - volumes: ConfigMap, Secret and projected volumes are laid out as the kubelet's atomic
 *     writer does (files in a `..<timestamp>` directory, a `..data` symlink to it, one symlink per
 *     top-level entry through `..data`), with each item's mode; no subPath;
 *   - a container's filesystem: each volumeMount's mountPath is a host directory, so the
 *     command, args and workingDir are read through that mapping (paths under a mountPath);
 *   - a pod's network namespace: each pod gets its own loopback address, and the addresses a pod
 *     means by "all interfaces" and "localhost" (0.0.0.0 and 127.0.0.1 in the bootstrap's socket
 *     addresses) become that address; ports are never changed;
 *   - a pod's IPC namespace: Envoy's hot-restart base id is made unique per pod (`--base-id`);
 *   - cluster DNS: `<service>.<namespace>.svc.cluster.local` of every Service answers the
 *     addresses of the pods it selects (headless or not: the pod address stands in for a
 *     ClusterIP), in the DNS server the caller passes (which the mesh names in `dns.resolvers`);
 *   - probes: `checkProbes` runs a container's startup, readiness and liveness probes (tcpSocket,
 *     httpGet) against its pod address.
 * Application containers are not run: a test starts its own backend at the pod's address.
 */
import { chmod, mkdir, readFile, readdir, realpath, stat, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { loopbackAddress, startProcess, type DnsServer, type Proc } from './index.js';

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface K8sObjects {
  all: Any[];
  byKind(kind: string): Any[];
  get(kind: string, name: string): Any;
}

/** Every object of every YAML file under the given directories (recursively). */
export async function readObjects(...dirs: string[]): Promise<K8sObjects> {
  const all: Any[] = [];
  for (const dir of dirs) {
    for (const file of await yamlFiles(dir)) {
      for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
        const obj = doc.toJS();
        if (obj && obj.kind && obj.kind !== 'Kustomization') all.push(obj);
      }
    }
  }
  return {
    all,
    byKind: (kind) => all.filter((o) => o.kind === kind),
    get: (kind, name) => {
      const o = all.find((x) => x.kind === kind && x.metadata?.name === name);
      if (!o) throw new Error(`kubelet: no ${kind} named ${name}`);
      return o;
    },
  };
}

async function yamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await yamlFiles(p)));
    else if (e.name.endsWith('.yaml')) out.push(p);
  }
  return out.sort();
}

export interface Container {
  name: string;
  spec: Any;
  /** The container's environment as the manifest sets it, `127.0.0.1` read as the pod's address. */
  env: Record<string, string>;
  proc?: Proc;
}

export interface Pod {
  name: string;
  deployment: string;
  ip: string;
  labels: Record<string, string>;
  dir: string;
  containers: Container[];
  /** Host directory standing for a path inside the pod's proxy container (under a mountPath). */
  hostPath(container: string, p: string): string;
}

export interface Cluster {
  objects: K8sObjects;
  pods: Pod[];
  pod(deployment: string, replica?: number): Pod;
  /** Stops every process started, last first. */
  stop(): Promise<void>;
}

/**
 * Starts every Deployment's proxy containers (command `envoy`), one pod per replica, and
 * answers the cluster DNS names of every Service. `root` is a scratch directory for the pods'
 * volumes. Rejects (with the Envoy's output) when a proxy does not become ready.
 */
export async function runDeployments(opts: { objects: K8sObjects; root: string; dns: DnsServer; envoyBin: string; only?: string[]; readyTimeoutMs?: number }): Promise<Cluster> {
  const { objects } = opts;
  const pods: Pod[] = [];
  const cluster: Cluster = {
    objects,
    pods,
    pod: (deployment, replica = 0) => {
      const p = pods.filter((x) => x.deployment === deployment)[replica];
      if (!p) throw new Error(`kubelet: no pod ${replica} of ${deployment}`);
      return p;
    },
    stop: async () => {
      for (const p of [...pods].reverse()) for (const c of [...p.containers].reverse()) await c.proc?.stop();
    },
  };
  try {
    for (const d of objects.byKind('Deployment')) {
      if (opts.only && !opts.only.includes(d.metadata.name)) continue;
      const replicas = d.spec.replicas ?? 1;
      for (let i = 0; i < replicas; i++) pods.push(await layOutPod(objects, d, i, opts.root));
    }
    answerServices(objects, pods, opts.dns);
    for (const pod of pods) {
      for (const c of pod.containers) {
        if (c.spec.command?.[0] !== 'envoy') continue;
        c.proc = await runEnvoyContainer(pod, c, opts.envoyBin, opts.readyTimeoutMs ?? 60_000);
      }
    }
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** Cluster DNS: each Service's name → the addresses of the pods its selector matches. */
function answerServices(objects: K8sObjects, pods: Pod[], dns: DnsServer): void {
  for (const s of objects.byKind('Service')) {
    const selector: Record<string, string> = s.spec.selector ?? {};
    const ips = pods.filter((p) => p.labels && Object.entries(selector).every(([k, v]) => p.labels[k] === v)).map((p) => p.ip);
    if (ips.length > 0) dns.setRecord(`${s.metadata.name}.${s.metadata.namespace}.svc.cluster.local`, ips);
  }
}

async function layOutPod(objects: K8sObjects, d: Any, replica: number, root: string): Promise<Pod> {
  const name = `${d.metadata.name}-${replica}`;
  const ip = loopbackAddress();
  const dir = path.join(root, name);
  const spec = d.spec.template.spec;
  const volumes = new Map<string, string>();
  for (const v of spec.volumes ?? []) {
    const volDir = path.join(dir, 'volumes', v.name);
    await writeAtomic(volDir, volumePayload(objects, d.metadata.namespace, v));
    volumes.set(v.name, volDir);
  }
  const all: Any[] = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  const containers: Container[] = all.map((c) => ({
    name: c.name,
    spec: c,
    env: Object.fromEntries((c.env ?? []).map((e: Any) => [e.name, String(e.value ?? '').replaceAll('127.0.0.1', ip)])),
  }));
  const hostPath = (container: string, p: string): string => {
    const c = all.find((x) => x.name === container);
    for (const m of c?.volumeMounts ?? []) {
      if (m.subPath) throw new Error(`kubelet: ${name}/${container}: subPath mounts never see a Secret or ConfigMap update`);
      const mount = m.mountPath.replace(/\/$/, '');
      if (p === mount || p.startsWith(`${mount}/`)) return volumes.get(m.name)! + p.slice(mount.length);
    }
    throw new Error(`kubelet: ${name}/${container}: ${p} is under no volumeMount`);
  };
  return { name, deployment: d.metadata.name, ip, labels: d.spec.template.metadata?.labels ?? {}, dir, containers, hostPath };
}

type Payload = Map<string, { content: Buffer; mode: number }>;

/** The files a volume holds: path inside the volume → content and mode. */
function volumePayload(objects: K8sObjects, namespace: string, v: Any): Payload {
  const payload: Payload = new Map();
  const add = (source: Any, data: Record<string, Buffer>, items: Any[] | undefined, defaultMode: number) => {
    const entries = items ?? Object.keys(data).map((key) => ({ key, path: key }));
    for (const item of entries) {
      const content = data[item.key];
      if (content === undefined) throw new Error(`kubelet: ${source.kind} ${source.metadata.name} has no key ${item.key}`);
      if (payload.has(item.path)) throw new Error(`kubelet: two sources write ${item.path} in volume ${v.name}`);
      payload.set(item.path, { content, mode: item.mode ?? defaultMode });
    }
  };
  const configMap = (name: string) => {
    const cm = objects.get('ConfigMap', name);
    if (cm.metadata.namespace !== namespace) throw new Error(`kubelet: ConfigMap ${name} is in another namespace`);
    return { cm, data: Object.fromEntries(Object.entries(cm.data ?? {}).map(([k, s]) => [k, Buffer.from(String(s))])) };
  };
  const secret = (name: string) => {
    const s = objects.get('Secret', name);
    if (s.metadata.namespace !== namespace) throw new Error(`kubelet: Secret ${name} is in another namespace`);
    return { s, data: Object.fromEntries(Object.entries(s.data ?? {}).map(([k, b]) => [k, Buffer.from(String(b), 'base64')])) };
  };
  if (v.projected) {
    const mode = v.projected.defaultMode ?? 0o644;
    for (const src of v.projected.sources ?? []) {
      if (src.configMap) {
        const { cm, data } = configMap(src.configMap.name);
        add(cm, data, src.configMap.items, mode);
      } else if (src.secret) {
        const { s, data } = secret(src.secret.name);
        add(s, data, src.secret.items, mode);
      } else throw new Error(`kubelet: unsupported projected source ${Object.keys(src).join(',')}`);
    }
  } else if (v.configMap) {
    const { cm, data } = configMap(v.configMap.name);
    add(cm, data, v.configMap.items, v.configMap.defaultMode ?? 0o644);
  } else if (v.secret) {
    const { s, data } = secret(v.secret.secretName);
    add(s, data, v.secret.items, v.secret.defaultMode ?? 0o644);
  } else if (!v.emptyDir) throw new Error(`kubelet: unsupported volume ${v.name}`);
  return payload;
}

/**
 * The kubelet's atomic writer: payload in `..<timestamp>/`, `..data` → it, and each top-level
 * entry a symlink through `..data` (an update swaps `..data` in one rename).
 */
async function writeAtomic(volDir: string, payload: Payload): Promise<void> {
  const stamp = `..${new Date().toISOString().replace(/[-:]/g, '_').replace('T', '_').replace('Z', '')}.${randomInt(1e9)}`;
  const tsDir = path.join(volDir, stamp);
  await mkdir(tsDir, { recursive: true });
  const top = new Set<string>();
  for (const [p, { content, mode }] of payload) {
    const file = path.join(tsDir, p);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
    await chmod(file, mode);
    top.add(p.split('/')[0]);
  }
  await symlink(stamp, path.join(volDir, '..data'));
  for (const t of top) await symlink(path.join('..data', t), path.join(volDir, t));
}

/**
 * A pod's network namespace on a shared host: the socket addresses a bootstrap means as "every
 * interface" or "localhost" become the pod's own loopback address. Nothing else changes.
 */
function podNetwork(bootstrap: Any, ip: string): Any {
  const walk = (node: Any, parentKey: string): Any => {
    if (Array.isArray(node)) return node.map((n) => walk(n, parentKey));
    if (node && typeof node === 'object') {
      const out: Any = {};
      for (const [k, v] of Object.entries(node)) {
        const isAddress = k === 'address' && typeof v === 'string' && (parentKey === 'socket_address' || parentKey === 'source_address');
        out[k] = isAddress && (v === '0.0.0.0' || v === '127.0.0.1') ? ip : walk(v, k);
      }
      return out;
    }
    return node;
  };
  return walk(bootstrap, '');
}

async function runEnvoyContainer(pod: Pod, c: Container, envoyBin: string, readyTimeoutMs: number): Promise<Proc> {
  const spec = c.spec;
  const inPod = (p: string) => (p.startsWith('/') ? pod.hostPath(c.name, p) : p);
  const args: string[] = (spec.args ?? []).map((a: string) => (a.startsWith('/') ? inPod(a) : a));
  const cwd = spec.workingDir ? inPod(spec.workingDir) : pod.dir;
  const configArg = args[args.indexOf('-c') + 1];
  if (!configArg || args.indexOf('-c') < 0) throw new Error(`kubelet: ${pod.name}/${c.name}: no -c argument in ${JSON.stringify(spec.args)}`);
  // The mounted file itself, in the pod's network namespace (see podNetwork).
  const file = path.resolve(cwd, configArg);
  const bootstrap = podNetwork(parse(await readFile(file, 'utf8')), pod.ip);
  const real = await realpath(file);
  const { mode } = await stat(real);
  await chmod(real, 0o644);
  await writeFile(real, stringify(bootstrap));
  await chmod(real, mode & 0o777);
  const admin = bootstrap.admin?.address?.socket_address;
  const proc = await startProcess(envoyBin, [...(spec.command?.slice(1) ?? []), ...args, '--base-id', String(randomInt(1, 2 ** 31 - 1))], {
    cwd,
    env: c.env,
    readyTimeoutMs,
    ready: async () => {
      if (!admin) throw new Error('no admin listener');
      const r = await httpStatus(`http://${admin.address}:${admin.port_value}/ready`);
      if (r !== 200) throw new Error(`/ready: ${r}`);
    },
  });
  return proc;
}

function httpStatus(url: string, headers: Record<string, string> = {}, timeoutMs = 2_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** A container's probes as the kubelet runs them, each once: which passed, which failed and why. */
export async function checkProbes(pod: Pod, container: string): Promise<Record<string, string>> {
  const spec = pod.containers.find((c) => c.name === container)?.spec;
  if (!spec) throw new Error(`kubelet: ${pod.name} has no container ${container}`);
  const ports = new Map<string, number>((spec.ports ?? []).map((p: Any) => [p.name, p.containerPort]));
  const port = (p: number | string) => (typeof p === 'number' ? p : ports.get(p) ?? Number.NaN);
  const out: Record<string, string> = {};
  for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    const probe = spec[kind];
    if (!probe) continue;
    try {
      if (probe.tcpSocket) await tcpConnect(pod.ip, port(probe.tcpSocket.port));
      else if (probe.httpGet) {
        const status = await httpStatus(`http://${pod.ip}:${port(probe.httpGet.port)}${probe.httpGet.path ?? '/'}`);
        if (status < 200 || status >= 400) throw new Error(`HTTP ${status}`);
      } else throw new Error(`unsupported probe ${Object.keys(probe).join(',')}`);
      out[kind] = 'ok';
    } catch (e) {
      out[kind] = (e as Error).message;
    }
  }
  return out;
}

function tcpConnect(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, timeout: 2_000 }, () => {
      s.destroy();
      resolve();
    });
    s.on('timeout', () => s.destroy(new Error('timeout')));
    s.on('error', reject);
  });
}
