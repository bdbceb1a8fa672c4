import { CommanderError, type Command } from 'commander';
import { createProgram } from './program.js';
import { setColourFlag } from './render.js';
import { readStdin } from '../source/stdin.js';
import { MAX_SOURCE_BYTES } from '../source/parse.js';
import { EXIT, printJsonError, reportError, wantsJson } from './run.js';

/**
 * A reader that closed the pipe (`meshc validate | head -1`) has all it wanted: later writes are
 * dropped, the command finishes and exits with its own code. Any other stream error is reported.
 */
export function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return;
    process.exitCode = reportError(e, process.argv.includes('--debug'));
  });
}

export async function main(argv: string[]): Promise<void> {
  quietOnClosedPipe(process.stdout);
  quietOnClosedPipe(process.stderr);
  // --no-color and --color are read here, before any command prints (render.ts decides colour).
  setColourFlag(argv.includes('--no-color') ? false : argv.includes('--color') ? true : undefined);
  const program = createProgram();
  const json = wantsJson(argv);
  // -f - reads the mesh from standard input (init writes to standard output instead).
  program.hook('preAction', async (_program, command) => {
    if (command.name() !== 'init' && command.opts().file === '-') command.setOptionValue('file', await readStdin(MAX_SOURCE_BYTES + 1));
  });
  const every = (c: Command): Command[] => [c, ...c.commands.flatMap(every)];
  for (const c of every(program)) {
    c.exitOverride();
    // Under --format json a usage error is printed once, as JSON, below.
    if (json) c.configureOutput({ outputError: () => {}, writeErr: () => {} });
  }
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; every other commander error is a usage error.
      process.exitCode = e.exitCode === 0 ? EXIT.OK : EXIT.ERROR;
      if (json && e.exitCode !== 0) printJsonError('usage', e.message.replace(/^error: /, ''), 'run with --help for usage');
      return;
    }
    process.exitCode = reportError(e, argv.includes('--debug'), json);
  }
}

await main(process.argv);
