import { Option, type Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import { fetchEdgeMetrics, GRAPH_FORMATS, renderGraph, type GraphFormat } from '../graph/index.js';
import { validate } from '../pipeline/validate.js';
import { addDebug, addFile } from './options.js';
import { countLine, formatDiagnostics, printJson } from './render.js';
import { action, EXIT } from './run.js';

export function registerGraph(program: Command): void {
  const cmd = program
    .command('graph')
    .description('draw who may call whom, upstreams (with the callee\'s load balancing), egress domains and ingress routes')
    .addOption(new Option('--format <format>', 'output format').choices([...GRAPH_FORMATS]).default('mermaid'))
    .option('-o, --output <file>', 'write to this file instead of standard output (here -o names a file, not the output directory)')
    .option('--metrics <url>', 'Prometheus that scrapes the mesh: each edge gets its request rate, 5xx ratio and p99 latency (html colours edges by health)')
    .addOption(new Option('--proxy <proxy>', 'with --metrics: which proxy\'s series to read').choices(['envoy', 'haproxy']).default('envoy'))
    .option('--window <range>', 'with --metrics: the PromQL range of the rates', '5m')
    .addHelpText('after', `
Examples:
  $ meshc graph                                  # Mermaid, e.g. for a README or a pull request
  $ meshc graph --format dot | dot -Tsvg > mesh.svg
  $ meshc graph --format html -o mesh.html      # a self-contained page with a picture and a legend
  $ meshc graph --format json | jq '.edges[] | select(.allowed == false)'
  $ meshc graph --format html --metrics http://prometheus:9090 -o live.html

A call the callee's allowFrom does not allow is drawn dashed red and labelled NOT ALLOWED.
Exit codes: 0 drawn, 1 invalid mesh, 2 usage or I/O error.`);
  for (const add of [addFile, addDebug]) add(cmd);
  cmd.action(
    action(async (o: { file: string; format: GraphFormat; output?: string; metrics?: string; proxy: 'envoy' | 'haproxy'; window: string }) => {
      // Graphs describe policy, not what a proxy can express: no target checks, no certificate files.
      const v = await validate({ file: o.file, targets: [], suppliedFiles: false });
      if (!v.ok || !v.mesh) {
        if (o.format === 'json') printJson({ ok: false, diagnostics: v.diagnostics });
        else process.stderr.write(formatDiagnostics(v.diagnostics) + `\n${o.file} is invalid: ${countLine(v.diagnostics)}\n`);
        return EXIT.FINDINGS;
      }
      if (o.metrics !== undefined && !/^https?:\/\/[^\s]+$/.test(o.metrics)) throw new UserError(`--metrics wants the Prometheus URL (http://host:9090), not ${JSON.stringify(o.metrics)}`, 2);
      if (!/^[0-9]+(ms|s|m|h|d)$/.test(o.window)) throw new UserError(`--window wants a PromQL range such as 5m, not ${JSON.stringify(o.window)}`, 2);
      const metrics = o.metrics ? await fetchEdgeMetrics(v.mesh.name, { url: o.metrics, proxy: o.proxy, window: o.window }) : undefined;
      const text = await renderGraph(v.mesh, o.format, { metrics });
      if (o.output) {
        try {
          await writeFile(resolve(o.output), text);
        } catch (e) {
          throw new UserError(`cannot write ${o.output}: ${(e as Error).message}`, 2);
        }
      } else process.stdout.write(text);
      return EXIT.OK;
    }),
  );
}
