/** The Envoy driver: `envoy/<workload>.yaml` run with its working directory at the output root. */
import path from 'node:path';
import { proxyOrSkip, requireBinary, validateEnvoy } from '../../harness/index.js';
import { startWorkload } from '../../../src/local/workloads.js';
import { withScratch, type ProxyDriver } from './driver.js';

const envoy = proxyOrSkip('envoy');

export const envoyDriver: ProxyDriver = {
  name: 'envoy',
  available: Boolean(envoy.path),
  start: (outDir, workload, opts) =>
    withScratch('envoy-replica', (scratch) => startWorkload('envoy', outDir, workload, { scratch, bin: requireBinary('envoy'), ...(opts?.rewrite ? { rewrite: opts.rewrite } : {}) })),
  // Envoy re-reads certificates and trust by itself (SDS watching the directory): no step.
  startInstalled: (dir, workload) =>
    withScratch('envoy-installed', async (scratch) => ({ ...(await startWorkload('envoy', dir, workload, { scratch, bin: requireBinary('envoy') })), reload: async () => {} })),
  validate: (outDir, workload) => validateEnvoy(path.join(outDir, 'envoy', `${workload}.yaml`), outDir),
  // Envoy expresses every feature of the mesh.
  supports: () => true,
};
