/**
 * The proxy runners live in src/local/proxies.ts (`meshc up` runs on them). The tests find their
 * binaries as binaries.ts does ($MESHC_ENVOY, the repository's .venv, PATH).
 */
import * as local from '../../src/local/proxies.js';
import { requireBinary } from './binaries.js';

export { configuredListenPorts, type ValidateResult, type WaitPort } from '../../src/local/proxies.js';

export const startEnvoy = (opts: Parameters<typeof local.startEnvoy>[0]) => local.startEnvoy({ bin: requireBinary('envoy'), ...opts });
export const startNginx = (opts: Parameters<typeof local.startNginx>[0]) => local.startNginx({ bin: requireBinary('nginx'), ...opts });
export const startHaproxy = (opts: Parameters<typeof local.startHaproxy>[0]) => local.startHaproxy({ bin: requireBinary('haproxy'), ...opts });
export const validateEnvoy = (configPath: string, cwd: string) => local.validateEnvoy(configPath, cwd, requireBinary('envoy'));
export const validateNginx = (configPath: string, prefix: string) => local.validateNginx(configPath, prefix, requireBinary('nginx'));
export const validateHaproxy = (configPath: string, cwd: string) => local.validateHaproxy(configPath, cwd, requireBinary('haproxy'));
