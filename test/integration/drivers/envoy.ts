/** The Envoy driver: `envoy/<workload>.yaml` run with its working directory at the output root. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { proxyOrSkip, startEnvoy, validateEnvoy } from '../../harness/index.js';
import { rewriteAddress, withScratch, type ProxyDriver } from './driver.js';

const envoy = proxyOrSkip('envoy');

export const envoyDriver: ProxyDriver = {
  name: 'envoy',
  available: Boolean(envoy.path),
  async start(outDir, workload, opts) {
    const configPath = path.join(outDir, 'envoy', `${workload}.yaml`);
    if (!opts?.rewrite) return startEnvoy({ configPath, cwd: outDir });
    const [from, to] = opts.rewrite;
    const text = rewriteAddress(await readFile(configPath, 'utf8'), from, to);
    return withScratch('envoy-replica', async (dir) => {
      const copy = path.join(dir, `${workload}.yaml`);
      await writeFile(copy, text);
      return startEnvoy({ configPath: copy, cwd: outDir });
    });
  },
  validate: (outDir, workload) => validateEnvoy(path.join(outDir, 'envoy', `${workload}.yaml`), outDir),
  // Envoy expresses every feature of the mesh.
  supports: () => true,
};
