/** Running the built meshc as a user would, in scratch git repositories. */
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';

const bin = new URL('../../bin/meshc.js', import.meta.url).pathname;

/** Runs meshc with exactly the passphrase given (none unless `passphrase`). */
export function meshc(args: string[], opts: { cwd?: string; passphrase?: string } = {}) {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), NO_COLOR: '1' };
  delete env.MESHC_STATE_PASSPHRASE;
  if (opts.passphrase !== undefined) env.MESHC_STATE_PASSPHRASE = opts.passphrase;
  return execa('node', [bin, ...args], { reject: false, cwd: opts.cwd, env, extendEnv: false });
}

export async function git(cwd: string, ...args: string[]) {
  const r = await execa('git', args, { cwd, reject: false, env: { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' } });
  expect(r.exitCode, `git ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** What `git add -A` would stage, and which of those files hold an unencrypted private key. */
export async function stageable(repo: string): Promise<{ paths: string[]; plainKeys: string[] }> {
  const out = await git(repo, 'add', '-A', '--dry-run');
  const paths = out.split('\n').filter(Boolean).map((l) => l.replace(/^add '(.*)'$/, '$1'));
  const plainKeys: string[] = [];
  for (const p of paths) {
    const text = await readFile(join(repo, p), 'utf8').catch(() => '');
    if (/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(text) || /LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t/.test(text)) plainKeys.push(p);
  }
  return { paths, plainKeys };
}

