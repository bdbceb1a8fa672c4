/**
 * Keys and X.509 v3 certificates with node:crypto: keys from `generateKeyPair` (async, so the
 * libuv thread pool makes them in parallel), the TBSCertificate from `der.ts`, the signature from
 * `crypto.sign`. No clock and no file system here: dates come in as arguments.
 */
import crypto, { type KeyObject, X509Certificate } from 'node:crypto';
import type { KeyAlgorithm } from '../model/mesh.js';
import {
  bitString,
  boolean,
  children,
  explicit,
  implicitPrimitive,
  namedBits,
  nullValue,
  objectIdentifier,
  octetString,
  readTlv,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from './der.js';

export const DAY_MS = 86_400_000;
/**
 * Certificates start this long before the issuing clock so that a peer whose clock is a little
 * behind still accepts a certificate issued moments ago.
 */
export const BACKDATE_MS = 5 * 60_000;

/** A new key pair, encoded on the libuv thread pool (encoding on the main thread costs more than signing). */
export interface GeneratedKey {
  algorithm: KeyAlgorithm;
  /** SubjectPublicKeyInfo, DER. */
  spki: Buffer;
  /** Unencrypted PKCS#8 PEM. */
  pkcs8Pem: string;
}

export function generateKey(algorithm: KeyAlgorithm): Promise<GeneratedKey> {
  const encoding = {
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  } as const;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, spki: Buffer, pkcs8Pem: string) =>
      err ? reject(err) : resolve({ algorithm, spki, pkcs8Pem });
    if (algorithm === 'ecdsa-p256' || algorithm === 'ecdsa-p384') {
      crypto.generateKeyPair('ec', { namedCurve: algorithm === 'ecdsa-p256' ? 'P-256' : 'P-384', ...encoding }, done);
    } else {
      crypto.generateKeyPair('rsa', { modulusLength: Number(algorithm.slice(4)), ...encoding }, done);
    }
  });
}

