/**
 * Supplied ingress certificates (`tls: { certFile, keyFile }`): read relative to mesh.yaml's
 * directory and checked before any proxy sees them, each problem a finding that points at the
 * field in mesh.yaml.
 */
import crypto, { type KeyObject, X509Certificate } from 'node:crypto';
import path from 'node:path';
import { error, pointer, type Finding } from '../model/diagnostic.js';
import { readBounded } from '../source/read-bounded.js';
import { ingressCertPath, ingressKeyPath, type IssuedCert } from './material.js';
import { dnsNamesOf, pemBlocks, privateKeyPem, serialHex, validity } from './x509.js';

/**
 * Whether a certificate DNS name covers `host` (RFC 6125 6.4.3): `*.example.com` covers exactly
 * one label (`a.example.com`, not `example.com` nor `a.b.example.com`). A wildcard host in
 * mesh.yaml needs the same wildcard in the certificate.
 */
export function nameCoversHost(certName: string, host: string): boolean {
  const name = certName.toLowerCase();
  const wanted = host.toLowerCase();
  if (name === wanted) return true;
  if (wanted.startsWith('*.') || !name.startsWith('*.')) return false;
  const dot = wanted.indexOf('.');
  return dot > 0 && wanted.slice(dot + 1) === name.slice(2);
}

/** A certificate chain or a key is a few kilobytes; more is the wrong file (or /dev/zero). */
export const MAX_TLS_FILE_BYTES = 1024 * 1024;

export interface SuppliedResult {
  cert?: IssuedCert;
  findings: Finding[];
}

/** Reads and checks one supplied pair; `cert` only when there was no finding. */
export async function loadSuppliedIngress(
  host: string,
  files: { certFile: string; keyFile: string },
  meshDir: string,
  now: Date,
): Promise<SuppliedResult> {
  const certPointer = pointer('spec', 'ingress', 'hosts', host, 'tls', 'certFile');
  const keyPointer = pointer('spec', 'ingress', 'hosts', host, 'tls', 'keyFile');
  const findings: Finding[] = [];

  const read = async (file: string, at: string, what: string): Promise<string | undefined> => {
    try {
      const r = await readBounded(path.resolve(meshDir, file), MAX_TLS_FILE_BYTES);
      if (!r.tooLarge) return r.bytes.toString('utf8');
      const size = r.size !== undefined ? `is ${r.size} bytes` : `holds more than ${MAX_TLS_FILE_BYTES} bytes (reading stopped there)`;
      findings.push(error('ingress-tls-too-large', at, `the ${what} ${file} of ingress host ${host} ${size}; meshc reads at most ${MAX_TLS_FILE_BYTES} bytes (1 MiB)`, 'a PEM certificate chain or key is a few kilobytes: check that the path names it'));
      return undefined;
    } catch (e) {
      const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      findings.push(error('ingress-tls-unreadable', at, `cannot read the ${what} ${file} of ingress host ${host} (${reason})`, 'paths are relative to the directory of mesh.yaml'));
      return undefined;
    }
  };
  const certText = await read(files.certFile, certPointer, 'certificate file');
  const keyText = await read(files.keyFile, keyPointer, 'key file');

  let chain: X509Certificate[] = [];
  let chainPem: string[] = [];
  if (certText !== undefined) {
    chainPem = pemBlocks(certText, 'CERTIFICATE');
    try {
      chain = chainPem.map((pem) => new X509Certificate(pem));
    } catch {
      chain = [];
    }
    if (chain.length === 0) {
      findings.push(error('ingress-tls-invalid', certPointer, `${files.certFile} holds no readable PEM certificate`, 'expected the server certificate first, then any intermediates, as PEM'));
    }
  }
  let key: KeyObject | undefined;
  if (keyText !== undefined) {
    try {
      key = crypto.createPrivateKey({ key: keyText, format: 'pem' });
    } catch (e) {
      const encrypted = /ENCRYPTED/.test(keyText);
      findings.push(
        error(
          'ingress-tls-invalid',
          keyPointer,
          encrypted
            ? `${files.keyFile} is an encrypted private key; proxies need it unencrypted`
            : `${files.keyFile} holds no readable PEM private key (${(e as Error).message.split('\n')[0]})`,
        ),
      );
    }
  }

  const leaf = chain[0];
  if (leaf) {
    if (key && !leaf.checkPrivateKey(key)) {
      findings.push(error('ingress-tls-key-mismatch', keyPointer, `the key in ${files.keyFile} does not belong to the certificate in ${files.certFile}`));
    }
    const names = dnsNamesOf(leaf);
    if (!names.some((name) => nameCoversHost(name, host))) {
      findings.push(
        error(
          'ingress-tls-host-mismatch',
          certPointer,
          `the certificate in ${files.certFile} does not cover ${host} (DNS names: ${names.length ? names.join(', ') : 'none'})`,
          host.startsWith('*.') ? `a wildcard host needs the same wildcard (${host}) in the certificate` : undefined,
        ),
      );
    }
    const { notBefore, notAfter } = validity(leaf);
    if (notAfter.getTime() <= now.getTime()) {
      findings.push(error('ingress-tls-expired', certPointer, `the certificate in ${files.certFile} for ${host} expired on ${notAfter.toISOString()}`));
    } else if (notBefore.getTime() > now.getTime()) {
      findings.push(error('ingress-tls-not-yet-valid', certPointer, `the certificate in ${files.certFile} for ${host} is not valid before ${notBefore.toISOString()}`));
    }
    if (findings.length === 0 && key) {
      return {
        findings,
        cert: {
          certPem: chainPem.join(''),
          keyPem: privateKeyPem(key),
          serial: serialHex(leaf),
          notBefore,
          notAfter,
          certPath: ingressCertPath(host),
          keyPath: ingressKeyPath(host),
        },
      };
    }
  }
  return { findings };
}
