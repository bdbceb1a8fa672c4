import './v8-flags.js';
import { CommanderError } from 'commander';
import { createProgram } from './program.js';
import { EXIT, reportError } from './run.js';

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
  const program = createProgram();
  program.commands.forEach((c) => c.exitOverride());
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; every other commander error is a usage error.
      process.exitCode = e.exitCode === 0 ? EXIT.OK : EXIT.ERROR;
      return;
    }
    process.exitCode = reportError(e, argv.includes('--debug'));
  }
}

await main(process.argv);
