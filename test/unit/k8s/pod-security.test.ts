/**
 * Every pod template meshc writes (k8s/ and istio/ trees, every fixture and hand-built mesh) passes
 * the Pod Security Standards restricted profile, checked control by control; an application opted
 * out with `runAsNonRoot: false` passes baseline, fails restricted only there, and is warned about.
 * The checks themselves are proven to refuse what the published profile refuses.
 */
import { describe, expect, it } from 'vitest';
import type { Mesh } from '../../../src/model/mesh.js';
import { k8sTarget } from '../../../src/targets/k8s/index.js';
import { istioTarget } from '../../../src/targets/istio/index.js';
import { emitSorted } from '../../../src/targets/target.js';
import { BASELINE, RESTRICTED, violations, type PodTemplate } from './pod-security.js';
import { type Any, docs, fakeCerts, handMeshes, kinds, loadFixture, meshOf, validFixtureNames } from './support.js';

const all: [string, Mesh][] = [];
for (const n of validFixtureNames()) all.push([n, await loadFixture(n)]);
for (const [n, m] of Object.entries(handMeshes())) all.push([`hand:${n}`, m]);

const templates = (mesh: Mesh): [string, PodTemplate][] =>
  kinds(docs([...emitSorted(k8sTarget, mesh, fakeCerts(mesh)), ...emitSorted(istioTarget, mesh, fakeCerts(mesh))], 'k8s/', 'istio/'), 'Deployment').map((d: Any) => [
    `${d.metadata.namespace}/${d.metadata.name}`,
    d.spec.template,
  ]);

describe.each(all)('Pod Security Standards: %s', (_name, mesh) => {
  it('every pod template of both trees passes the restricted profile', () => {
    const pods = templates(mesh);
    expect(pods.length).toBeGreaterThan(mesh.services.length);
    for (const [name, pod] of pods) expect(violations(RESTRICTED, pod), name).toEqual([]);
  });

  it('the k8s Namespace enforces restricted', () => {
    const ns = kinds(docs(emitSorted(k8sTarget, mesh, fakeCerts(mesh)), 'k8s/'), 'Namespace')[0];
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });
});

describe('Pod Security Standards: the opt-out for an application that cannot run as non-root', () => {
  const mesh = meshOf({
    trustDomain: 'r.example',
    namespace: 'legacy',
    services: {
      web: { port: 8080, upstreams: ['old'] },
      old: { port: 80, image: 'nginx:1.27', allowFrom: ['web'], kubernetes: { securityContext: { runAsNonRoot: false } } },
    },
  } as Any);

  it('passes baseline everywhere; fails restricted only for that application, on runAsNonRoot and capabilities', () => {
    for (const [name, pod] of templates(mesh)) {
      expect(violations(BASELINE, pod), name).toEqual([]);
      const v = violations(RESTRICTED, pod);
      if (name.endsWith('/old')) expect(v.map((x) => x.split(':')[0]).sort()).toEqual(['capabilitiesRestricted', 'runAsNonRoot']);
      else expect(v, name).toEqual([]);
    }
  });

  it('warns in both targets that the namespace must allow baseline; the k8s Namespace enforces baseline', () => {
    for (const t of [k8sTarget, istioTarget]) {
      const w = t.check(mesh).filter((f) => f.code === 'pod-security-baseline');
      expect(w).toHaveLength(1);
      expect(w[0]).toMatchObject({ severity: 'warning', pointer: '/spec/services/old/kubernetes/securityContext/runAsNonRoot' });
      expect(w[0].message).toContain('baseline');
    }
    const ns = kinds(docs(emitSorted(k8sTarget, mesh, fakeCerts(mesh)), 'k8s/'), 'Namespace')[0];
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('baseline');
    expect(ns.metadata.labels['pod-security.kubernetes.io/warn']).toBe('restricted');
  });
});

describe('Pod Security Standards: each named check refuses what the profile refuses', () => {
  const good = (): PodTemplate => ({
    metadata: { annotations: {} },
    spec: {
      securityContext: { seccompProfile: { type: 'RuntimeDefault' }, sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] },
      volumes: [{ name: 'v', projected: { sources: [] } }],
      containers: [{ name: 'c', image: 'c', ports: [{ containerPort: 80 }], securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } } }],
    },
  });
  const c = (p: PodTemplate) => p.spec.containers[0];
  const cases: [string, (p: PodTemplate) => void][] = [
    ['hostProcess', (p) => (c(p).securityContext.windowsOptions = { hostProcess: true })],
    ['hostNamespaces', (p) => (p.spec.hostNetwork = true)],
    ['hostNamespaces', (p) => (p.spec.hostPID = true)],
    ['hostNamespaces', (p) => (p.spec.hostIPC = true)],
    ['privileged', (p) => (c(p).securityContext.privileged = true)],
    ['capabilities', (p) => (c(p).securityContext.capabilities.add = ['NET_ADMIN'])],
    ['hostPathVolumes', (p) => p.spec.volumes.push({ name: 'h', hostPath: { path: '/' } })],
    ['hostPorts', (p) => (c(p).ports[0].hostPort = 80)],
    ['appArmor', (p) => (p.metadata!.annotations!['container.apparmor.security.beta.kubernetes.io/c'] = 'unconfined')],
    ['appArmor', (p) => (c(p).securityContext.appArmorProfile = { type: 'Unconfined' })],
    ['seLinux', (p) => (c(p).securityContext.seLinuxOptions = { type: 'spc_t' })],
    ['seLinux', (p) => (p.spec.securityContext.seLinuxOptions = { user: 'system_u' })],
    ['procMount', (p) => (c(p).securityContext.procMount = 'Unmasked')],
    ['seccomp', (p) => (c(p).securityContext.seccompProfile = { type: 'Unconfined' })],
    ['sysctls', (p) => p.spec.securityContext.sysctls.push({ name: 'net.ipv4.ip_forward', value: '1' })],
    ['volumeTypes', (p) => p.spec.volumes.push({ name: 'n', nfs: { server: 'x', path: '/' } })],
    ['allowPrivilegeEscalation', (p) => delete c(p).securityContext.allowPrivilegeEscalation],
    ['runAsNonRoot', (p) => delete c(p).securityContext.runAsNonRoot],
    ['runAsUser', (p) => (c(p).securityContext.runAsUser = 0)],
    ['seccompRestricted', (p) => delete p.spec.securityContext.seccompProfile],
    ['capabilitiesRestricted', (p) => (c(p).securityContext.capabilities.drop = [])],
    ['capabilitiesRestricted', (p) => (c(p).securityContext.capabilities.add = ['CHOWN'])],
  ];

  it('a compliant pod has no violation', () => {
    expect(violations(RESTRICTED, good())).toEqual([]);
  });

  it.each(cases)('%s', (rule, mutate) => {
    const pod = good();
    mutate(pod);
    expect(violations(RESTRICTED, pod).map((v) => v.split(':')[0])).toContain(rule);
    expect(Object.keys(RESTRICTED)).toContain(rule);
  });

  it('covers every control of both profiles', () => {
    expect(Object.keys(BASELINE).sort()).toEqual(['appArmor', 'capabilities', 'hostNamespaces', 'hostPathVolumes', 'hostPorts', 'hostProcess', 'privileged', 'procMount', 'seLinux', 'seccomp', 'sysctls']);
    expect(new Set(cases.map(([r]) => r))).toEqual(new Set(Object.keys(RESTRICTED)));
  });
});
