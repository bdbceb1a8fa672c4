import type { Command } from 'commander';
import { resolve } from 'node:path';
import { INSTALL_TARGETS, installWorkload } from '../output/install.js';
import { addDebug, addFormat, addOut } from './options.js';
import { report } from './render.js';
import { action, EXIT } from './run.js';

export function registerInstall(program: Command): void {
  const cmd = program
    .command('install')
    .description("copy one workload's proxy config, certificates and keys into a stable runtime directory, swapped atomically (the step after a rotation)")
    .argument('<workload>', 'a service, ingress-gateway or egress-gateway')
    .requiredOption('--to <dir>', 'the runtime directory the proxy runs from (created when missing)')
    .option('--targets <list>', `comma-separated proxy targets (default: each of ${INSTALL_TARGETS.join(', ')} the output holds)`)
    .addHelpText('after', `
Examples:
  $ meshc build && meshc install cart --to /var/lib/meshc/cart
  $ cd /var/lib/meshc/cart && envoy -c envoy/cart.yaml        # once; later installs need no restart

Each install writes a new generation beside the old one and swaps the ..data symlink in one rename,
as the kubelet does for a Secret volume. Envoy re-reads its certificates by itself; nginx and
HAProxy read them at their next graceful reload (nginx -s reload; HAProxy -W and SIGUSR2).
Exit codes: 0 installed or already current, 2 no such workload or I/O error.`);
  for (const add of [addOut, addFormat, addDebug]) add(cmd);
  cmd.action(
    action(async (workload: string, o: { out: string; to: string; targets?: string; format: string }) => {
      const r = await installWorkload({
        out: resolve(o.out),
        workload,
        to: resolve(o.to),
        ...(o.targets ? { targets: o.targets.split(',').map((t) => t.trim()).filter(Boolean) } : {}),
      });
      report(o.format, {
        json: (x) => ({ ok: true, ...x }),
        text: (x) => `${x.changed ? 'installed' : 'already current:'} ${x.files.length} files of ${workload} in ${o.to} (${x.generation})\n`,
      }, r);
      return EXIT.OK;
    }),
  );
}
