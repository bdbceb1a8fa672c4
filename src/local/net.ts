/**
 * Loopback addresses and ports. Only 127.0.0.0/8 is ever used.
 *
 * Linux routes all of 127.0.0.0/8 to `lo`, so each test can take its own random address and
 * several vitest processes (and other engineers' runs on the same machine) rarely collide.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { randomInt } from 'node:crypto';

const handedOut = new Set<string>();

/** A fresh random 127.x.y.z (x, y in 1..254, z in 2..254), never returned twice in this process. */
export function loopbackAddress(): string {
  for (;;) {
    const addr = `127.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(2, 255)}`;
    if (!handedOut.has(addr)) {
      handedOut.add(addr);
      return addr;
    }
  }
}

function assertLoopback(host: string): void {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) {
    throw new Error(`meshc: refusing non-loopback address ${JSON.stringify(host)} (only 127.0.0.0/8)`);
  }
}

/** Binds port 0 on host (TCP), reads the port the kernel chose, closes, returns it. */
export async function freePort(host: string): Promise<number> {
  assertLoopback(host);
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('freePort: no port'))));
    });
  });
}

function tryConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Resolves once a TCP connection to host:port succeeds; rejects after timeoutMs. */
export async function waitForPort(host: string, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (await tryConnect(host, port, Math.max(50, Math.min(1000, left)))) return;
    if (Date.now() >= deadline) throw new Error(`waitForPort: nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await sleep(Math.min(50, Math.max(0, deadline - Date.now())));
  }
}

/** Retries fn until it resolves or timeoutMs passes; rethrows the last error with context. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 10_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const msg = last instanceof Error ? last.message : String(last);
      throw new Error(`eventually: still failing after ${timeoutMs} ms: ${msg}`, { cause: last });
    }
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** "127.1.2.3" -> "0302017F", as /proc/net/tcp writes a local IPv4 address. */
function procNetHex(host: string): string {
  return host
    .split('.')
    .map((o) => Number(o).toString(16).toUpperCase().padStart(2, '0'))
    .reverse()
    .join('');
}

/**
 * True when some socket on this machine LISTENs on TCP host:port (or 0.0.0.0:port), read from
 * /proc/net/tcp (Linux) without connecting. Unlike waitForPort this opens no connection, so a
 * TCP-mode proxy is not made to dial its backend (which would show up in backend.connections).
 */
export function isListening(host: string, port: number): boolean {
  let table: string;
  try {
    table = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return false;
  }
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const wanted = new Set([`${procNetHex(host)}:${portHex}`, `00000000:${portHex}`]);
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length > 3 && fields[3] === '0A' && wanted.has(fields[1])) return true;
  }
  return false;
}

/** Resolves once isListening(host, port); rejects after timeoutMs. Falls back to waitForPort off Linux. */
export async function waitForListening(host: string, port: number, timeoutMs = 10_000): Promise<void> {
  if (process.platform !== 'linux') return waitForPort(host, port, timeoutMs);
  const deadline = Date.now() + timeoutMs;
  while (!isListening(host, port)) {
    if (Date.now() >= deadline) throw new Error(`waitForListening: nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await sleep(25);
  }
}
