/** The Envoy driver: `envoy/<workload>.yaml` run with its working directory at the output root. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { proxyOrSkip, startEnvoy, tempDir, validateEnvoy, type Proc } from '../../harness/index.js';
import { rewriteAddress, type ProxyDriver } from './driver.js';

const envoy = proxyOrSkip('envoy');

export const envoyDriver: ProxyDriver = {
  name: 'envoy',
  available: Boolean(envoy.path),
  async start(outDir, workload, opts) {
    const configPath = path.join(outDir, 'envoy', `${workload}.yaml`);
    if (!opts?.rewrite) return startEnvoy({ configPath, cwd: outDir });
    const scratch = await tempDir('envoy-replica');
    try {
      const copy = path.join(scratch.path, `${workload}.yaml`);
      await writeFile(copy, rewriteAddress(await readFile(configPath, 'utf8'), opts.rewrite[0], opts.rewrite[1]));
      const proc: Proc = await startEnvoy({ configPath: copy, cwd: outDir });
      return {
        ...proc,
        stop: async () => {
          await proc.stop();
          await scratch.cleanup();
        },
      };
    } catch (err) {
      await scratch.cleanup();
      throw err;
    }
  },
  validate: (outDir, workload) => validateEnvoy(path.join(outDir, 'envoy', `${workload}.yaml`), outDir),
  // Envoy expresses every feature of the mesh.
  supports: () => true,
};
