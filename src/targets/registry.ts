import type { Target } from './target.js';
import { summaryTarget } from './summary/index.js';
import { envoyTarget } from './envoy/index.js';
import { nginxTarget } from './nginx/index.js';
import { haproxyTarget } from './haproxy/index.js';
import { k8sTarget } from './k8s/index.js';
import { istioTarget } from './istio/index.js';
import { grafanaTarget } from './grafana/index.js';

/**
 * Every target, in output order. Adding a target: copy a folder under src/targets/, export a
 * `Target`, add it here. `--targets` selects by name.
 */
export const TARGETS: readonly Target[] = [
  summaryTarget,
  envoyTarget,
  nginxTarget,
  haproxyTarget,
  k8sTarget,
  istioTarget,
  grafanaTarget,
];
