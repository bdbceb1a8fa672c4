import type { Command } from 'commander';
import { readFile, writeFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import { addDebug, addFile } from './options.js';
import { action, EXIT } from './run.js';

/**
 * Where the editor finds the schema, as a path relative to the mesh file that holds for everyone
 * who clones the repository: meshc installed as a dependency of the project, at
 * `node_modules/meshc/schemas/mesh.schema.json` under the project's root (the nearest folder above
 * the mesh file with a package.json, else with .git, else the mesh file's own). Never a path into
 * this machine's installation, which differs for each teammate. In meshc's own repository, its
 * schemas/ folder.
 */
export function schemaModeline(targetFile: string): { path: string; root: string; present: boolean } {
  const meshDir = dirname(resolve(targetFile));
  const up = (marker: string) => {
    for (let d = meshDir; ; d = dirname(d)) {
      if (existsSync(join(d, marker))) return d;
      if (dirname(d) === d) return undefined;
    }
  };
  const root = up('package.json') ?? up('.git') ?? meshDir;
  const own = fileURLToPath(new URL('../../', import.meta.url));
  const schema = resolve(own) === resolve(root) ? join(root, 'schemas', 'mesh.schema.json') : join(root, 'node_modules', 'meshc', 'schemas', 'mesh.schema.json');
  let rel = relative(meshDir, schema).split(sep).join('/');
  if (!rel.startsWith('.')) rel = './' + rel;
  return { path: rel, root, present: existsSync(schema) };
}

/** The example mesh.yaml, with the modeline of schemaModeline. */
export async function exampleMesh(targetFile: string): Promise<string> {
  const template = await readFile(new URL('../../templates/init/mesh.yaml', import.meta.url), 'utf8');
  return template.replace('{{schema}}', schemaModeline(targetFile).path);
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
  $ meshc init -f - > mesh.yaml          # to standard output

The first line points editors at the JSON Schema of meshc installed as a dev dependency of the project
(node_modules/meshc/schemas/mesh.schema.json under the folder with package.json, relative to the file),
so it holds for everyone who clones the repository and runs npm ci.

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
      if (o.file === '-') {
        process.stdout.write(await exampleMesh('mesh.yaml'));
        return EXIT.OK;
      }
      try {
        await writeFile(o.file, await exampleMesh(o.file), { flag: o.force ? 'w' : 'wx' });
      } catch (e) {
        throw new UserError(`cannot write ${o.file}: ${(e as Error).message}`, 2);
      }
      process.stdout.write(`wrote ${o.file}; next: meshc validate -f ${o.file} && meshc build -f ${o.file}\n`);
      // Every place a build puts a private key carries its own .gitignore, so `git add -A` is safe from the first commit.
      process.stdout.write(`commit ${o.file}, the output and the certificate state's state.json; private keys are git-ignored wherever meshc writes them (set MESHC_STATE_PASSPHRASE to keep them encrypted and committable instead)\n`);
      const schema = schemaModeline(o.file);
      if (!schema.present)
        process.stderr.write(
          `note: editors read the schema from ${schema.path} (meshc as a dev dependency of the project in ${relative(process.cwd(), schema.root) || '.'}); until it is installed there, editors show no completion: add meshc to the project's devDependencies (npm install --save-dev <meshc tarball or repository>)\n`,
        );
      return EXIT.OK;
    }),
  );
}
