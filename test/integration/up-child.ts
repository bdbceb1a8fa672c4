/** Running `meshc up` as a child process, as a user does, and reading its table. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const bin = new URL('../../bin/meshc.js', import.meta.url).pathname;

export interface UpChild {
  child: ChildProcess;
  stdout(): string;
  /** The directory `up` wrote to (from its table). */
  dir: string;
  rows: Map<string, { address: string; app: number; upstreams: Record<string, number>; egressHttp: number; egressTls: number }>;
  ingress?: { address: string; httpPort: number; httpsPort: number };
  /** SIGINT (or the signal given), then the exit code. */
  interrupt(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `meshc up ARGS` and resolves once it prints its table and "ready". */
export async function startUp(args: string[], env: Record<string, string> = {}): Promise<UpChild> {
  const child = spawn('node', [bin, 'up', ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`meshc up not ready after 60 s:\n${out}`)), 60_000);
    const check = () => {
      if (/^ready: /m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`meshc up exited with ${code}:\n${out}`));
    });
  });
  const dir = /files in (\S+)/.exec(out)![1];
  const rows: UpChild['rows'] = new Map();
  for (const m of out.matchAll(/^ {2}(\S+-\d+) +(127\.\d+\.\d+\.\d+) +(\d+) +(\S+(?: \S+:\d+)*) +(\d+)\/(\d+)$/gm)) {
    const upstreams = m[4] === '-' ? {} : Object.fromEntries(m[4].split(' ').map((x) => [x.split(':')[0], Number(x.split(':')[1])]));
    rows.set(m[1], { address: m[2], app: Number(m[3]), upstreams, egressHttp: Number(m[5]), egressTls: Number(m[6]) });
  }
  const ing = /--resolve \S+:(\d+):(127\.\d+\.\d+\.\d+) https:/.exec(out);
  const ingHttp = /--resolve \S+:(\d+):127\.\d+\.\d+\.\d+ http:/.exec(out);
  return {
    child,
    stdout: () => out,
    dir,
    rows,
    ...(ing && ingHttp ? { ingress: { address: ing[2], httpsPort: Number(ing[1]), httpPort: Number(ingHttp[1]) } } : {}),
    interrupt: async (signal = 'SIGINT') => {
      child.kill(signal);
      return exited;
    },
  };
}

/** Pids of live processes whose command line names `dir` (every proxy `up` starts does). */
export function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(dir)) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}