/** The mesh key algorithm of a key (private or public), or undefined for anything else. */
export function keyAlgorithmOf(key: KeyObject): KeyAlgorithm | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve === 'prime256v1' || details.namedCurve === 'P-256') return 'ecdsa-p256';
    if (details.namedCurve === 'secp384r1' || details.namedCurve === 'P-384') return 'ecdsa-p384';
    return undefined;
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa-${bits}`;
  }
  return undefined;
}

const OID = {
  commonName: '2.5.4.3',
  organizationalUnit: '2.5.4.11',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  sha256WithRsa: '1.2.840.113549.1.1.11',
};

/** KeyUsage bit numbers (RFC 5280 4.2.1.3). */
const KU = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 };

export interface NameParts {
  organization?: string;
  organizationalUnit?: string;
  commonName: string;
}

/**
 * A distinguished name in the usual most-significant-first order: O, OU, CN. nginx's
 * `$ssl_client_s_dn` prints it as `CN=<svc>,OU=<ns>,O=<trustDomain>`; node prints `O=..\nOU=..\nCN=..`.
 */
export function encodeName(name: NameParts): Buffer {
  const rdn = (oid: string, value: string) => set(sequence(objectIdentifier(oid), utf8String(value)));
  const rdns: Buffer[] = [];
  if (name.organization !== undefined) rdns.push(rdn(OID.organization, name.organization));
  if (name.organizationalUnit !== undefined) rdns.push(rdn(OID.organizationalUnit, name.organizationalUnit));
  rdns.push(rdn(OID.commonName, name.commonName));
  return sequence(...rdns);
}

/** The subject as node's `X509Certificate.subject` prints it, for comparing with a stored certificate. */
export function nameToNodeString(name: NameParts): string {
  const lines: string[] = [];
  if (name.organization !== undefined) lines.push(`O=${name.organization}`);
  if (name.organizationalUnit !== undefined) lines.push(`OU=${name.organizationalUnit}`);
  lines.push(`CN=${name.commonName}`);
  return lines.join('\n');
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return sequence(objectIdentifier(oid), ...(critical ? [boolean(true)] : []), octetString(value));
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits of a SubjectPublicKeyInfo. */
export function keyIdentifier(spki: Buffer): Buffer {
  const [, keyBits] = children(readTlv(spki).content);
  if (!keyBits || keyBits.tag !== 0x03) throw new Error('unexpected SubjectPublicKeyInfo');
  return crypto.createHash('sha1').update(keyBits.content.subarray(1)).digest();
}

const signatureAlgorithms = new WeakMap<KeyObject, { der: Buffer; hash: string }>();

function signatureAlgorithm(signingKey: KeyObject): { der: Buffer; hash: string } {
  let known = signatureAlgorithms.get(signingKey);
  if (known) return known;
  const algorithm = keyAlgorithmOf(signingKey);
  if (algorithm === 'ecdsa-p256') known = { der: sequence(objectIdentifier(OID.ecdsaWithSha256)), hash: 'sha256' };
  else if (algorithm === 'ecdsa-p384') known = { der: sequence(objectIdentifier(OID.ecdsaWithSha384)), hash: 'sha384' };
  else if (algorithm?.startsWith('rsa-')) known = { der: sequence(objectIdentifier(OID.sha256WithRsa), nullValue()), hash: 'sha256' };
  else throw new Error(`unsupported signing key ${signingKey.asymmetricKeyType}`);
  signatureAlgorithms.set(signingKey, known);
  return known;
}

const issuerFacts = new WeakMap<X509Certificate, { name: Buffer; keyId: Buffer }>();

/** The issuer's subject Name DER and key identifier, computed once per issuer certificate. */
function issuerOf(certificate: X509Certificate): { name: Buffer; keyId: Buffer } {
  let facts = issuerFacts.get(certificate);
  if (!facts) {
    facts = {
      name: subjectNameDer(certificate),
      keyId: keyIdentifier(certificate.publicKey.export({ type: 'spki', format: 'der' })),
    };
    issuerFacts.set(certificate, facts);
  }
  return facts;
}

export type CertProfile =
  | { kind: 'ca' }
  | { kind: 'workload'; spiffeId: string; dnsNames: string[] }
  | { kind: 'server'; dnsNames: string[] };

export interface CertRequest {
  profile: CertProfile;
  subject: NameParts;
  /** The certified public key (SubjectPublicKeyInfo DER) and its algorithm. */
  publicKey: { spki: Buffer; algorithm: KeyAlgorithm };
  /** Who signs: the issuing CA certificate and key; for a self-signed CA only its own `key`. */
  signer: { certificate?: X509Certificate; key: KeyObject };
  /** Encoded to whole seconds. */
  notBefore: Date;
  notAfter: Date;
  /** 16 random bytes; the INTEGER is made positive and minimal. */
  serial: Buffer;
}

/** Issues a certificate; returns its PEM. */
export function issueCertificate(request: CertRequest): string {
  const { spki, algorithm: subjectAlgorithm } = request.publicKey;
  const subjectName = encodeName(request.subject);
  const subjectKeyId = keyIdentifier(spki);
  const issuer = request.signer.certificate ? issuerOf(request.signer.certificate) : { name: subjectName, keyId: subjectKeyId };

  const extensions: Buffer[] = [];
  const profile = request.profile;
  if (profile.kind === 'ca') {
    extensions.push(extension(OID.basicConstraints, true, sequence(boolean(true), smallInteger(0))));
    extensions.push(extension(OID.keyUsage, true, namedBits([KU.keyCertSign, KU.cRLSign])));
  } else {
    extensions.push(extension(OID.basicConstraints, true, sequence()));
    // keyEncipherment only means something for RSA key transport; ECDSA keys only sign.
    const usages = subjectAlgorithm.startsWith('rsa-') ? [KU.digitalSignature, KU.keyEncipherment] : [KU.digitalSignature];
    extensions.push(extension(OID.keyUsage, true, namedBits(usages)));
    const eku = profile.kind === 'workload' ? [OID.serverAuth, OID.clientAuth] : [OID.serverAuth];
    extensions.push(extension(OID.extKeyUsage, false, sequence(...eku.map(objectIdentifier))));
    const names: Buffer[] = [];
    if (profile.kind === 'workload') names.push(implicitPrimitive(6, Buffer.from(profile.spiffeId, 'ascii')));
    for (const dns of profile.dnsNames) names.push(implicitPrimitive(2, Buffer.from(dns, 'ascii')));
    extensions.push(extension(OID.subjectAltName, false, sequence(...names)));
  }
  extensions.push(extension(OID.subjectKeyIdentifier, false, octetString(subjectKeyId)));
  extensions.push(extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, issuer.keyId))));

  const signature = signatureAlgorithm(request.signer.key);
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(request.serial),
    signature.der,
    issuer.name,
    sequence(time(request.notBefore), time(request.notAfter)),
    subjectName,
    spki,
    explicit(3, sequence(...extensions)),
  );
  const value = crypto.sign(signature.hash, tbs, request.signer.key);
  return toPem('CERTIFICATE', sequence(tbs, signature.der, bitString(value)));
}

/** The DER of a certificate's subject Name, so issuer names match the CA byte for byte. */
export function subjectNameDer(certificate: X509Certificate): Buffer {
  const [tbs] = children(readTlv(certificate.raw).content);
  if (!tbs) throw new Error('certificate without TBSCertificate');
  const fields = children(tbs.content);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version present in v2/v3
  const subject = fields[offset + 4];
  if (!subject || subject.tag !== 0x30) throw new Error('certificate without subject');
  return subject.raw;
}

export function toPem(label: string, der: Buffer): string {
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${base64}\n-----END ${label}-----\n`;
}

