/**
 * The HAProxy driver: `haproxy/<workload>.cfg` run as `haproxy -db -f <config>` with its working
 * directory at the output root (every path in the config and its crt-list is relative to it).
 * A rewritten replica copy is written to a scratch directory and still runs from the output root.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { proxyOrSkip, startHaproxy, validateHaproxy } from '../../harness/index.js';
import { rewriteAddress, withScratch, type ProxyDriver } from './driver.js';
import { listenPorts, supportsFrom } from './nginx.js';

const haproxy = proxyOrSkip('haproxy');

const BIND = /^\s*bind\s+(\d+\.\d+\.\d+\.\d+):(\d+)/gm;

export const haproxyDriver: ProxyDriver = {
  name: 'haproxy',
  available: Boolean(haproxy.path),
  async start(outDir, workload, opts) {
    const original = path.join(outDir, 'haproxy', `${workload}.cfg`);
    const text = await readFile(original, 'utf8');
    if (!opts?.rewrite) return startHaproxy({ configPath: original, cwd: outDir, waitPorts: listenPorts(text, BIND) });
    const rewritten = rewriteAddress(text, opts.rewrite[0], opts.rewrite[1]);
    return withScratch(`haproxy-${workload}`, async (dir) => {
      const copy = path.join(dir, `${workload}.cfg`);
      await writeFile(copy, rewritten);
      return startHaproxy({ configPath: copy, cwd: outDir, waitPorts: listenPorts(rewritten, BIND) });
    });
  },
  validate: (outDir, workload) => validateHaproxy(path.join(outDir, 'haproxy', `${workload}.cfg`), outDir),
  supports: supportsFrom('haproxy'),
};
