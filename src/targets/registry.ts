import type { Target } from './target.js';

/**
 * Every target, in output order, one line each. Adding a target: copy src/targets/_template/ to a
 * folder of its own and add its line here. `--targets` selects by name.
 */
export const TARGETS: readonly Target[] = [
  (await import('./summary/index.js')).summaryTarget,
  (await import('./envoy/index.js')).envoyTarget,
  (await import('./nginx/index.js')).nginxTarget,
  (await import('./haproxy/index.js')).haproxyTarget,
  (await import('./k8s/index.js')).k8sTarget,
  (await import('./istio/index.js')).istioTarget,
  (await import('./grafana/index.js')).grafanaTarget,
];
