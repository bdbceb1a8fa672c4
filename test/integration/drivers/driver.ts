/**
 * What the proxy-agnostic integration scenarios need from a proxy target. One driver per proxy
 * (envoy.ts, nginx.ts, haproxy.ts); `test/integration/<proxy>.test.ts` runs every scenario with it.
 */
import { tempDir, type Proc } from '../../harness/index.js';

/**
 * Features a proxy may legitimately lack. A scenario gates only the one assertion that needs the
 * feature on `driver.supports(...)`, and says so in the test name, so a skip is visible.
 */
export type Feature =
  /** HTTP CONNECT tunnels on the egress HTTP port. */
  | 'egress.connect'
  /** Sidecars send allowed egress through the egress gateway (`egress.viaGateway`). */
  | 'egress.via-gateway'
  /** A DNS endpoint with a non-default policy is re-resolved through `dns.resolvers` (nginx resolves it once, at start, with the system resolver). */
  | 'endpoints.dns-static'
  /** `policy: maglev` compiles (without it, the scenario leaves the maglev upstream out). */
  | 'lb.maglev'
  /** A slowed endpoint measurably gets fewer requests under `least_request`. */
  | 'lb.least_request'
  /** Consistent hashing on a header. */
  | 'lb.ring_hash.header'
  /** A valid mesh certificate of a caller not in allowFrom gets exactly 403 (not a handshake failure). */
  | 'mtls.403'
  | 'lb.weights'
  /** An endpoint answering 5xx is ejected after `consecutive5xx`. */
  | 'outlier'
  /** `trustForwardedProto: true` serves `X-Forwarded-Proto: https` instead of redirecting. */
  | 'ingress.forwarded-proto'
  /** A connection refused during its TLS handshake (unknown SNI at the ingress) gets a JSON access log line. */
  | 'log.handshake-refusals';

export interface ProxyDriver {
  name: 'envoy' | 'nginx' | 'haproxy';
  /** From proxyOrSkip: false skips the whole suite (CI fails instead). */
  available: boolean;
  /**
   * Starts the proxy for one workload (a service name, 'ingress-gateway' or 'egress-gateway') from a
   * built output dir, and resolves once it serves. rewrite: replace an address everywhere in a copy
   * of the config (another replica of the same service on its own loopback address).
   */
  start(outDir: string, workload: string, opts?: { rewrite?: [from: string, to: string] }): Promise<Proc>;
  /**
   * Starts a workload from a `meshc install` directory as the README runs it, so that the
   * documented step after an install applies; `reload` is that step: nothing for Envoy (it watches
   * the directory), `nginx -s reload`, SIGUSR2 to HAProxy's master (`-W`).
   */
  startInstalled(dir: string, workload: string): Promise<Proc & { reload(): Promise<void> }>;
  /** The proxy's own config check of one workload's generated config. */
  validate(outDir: string, workload: string): Promise<{ ok: boolean; output: string }>;
  supports(feature: Feature | string): boolean;
}

/**
 * Runs `start` with a fresh scratch directory (a rewritten replica config, nginx's runtime
 * prefix) that lives as long as the process: removed when it stops, or when it fails to start.
 */
export async function withScratch<P extends Proc>(label: string, start: (dir: string) => Promise<P>): Promise<P> {
  const scratch = await tempDir(label);
  try {
    const proc = await start(scratch.path);
    return {
      ...proc,
      stop: async () => {
        await proc.stop();
        await scratch.cleanup();
      },
    };
  } catch (err) {
    await scratch.cleanup();
    throw err;
  }
}

export { rewriteAddress } from '../../../src/local/workloads.js';
