/**
 * The Pod Security Standards as named checks over a pod template, one per control of the published
 * profiles (https://kubernetes.io/docs/concepts/security/pod-security-standards/): baseline, and
 * restricted, which adds to baseline. Each check returns what it refuses; none is empty for a pod
 * the profile rejects. pod-security.test.ts proves each check refuses what it should.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

export interface PodTemplate {
  metadata?: { annotations?: Record<string, string> };
  spec: Any;
}

type Check = (pod: PodTemplate) => string[];

const containersOf = (spec: Any): Any[] => [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])];
const each = (pod: PodTemplate, f: (c: Any) => string | undefined): string[] =>
  containersOf(pod.spec).flatMap((c) => {
    const r = f(c);
    return r ? [`${c.name}: ${r}`] : [];
  });

/** The capabilities a container runtime grants by default (the baseline profile's allowed `add`). */
const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
/** Safe sysctls: namespaced and isolated per pod (the profile's allowed names since 1.0). */
const SAFE_SYSCTLS = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_unprivileged_port_start']);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

export const BASELINE: Record<string, Check> = {
  hostProcess: (pod) => [
    ...(pod.spec.securityContext?.windowsOptions?.hostProcess ? ['pod: hostProcess'] : []),
    ...each(pod, (c) => (c.securityContext?.windowsOptions?.hostProcess ? 'hostProcess' : undefined)),
  ],
  hostNamespaces: (pod) => ['hostNetwork', 'hostPID', 'hostIPC'].filter((k) => pod.spec[k] === true),
  privileged: (pod) => each(pod, (c) => (c.securityContext?.privileged ? 'privileged' : undefined)),
  capabilities: (pod) =>
    each(pod, (c) => {
      const bad = (c.securityContext?.capabilities?.add ?? []).filter((x: string) => !BASELINE_CAPABILITIES.has(x));
      return bad.length > 0 ? `adds ${bad.join(', ')}` : undefined;
    }),
  hostPathVolumes: (pod) => (pod.spec.volumes ?? []).filter((v: Any) => v.hostPath !== undefined).map((v: Any) => `volume ${v.name}: hostPath`),
  hostPorts: (pod) => each(pod, (c) => ((c.ports ?? []).some((p: Any) => p.hostPort !== undefined && p.hostPort !== 0) ? 'hostPort' : undefined)),
  appArmor: (pod) => [
    ...Object.entries(pod.metadata?.annotations ?? {})
      .filter(([k, v]) => k.startsWith('container.apparmor.security.beta.kubernetes.io/') && v !== 'runtime/default' && !v.startsWith('localhost/'))
      .map(([k, v]) => `${k}=${v}`),
    ...[pod.spec.securityContext, ...containersOf(pod.spec).map((c) => c.securityContext)]
      .filter((sc) => sc?.appArmorProfile !== undefined && !['RuntimeDefault', 'Localhost'].includes(sc.appArmorProfile.type))
      .map(() => 'appArmorProfile Unconfined'),
  ],
  seLinux: (pod) =>
    [pod.spec.securityContext, ...containersOf(pod.spec).map((c) => c.securityContext)]
      .map((sc) => sc?.seLinuxOptions)
      .filter((o) => o !== undefined && (!SELINUX_TYPES.has(o.type ?? '') || o.user !== undefined || o.role !== undefined))
      .map((o) => `seLinuxOptions ${JSON.stringify(o)}`),
  procMount: (pod) => each(pod, (c) => (c.securityContext?.procMount !== undefined && c.securityContext.procMount !== 'Default' ? `procMount ${c.securityContext.procMount}` : undefined)),
  seccomp: (pod) => [
    ...(pod.spec.securityContext?.seccompProfile?.type === 'Unconfined' ? ['pod: seccomp Unconfined'] : []),
    ...each(pod, (c) => (c.securityContext?.seccompProfile?.type === 'Unconfined' ? 'seccomp Unconfined' : undefined)),
  ],
  sysctls: (pod) => (pod.spec.securityContext?.sysctls ?? []).filter((s: Any) => !SAFE_SYSCTLS.has(s.name)).map((s: Any) => `sysctl ${s.name}`),
};

export const RESTRICTED: Record<string, Check> = {
  ...BASELINE,
  volumeTypes: (pod) =>
    (pod.spec.volumes ?? []).flatMap((v: Any) => {
      const types = Object.keys(v).filter((k) => k !== 'name');
      return types.filter((t) => !RESTRICTED_VOLUMES.has(t)).map((t) => `volume ${v.name}: ${t}`);
    }),
  allowPrivilegeEscalation: (pod) => each(pod, (c) => (c.securityContext?.allowPrivilegeEscalation === false ? undefined : 'allowPrivilegeEscalation not false')),
  runAsNonRoot: (pod) => {
    const podLevel = pod.spec.securityContext?.runAsNonRoot;
    return each(pod, (c) => {
      const v = c.securityContext?.runAsNonRoot ?? podLevel;
      return v === true ? undefined : 'runAsNonRoot not true';
    });
  },
  runAsUser: (pod) => [
    ...(pod.spec.securityContext?.runAsUser === 0 ? ['pod: runAsUser 0'] : []),
    ...each(pod, (c) => (c.securityContext?.runAsUser === 0 ? 'runAsUser 0' : undefined)),
  ],
  seccompRestricted: (pod) => {
    const ok = (t: string | undefined) => t === 'RuntimeDefault' || t === 'Localhost';
    const podType = pod.spec.securityContext?.seccompProfile?.type;
    return each(pod, (c) => {
      const t = c.securityContext?.seccompProfile?.type ?? podType;
      return ok(t) ? undefined : `seccompProfile ${t ?? 'unset'}`;
    });
  },
  capabilitiesRestricted: (pod) =>
    each(pod, (c) => {
      const caps = c.securityContext?.capabilities ?? {};
      if (!(caps.drop ?? []).includes('ALL')) return 'does not drop ALL';
      const added = (caps.add ?? []).filter((x: string) => x !== 'NET_BIND_SERVICE');
      return added.length > 0 ? `adds ${added.join(', ')}` : undefined;
    }),
};

/** Every violation of the profile, as `rule: detail`. */
export function violations(profile: Record<string, Check>, pod: PodTemplate): string[] {
  return Object.entries(profile).flatMap(([name, check]) => check(pod).map((v) => `${name}: ${v}`));
}
