/** The command tree; importing it does no work (main.ts runs it). */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerBuild } from './build.js';
import { registerCerts } from './certs.js';
import { registerDiff } from './diff.js';
import { registerExplain } from './explain.js';
import { registerTest } from './test.js';
import { registerUp } from './up.js';
import { registerGraph } from './graph.js';
import { registerImport } from './import.js';
import { registerInit } from './init.js';
import { registerValidate } from './validate.js';
import { registerVerify } from './verify.js';
import { registerCompletion } from './completion.js';
import { registerInstall } from './install.js';

function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export function createProgram(): Command {
  const program = new Command('meshc')
    .description('compile one mesh.yaml into a service mesh: certificates, Envoy, nginx and HAProxy configs, Kubernetes and Istio resources')
    .version(version(), '-V, --version')
    .option('--no-color', 'plain output, no colour (also NO_COLOR=1; FORCE_COLOR=1 forces colour)')
    .option('--color', 'colour even when not on a terminal')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText('after', `
Examples:
  $ meshc init                 # write a commented example mesh.yaml
  $ meshc validate             # every problem at once, as mesh.yaml:LINE:COL
  $ meshc build                # certificates + all targets into out/
  $ meshc build --check        # CI: fail when out/ is stale

Exit codes: 0 success, 1 findings (invalid mesh, drift, differences, expiring certificates), 2 usage, I/O or internal error.`);
  registerInit(program);
  registerValidate(program);
  registerBuild(program);
  registerCerts(program);
  registerInstall(program);
  registerVerify(program);
  registerDiff(program);
  registerGraph(program);
  registerExplain(program);
  registerTest(program);
  registerUp(program);
  registerImport(program);
  registerCompletion(program);
  program
    .command('version')
    .description('print the version of meshc (the same as --version)')
    .action(() => {
      process.stdout.write(`${version()}\n`);
    });
  return program;
}

