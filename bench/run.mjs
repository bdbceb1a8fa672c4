// npm run bench: every benchmark script in turn (not part of npm test or CI).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const only = process.argv[2];
const scripts = ['validate.mjs', 'certs.mjs', 'compiler.mjs', 'dataplane.mjs'].filter((s) => existsSync(new URL(s, import.meta.url)) && (!only || s.startsWith(only)));
for (const s of scripts) {
  console.log(`\n=== bench/${s}`);
  execFileSync('node', ['--expose-gc', new URL(s, import.meta.url).pathname], { stdio: 'inherit' });
}