/** Every PEM block with the given label in `text`, normalized (LF, trailing newline). */
export function pemBlocks(text: string, label: string): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g');
  return (text.match(re) ?? []).map((block) => block.replace(/\r\n/g, '\n') + '\n');
}

export function randomSerial(): Buffer {
  return crypto.randomBytes(16);
}

/** Lower-case hex of a serial as `serialHex` renders the certificate's (no leading zeros). */
export function serialBytesHex(serial: Buffer): string {
  return serial.toString('hex').replace(/^0+(?=.)/, '');
}

/** Drops milliseconds: certificate times have whole seconds. */
export function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/** Lower-case hex serial without leading zeros, as `IssuedCert.serial`. */
export function serialHex(certificate: X509Certificate): string {
  return certificate.serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
}

/** The SAN entries of a certificate as `DNS:x` / `URI:x` strings. */
export function subjectAltNames(certificate: X509Certificate): string[] {
  const text = certificate.subjectAltName;
  if (!text) return [];
  return text.split(', ').map((entry) => entry.trim());
}

export function dnsNamesOf(certificate: X509Certificate): string[] {
  return subjectAltNames(certificate)
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4));
}

/** unencrypted PKCS#8 PEM (what proxies read from secrets/). */
export function privateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

function parseTime(field: { tag: number; content: Buffer }): Date {
  const text = field.content.toString('ascii');
  const m = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) throw new Error(`unsupported certificate time ${text}`);
  let year = Number(m[1]);
  if (field.tag === 0x17) year += year >= 50 ? 1900 : 2000;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

/** notBefore and notAfter, read from the DER (node 20's X509Certificate only offers strings). */
export function validity(certificate: X509Certificate): { notBefore: Date; notAfter: Date } {
  const [tbs] = children(readTlv(certificate.raw).content);
  if (!tbs) throw new Error('certificate without TBSCertificate');
  const fields = children(tbs.content);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const range = fields[offset + 3];
  if (!range || range.tag !== 0x30) throw new Error('certificate without validity');
  const [notBefore, notAfter] = children(range.content);
  if (!notBefore || !notAfter) throw new Error('certificate without validity');
  return { notBefore: parseTime(notBefore), notAfter: parseTime(notAfter) };
}
