import { error, pointer } from '../diagnostic.js';
import { cpuCores, memoryBytes, type Resources } from '../kubernetes.js';
import type { Rule } from './context.js';

type Path = (string | number)[];
type Written = { cpu?: string | number; memory?: string | number };
type Layer = { path: Path; written: { requests?: Written; limits?: Written } | undefined };

/**
 * A request above its limit: Kubernetes refuses such a pod. Reported at the most specific place
 * that wrote the request (or else the limit).
 */
export const requestsWithinLimits: Rule = ({ written, mesh }) => {
  const spec = written.spec;
  const meshProxy: Layer = { path: ['spec', 'kubernetes', 'proxy', 'resources'], written: spec.kubernetes?.proxy?.resources };
  const checks: { what: string; resources: Resources; layers: Layer[] }[] = [];
  for (const s of mesh.services) {
    const k = spec.services[s.name]?.kubernetes;
    const base: Path = ['spec', 'services', s.name, 'kubernetes'];
    checks.push({ what: `${s.name}'s application`, resources: s.kubernetes.resources, layers: [{ path: [...base, 'resources'], written: k?.resources }] });
    checks.push({ what: `${s.name}'s sidecar`, resources: s.kubernetes.proxy.resources, layers: [meshProxy, { path: [...base, 'proxy', 'resources'], written: k?.proxy?.resources }] });
  }
  for (const [key, gw] of [
    ['ingressGateway', mesh.ingress],
    ['egressGateway', mesh.egressGateway],
  ] as const) {
    const layer = { path: ['spec', 'kubernetes', key, 'proxy', 'resources'], written: spec.kubernetes?.[key]?.proxy?.resources };
    checks.push({ what: `the ${gw.name}`, resources: gw.kubernetes.proxy.resources, layers: [meshProxy, layer] });
  }
  return checks.flatMap(({ what, resources, layers }) =>
    (['cpu', 'memory'] as const).flatMap((r) => {
      const req = resources.requests[r];
      const lim = resources.limits[r];
      if (req === undefined || lim === undefined) return [];
      const amount = r === 'cpu' ? cpuCores : memoryBytes;
      if (amount(req) <= amount(lim)) return [];
      const at = [...layers].reverse().find((l) => l.written?.requests?.[r] !== undefined) ?? [...layers].reverse().find((l) => l.written?.limits?.[r] !== undefined) ?? layers[layers.length - 1];
      const field = at.written?.requests?.[r] !== undefined ? 'requests' : 'limits';
      return [error('request-over-limit', pointer(...at.path, field, r), `${what} requests ${r} ${req}, above its limit ${lim}: Kubernetes refuses the pod`, `lower the request or raise the limit`)];
    }),
  );
};
