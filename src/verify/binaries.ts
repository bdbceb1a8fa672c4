import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
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
 * Envoy) the project-local virtual environment that scripts/install-proxies.sh creates.
 */
export function findProxy(name: ProxyName, explicit?: string): string | undefined {
  if (explicit) return executable(explicit) ? explicit : undefined;
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  dirs.push('/usr/sbin', '/usr/local/sbin');
  if (name === 'envoy') dirs.push(join(fileURLToPath(new URL('../../', import.meta.url)), '.venv', 'envoy', 'bin'));
  for (const d of dirs) if (executable(join(d, name))) return join(d, name);
  return undefined;
}
