/** Small wrappers around the openssl CLI (on PATH) for checking what node:crypto does not expose. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

/** `openssl x509 -ext ...` text: basicConstraints (with pathlen), keyUsage bits, EKU, SKI, AKI. */
export async function extensionsText(pem: string): Promise<string> {
  const { stdout } = await execa('openssl', ['x509', '-noout', '-ext', 'basicConstraints,keyUsage,extendedKeyUsage,subjectKeyIdentifier,authorityKeyIdentifier'], { input: pem });
  return stdout;
}

/** `openssl verify -CAfile bundle leaf` (with `-attime` when given); resolves to { ok, output }. */
export async function verifyChain(
  dir: string,
  bundlePem: string,
  leafPem: string,
  options: { at?: Date; purpose?: 'sslserver' | 'sslclient' } = {},
): Promise<{ ok: boolean; output: string }> {
  const id = Math.random().toString(36).slice(2);
  const bundle = path.join(dir, `bundle-${id}.pem`);
  const leaf = path.join(dir, `leaf-${id}.pem`);
  await fs.writeFile(bundle, bundlePem);
  await fs.writeFile(leaf, leafPem);
  const args = ['verify', '-x509_strict', '-CAfile', bundle];
  if (options.at) args.push('-attime', String(Math.floor(options.at.getTime() / 1000)));
  if (options.purpose) args.push('-purpose', options.purpose);
  args.push(leaf);
  const result = await execa('openssl', args, { reject: false, all: true });
  return { ok: result.exitCode === 0, output: String(result.all) };
}
