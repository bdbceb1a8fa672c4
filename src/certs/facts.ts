/**
 * What a build needs to know of a stored leaf certificate to reuse it (validity, serial, subject,
 * SANs, key algorithm, whether a trusted CA issued it), cached by the certificate's hash in
 * `<state>/leaf-facts.json`. Parsing 1,000 certificates with X509Certificate took about 120 ms of
 * every build and diff; the cache makes that a hash per certificate. It is derived data: entries
 * are keyed by the certificate's bytes and the trusted CAs, anything unreadable is ignored, and
 * deleting the file only costs the parsing once more. Written by a build, never by diff.
 */
import { randomBytes, type X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../output/manifest.js';
import { ignoreCaches } from './state.js';
import { keyAlgorithmOf, serialHex, subjectAltNames, validity } from './x509.js';

export const FACTS_FILE = 'leaf-facts.json';

export interface LeafFacts {
  notBefore: string;
  notAfter: string;
  serial: string;
  subject: string;
  /** Sorted, one per line. */
  sans: string;
  keyAlgorithm: string | undefined;
  /** Issued by one of the trusted CAs the cache was made for. */
  trusted: boolean;
}

interface FactsFile {
  /** A hash of the trusted CAs' fingerprints: facts made for other CAs are dropped. */
  trust: string;
  leaves: Record<string, LeafFacts>;
}

export class FactsCache {
  private readonly leaves: Map<string, LeafFacts>;
  private readonly used = new Map<string, LeafFacts>();
  private added = false;

  private constructor(private readonly trust: string, known: Record<string, LeafFacts>, private readonly trustedCas: X509Certificate[]) {
    this.leaves = new Map(Object.entries(known));
  }

  /** Synchronous, as readState is (see acquireLock). */
  static load(stateDir: string, trusted: X509Certificate[]): FactsCache {
    const trust = sha256(trusted.map((c) => c.fingerprint256).join('\n'));
    let known: Record<string, LeafFacts> = {};
    try {
      const file = JSON.parse(readFileSync(join(stateDir, FACTS_FILE), 'utf8')) as FactsFile;
      if (file && file.trust === trust && typeof file.leaves === 'object' && file.leaves !== null) known = file.leaves;
    } catch {
      // no cache, or not one we can read: parse
    }
    return new FactsCache(trust, known, trusted);
  }

  /** The facts of a certificate; `parse` runs only when they are not cached. */
  of(certPem: string, parse: () => X509Certificate): LeafFacts {
    const key = sha256(certPem);
    let facts = this.leaves.get(key);
    if (!facts || typeof facts.notAfter !== 'string') {
      const certificate = parse();
      const { notBefore, notAfter } = validity(certificate);
      facts = {
        notBefore: notBefore.toISOString(),
        notAfter: notAfter.toISOString(),
        serial: serialHex(certificate),
        subject: certificate.subject,
        sans: subjectAltNames(certificate).sort().join('\n'),
        keyAlgorithm: keyAlgorithmOf(certificate.publicKey),
        trusted: this.trustedCas.some((ca) => certificate.checkIssued(ca)),
      };
      this.added = true;
    }
    this.used.set(key, facts);
    return facts;
  }

  /** Writes the facts of the certificates looked up in this run (best effort, a cache). */
  async save(stateDir: string): Promise<void> {
    if (!this.added && this.used.size === this.leaves.size) return;
    const file: FactsFile = { trust: this.trust, leaves: Object.fromEntries(this.used) };
    const tmp = join(stateDir, `.${FACTS_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
    try {
      await writeFile(tmp, JSON.stringify(file) + '\n', { mode: 0o600 });
      await rename(tmp, join(stateDir, FACTS_FILE));
      await ignoreCaches(stateDir);
    } catch {
      await rm(tmp, { force: true });
    }
  }
}
