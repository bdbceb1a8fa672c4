import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ProxyName = 'envoy' | 'nginx' | 'haproxy';

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where a proxy binary is: the explicit path, then PATH, then the usual system folders, then (for
 * Envoy) the virtual environment that scripts/install-proxies.sh creates, `.venv/envoy/bin/envoy`:
 * in the folder of the mesh file or any folder above it (its repository), then in meshc's own
 * package. `from`: the mesh file's folder.
 */
export function findProxy(name: ProxyName, explicit?: string, from?: string): string | undefined {
  if (explicit) return executable(explicit) ? explicit : undefined;
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  dirs.push('/usr/sbin', '/usr/local/sbin');
  if (name === 'envoy') {
    for (let d = from ? resolve(from) : undefined; d; d = dirname(d) === d ? undefined : dirname(d)) dirs.push(join(d, '.venv', 'envoy', 'bin'));
    dirs.push(join(fileURLToPath(new URL('../../', import.meta.url)), '.venv', 'envoy', 'bin'));
  }
  for (const d of dirs) if (executable(join(d, name))) return join(d, name);
  return undefined;
}
