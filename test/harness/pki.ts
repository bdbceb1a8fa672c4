/**
 * Throw-away certificates for harness tests (fake external sites, TLS backends, mTLS clients),
 * made with the openssl CLI. Not the mesh CA: meshc's own certificates come from src/certs.
 */
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export interface TestCert {
  /** PEM */
  cert: string;
  /** PEM (PKCS#8) */
  key: string;
}

export interface TestCa extends TestCert {
  /**
   * Issues a leaf signed by this CA. SANs: DNS names, IPs (x.x.x.x) and URIs (scheme:...).
   * `subject` (openssl form, `/O=x/OU=y/CN=z`) replaces the default `/CN=<cn>`.
   */
  issue(opts: { cn: string; sans?: string[]; days?: number; subject?: string }): Promise<TestCert>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const res = await execa('openssl', args, { cwd, reject: false, all: true, stdin: 'ignore' });
  if (res.exitCode !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${res.all ?? ''}`);
}

function sanLine(sans: string[]): string {
  return sans
    .map((s) => (/^\d+\.\d+\.\d+\.\d+$/.test(s) ? `IP:${s}` : /^[a-z][a-z0-9+.-]*:/i.test(s) ? `URI:${s}` : `DNS:${s}`))
    .join(',');
}

/** Creates a self-signed ECDSA P-256 CA (CN = name). */
export async function createTestCa(name = 'meshc harness test CA'): Promise<TestCa> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'meshc-pki-'));
  try {
    await openssl(
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
        '-days', '30', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
      dir,
    );
    const ca = { cert: await readFile(path.join(dir, 'ca.crt'), 'utf8'), key: await readFile(path.join(dir, 'ca.key'), 'utf8') };
    return {
      ...ca,
      async issue(opts) {
        const leafDir = await mkdtemp(path.join(os.tmpdir(), 'meshc-pki-leaf-'));
        try {
          await writeFile(path.join(leafDir, 'ca.crt'), ca.cert);
          await writeFile(path.join(leafDir, 'ca.key'), ca.key, { mode: 0o600 });
          const sans = opts.sans ?? [opts.cn];
          await writeFile(
            path.join(leafDir, 'ext.cnf'),
            [
              'basicConstraints=critical,CA:FALSE',
              'keyUsage=critical,digitalSignature,keyEncipherment',
              'extendedKeyUsage=serverAuth,clientAuth',
              ...(sans.length ? [`subjectAltName=${sanLine(sans)}`] : []),
              '',
            ].join('\n'),
          );
          await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', opts.subject ?? `/CN=${opts.cn}`], leafDir);
          await openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.crt',
            '-days', String(opts.days ?? 30), '-extfile', 'ext.cnf'], leafDir);
          return { cert: await readFile(path.join(leafDir, 'leaf.crt'), 'utf8'), key: await readFile(path.join(leafDir, 'leaf.key'), 'utf8') };
        } finally {
          await rm(leafDir, { recursive: true, force: true });
        }
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
