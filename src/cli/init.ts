import type { Command } from 'commander';
import { readFile, writeFile, stat } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import { addDebug, addFile } from './options.js';
import { action, EXIT } from './run.js';

/** The example mesh.yaml, with a modeline pointing editors at this installation's schema. */
export async function exampleMesh(targetFile: string): Promise<string> {
  const template = await readFile(new URL('../../templates/init/mesh.yaml', import.meta.url), 'utf8');
  const schemaPath = fileURLToPath(new URL('../../schemas/mesh.schema.json', import.meta.url));
  let rel = relative(dirname(resolve(targetFile)), schemaPath);
  if (!rel.startsWith('.')) rel = './' + rel;
  return template.replace('{{schema}}', rel);
}

export function registerInit(program: Command): void {
  const cmd = program
    .command('init')
    .description('write a commented example mesh.yaml, wired to the JSON Schema for editor completion')
    .option('--force', 'overwrite an existing file')
    .addHelpText('after', `
Examples:
  $ meshc init
  $ meshc init -f deploy/mesh.yaml
  $ meshc init --force

Exit codes: 0 written, 2 the file exists (use --force) or cannot be written.`);
  addFile(cmd);
  addDebug(cmd);
  cmd.action(
    action(async (o: { file: string; force?: boolean }) => {
      let exists = false;
      try {
        await stat(o.file);
        exists = true;
      } catch {
        exists = false;
      }
      if (exists && !o.force) throw new UserError(`${o.file} already exists; not overwriting it`, 2, 'pass --force to replace it');
      try {
        await writeFile(o.file, await exampleMesh(o.file), { flag: o.force ? 'w' : 'wx' });
      } catch (e) {
        throw new UserError(`cannot write ${o.file}: ${(e as Error).message}`, 2);
      }
      process.stdout.write(`wrote ${o.file}; next: meshc validate -f ${o.file} && meshc build -f ${o.file}\n`);
      // Every place a build puts a private key carries its own .gitignore, so `git add -A` is safe from the first commit.
      process.stdout.write(`commit ${o.file}, the output and the certificate state's state.json; private keys are git-ignored wherever meshc writes them (set MESHC_STATE_PASSPHRASE to keep them encrypted and committable instead)\n`);
      return EXIT.OK;
    }),
  );
}
