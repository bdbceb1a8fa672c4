/**
 * The HAProxy driver: `haproxy/<workload>.cfg` run as `haproxy -db -f <config>` with its working
 * directory at the output root (every path in the config and its crt-list is relative to it).
 * A rewritten replica copy is written to a scratch directory and still runs from the output root.
 */
import path from 'node:path';
import { proxyOrSkip, requireBinary, validateHaproxy } from '../../harness/index.js';
import { startWorkload } from '../../../src/local/workloads.js';
import { withScratch, type ProxyDriver } from './driver.js';
import { supportsFrom } from './nginx.js';

const haproxy = proxyOrSkip('haproxy');

export const haproxyDriver: ProxyDriver = {
  name: 'haproxy',
  available: Boolean(haproxy.path),
  start: (outDir, workload, opts) =>
    withScratch(`haproxy-${workload}`, (scratch) => startWorkload('haproxy', outDir, workload, { scratch, bin: requireBinary('haproxy'), ...(opts?.rewrite ? { rewrite: opts.rewrite } : {}) })),
  startInstalled: (dir, workload) =>
    withScratch(`haproxy-${workload}`, async (scratch) => {
      const proc = await startWorkload('haproxy', dir, workload, { scratch, bin: requireBinary('haproxy'), masterWorker: true });
      // The master re-executes itself with the same arguments: the new workers read the new files.
      return { ...proc, reload: async () => void process.kill(proc.pid, 'SIGUSR2') };
    }),
  validate: (outDir, workload) => validateHaproxy(path.join(outDir, 'haproxy', `${workload}.cfg`), outDir),
  supports: supportsFrom('haproxy'),
};
