import { Option, type Command } from 'commander';
import { validate } from '../pipeline/validate.js';
import { UserError } from '../errors.js';
import { PROXY_TARGETS, type ProxyTarget } from '../local/workloads.js';
import { addDebug, addFile } from './options.js';
import { colours, countLine, formatDiagnostics } from './render.js';
import { action, EXIT } from './run.js';
import { locate, type Source } from '../source/parse.js';
import type { ProfileError } from '../local/up.js';

/** Runs fn; a local profile the target cannot compile is shown at the places in the user's mesh.yaml. */
export async function runOrExplain<T>(source: Source, target: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const pe = e as ProfileError;
    if (!Array.isArray(pe?.diagnostics)) throw e;
    const placed = pe.diagnostics.map((d) => locate(source, { code: d.code, severity: d.severity, message: d.message, pointer: d.pointer, ...(d.hint ? { hint: d.hint } : {}) }));
    process.stderr.write(formatDiagnostics(placed, colours(process.stderr)) + '\n');
    throw new UserError(`${source.file} cannot run with ${target}: ${countLine(placed)}`, 1);
  }
}

export function registerUp(program: Command): void {
  const cmd = program
    .command('up')
    .description('run the whole mesh on this machine with the real proxies, on loopback, in the foreground')
    .addOption(new Option('--target <target>', 'proxy to run').choices([...PROXY_TARGETS]).default('envoy'))
    .option('--echo', 'start a small application per service replica that answers with its service, replica and caller')
    .option('--resolver <host:port>', 'where the built-in DNS forwards names the mesh does not own (default: the system resolver; "none": nowhere)')
    .addHelpText('after', `
Examples:
  $ meshc up --echo                  # every replica and gateway on its own 127.x.y.z; a table of what to call
  $ meshc up --target nginx          # the same mesh with nginx; your applications listen where the table says

A local profile (addresses, ports above 1024, a built-in DNS) is built into a temporary directory;
what \`meshc build\` writes is never changed. Ctrl-C stops everything and removes that directory.
Exit codes: 0 stopped by Ctrl-C or SIGTERM, 1 invalid mesh, 2 usage error, a proxy missing or not starting, or the mesh already running.`);
  for (const add of [addFile, addDebug]) add(cmd);
  cmd.action(
    action(async (o: { file: string; target: ProxyTarget; echo?: boolean; resolver?: string }) => {
      // Policy checks here; the target's own checks run on the local profile (which sets, for
      // example, the DNS resolvers a deployment must name).
      const v = await validate({ file: o.file, targets: [] });
      if (!v.ok || !v.mesh || !v.written || !v.source) {
        process.stderr.write(formatDiagnostics(v.diagnostics, colours(process.stderr)) + `\n${o.file} is invalid: ${countLine(v.diagnostics)}\n`);
        return EXIT.FINDINGS;
      }
      const { mesh, written, source } = { mesh: v.mesh, written: v.written, source: v.source };
      if (o.resolver && o.resolver !== 'none' && o.resolver !== 'system' && !/^[^:]+:\d+$/.test(o.resolver)) throw new UserError(`--resolver ${o.resolver}: expected host:port, "system" or "none"`, 2);
      const c = colours();
      const say = (name: string, line: string) => process.stdout.write(`${c.dim(`[${name}]`)} ${line}\n`);
      const { up, callTable } = await import('../local/up.js');
      // Listening from before start-up to the end: a signal during start-up stops what has
      // started once up() returns, and none is missed between printing "ready" and waiting.
      let signalled = false;
      let onStop = () => {};
      const stopped = new Promise<void>((resolve) => (onStop = resolve));
      const onSignal = () => {
        signalled = true;
        onStop();
      };
      process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
      const running = await runOrExplain(source, o.target, () => up({
        file: o.file,
        mesh,
        written,
        target: o.target,
        echo: Boolean(o.echo),
        ...(o.resolver ? { resolver: o.resolver } : {}),
        log: say,
        onExit: (name, how, last) => {
          say(name, c.red(`${how}; its last lines:`));
          for (const l of last) say(name, `  ${l}`);
        },
      }));
      if (!signalled) {
        process.stdout.write(callTable(running, mesh).join('\n') + '\n\nready: Ctrl-C stops everything\n');
        await stopped;
      }
      process.stdout.write('stopping...\n');
      await running.stop();
      process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      process.stdout.write('stopped; every process ended and its files removed\n');
      return EXIT.OK;
    }),
  );
}
