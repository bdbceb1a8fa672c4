import './v8-flags.js';
import { CommanderError } from 'commander';
import { createProgram } from './program.js';
import { EXIT, reportError } from './run.js';

export async function main(argv: string[]): Promise<void> {
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
