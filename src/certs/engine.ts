/**
 * Computes the next certificate state from the mesh and the current state: which certificates
 * are reused, which are issued, which CA signs, and the material handed to targets. Nothing is
 * written here; `index.ts` commits the result atomically. The clock is injected.
 *
 * Reuse rule: a stored leaf is kept while it is unexpired, signed by the issuing (newest) CA,
 * has the configured key algorithm, the same subject and SANs, and matches its key. A build
 * therefore never re-issues a still-valid certificate, and two builds give identical material.
 * Identities and generated ingress hosts that left mesh.yaml are dropped from the state.
 */
import crypto, { type KeyObject, X509Certificate } from 'node:crypto';
import { UserError } from '../errors.js';
import { error, warning, type Finding } from '../model/diagnostic.js';
import { cmp, identities, type Mesh } from '../model/mesh.js';
import { FactsCache } from './facts.js';
import { loadSuppliedIngress } from './ingress-files.js';
import {
  TRUST_BUNDLE_PATH,
  ingressCertPath,
  ingressKeyPath,
  workloadCertPath,
  workloadKeyPath,
  type CertMaterial,
  type IssuedCert,
} from './material.js';
import { loadKey, serializeState, storeKey, type Phase, type StateData, type StoredCert } from './state.js';
import {
  BACKDATE_MS,
  DAY_MS,
  generateKey,
  issueCertificate,
  keyAlgorithmOf,
  nameToNodeString,
  privateKeyPem,
  randomSerial,
  serialBytesHex,
  serialHex,
  subjectAltNames,
  validity,
  wholeSeconds,
  type CertProfile,
  type NameParts,
} from './x509.js';

export type LeafKind = 'workload' | 'ingress';

/** A leaf the mesh wants: a workload identity or a generated ingress host. */
export interface WantedLeaf {
  kind: LeafKind;
  /** Identity name, or ingress host as written. */
  name: string;
  subject: NameParts;
  profile: Exclude<CertProfile, { kind: 'ca' }>;
}

export interface EngineOptions {
  stateDir: string;
  meshDir: string;
  clock: () => Date;
  passphrase?: string;
  progress?: (done: number, total: number) => void;
  /** Re-issue a still-valid leaf when this returns true (rotation). */
  force?: (leaf: WantedLeaf, notAfter: Date) => boolean;
  /** Start or finish a CA rotation. */
  ca?: 'start' | 'finish';
  /**
   * `meshc certs rotate` (not a build): during a CA rotation, leaves it issues are signed by the
   * new CA. A build keeps signing with the CA every workload already trusts.
   */
  rotating?: boolean;
}

export interface EngineResult {
  next: StateData;
  nextText: string;
  changed: boolean;
  material: CertMaterial;
  findings: Finding[];
  /** What was issued: identity names and `ingress/<host>`, sorted. */
  issued: string[];
  phase: Phase;
  /** What was learnt of the stored leaves, to save with a build (facts.ts). */
  facts: FactsCache;
}

interface LoadedCa {
  certificate: X509Certificate;
  key: KeyObject;
  stored: StoredCert;
  /** Created by this run: `stored.keyPem` already follows the passphrase setting. */
  fresh?: boolean;
}

/** Every leaf the mesh wants, in name order (workloads) then host order (generated ingress). */
export function wantedLeaves(mesh: Mesh): WantedLeaf[] {
  const leaves: WantedLeaf[] = identities(mesh).map((identity) => ({
    kind: 'workload',
    name: identity.name,
    subject: { organization: mesh.trustDomain, organizationalUnit: mesh.namespace, commonName: identity.name },
    profile: { kind: 'workload', spiffeId: identity.spiffeId, dnsNames: [...identity.dnsNames] },
  }));
  const hosts = [...mesh.ingress.hosts].sort((a, b) => cmp(a.host, b.host));
  for (const host of hosts) {
    if (host.tls.kind !== 'generated') continue;
    leaves.push({
      kind: 'ingress',
      name: host.host,
      subject: { organization: mesh.trustDomain, commonName: host.host },
      profile: { kind: 'server', dnsNames: [host.host] },
    });
  }
  return leaves;
}

export function leafLabel(leaf: { kind: LeafKind; name: string }): string {
  return leaf.kind === 'ingress' ? `ingress/${leaf.name}` : leaf.name;
}

function expectedSans(leaf: WantedLeaf): string[] {
  const names = leaf.profile.dnsNames.map((dns) => `DNS:${dns}`);
  if (leaf.profile.kind === 'workload') names.push(`URI:${leaf.profile.spiffeId}`);
  return names.sort(cmp);
}

function parseCertificate(pem: string, what: string, stateDir: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new UserError(`certificate state ${stateDir} is unreadable: the ${what} certificate does not parse`);
  }
}

function hasAnyKey(state: StateData): boolean {
  return state.cas.length > 0 || Object.keys(state.workloads).length > 0 || Object.keys(state.ingress).length > 0;
}

export async function computeCerts(mesh: Mesh, current: StateData, currentText: string | undefined, opts: EngineOptions): Promise<EngineResult> {
  const now = opts.clock();
  const passphrase = opts.passphrase === '' ? undefined : opts.passphrase;
  const { stateDir } = opts;
  const findings: Finding[] = [];
  const algorithm = mesh.pki.keyAlgorithm;

  if (current.keysEncrypted && hasAnyKey(current) && passphrase === undefined) {
    throw new UserError(`certificate state ${stateDir} is encrypted; set MESHC_STATE_PASSPHRASE to its passphrase`, 2);
  }
  const encrypt = passphrase !== undefined;
  /** Keeps a stored key's bytes unless the encryption setting changed (then re-stores it). */
  const restore = (stored: StoredCert, key: () => KeyObject): StoredCert =>
    current.keysEncrypted === encrypt ? stored : { certPem: stored.certPem, keyPem: storeKey(key(), passphrase) };

  // The CA key is decrypted first: a wrong passphrase fails here, before anything is issued.
  let cas: LoadedCa[] = current.cas.map((stored, i) => ({
    certificate: parseCertificate(stored.certPem, `CA #${i + 1}`, stateDir),
    key: loadKey(stored, current, passphrase, stateDir),
    stored,
  }));
  let phase: Phase = current.phase;

  const createCa = async (): Promise<LoadedCa> => {
    const generated = await generateKey(algorithm);
    const key = crypto.createPrivateKey(generated.pkcs8Pem);
    const certPem = issueCertificate({
      profile: { kind: 'ca' },
      subject: { organization: mesh.trustDomain, commonName: `${mesh.name} mesh CA` },
      publicKey: generated,
      signer: { key },
      notBefore: wholeSeconds(new Date(now.getTime() - BACKDATE_MS)),
      notAfter: wholeSeconds(new Date(now.getTime() + mesh.pki.caValidityDays * DAY_MS)),
      serial: randomSerial(),
    });
    const keyPem = encrypt ? storeKey(key, passphrase) : generated.pkcs8Pem;
    return { certificate: new X509Certificate(certPem), key, stored: { certPem, keyPem }, fresh: true };
  };

  if (opts.ca === 'start') {
    if (cas.length === 0) throw new UserError(`there is no CA in ${stateDir} yet; run \`meshc build\` first`, 2);
    if (phase === 'ca-rotation') {
      throw new UserError(`a CA rotation is already in progress in ${stateDir}; finish it with \`meshc certs rotate --finish\` first`, 2);
    }
    // Step 1 of 3: only the trust bundles change. Every leaf stays as it is, so a workload that
    // has not been redeployed yet (old bundle) still verifies every peer.
    cas = [cas[cas.length - 1]!, await createCa()];
    phase = 'ca-rotation';
  } else if (opts.ca === 'finish') {
    if (phase !== 'ca-rotation') {
      throw new UserError(`no CA rotation is in progress in ${stateDir}; start one with \`meshc certs rotate --ca\``, 2);
    }
    // Step 3 of 3: dropping the old CA is safe only once no leaf depends on it.
    const newest = cas[cas.length - 1]!.certificate;
    const stale = wantedLeaves(mesh)
      .filter((leaf) => {
        const stored = (leaf.kind === 'workload' ? current.workloads : current.ingress)[leaf.name];
        return stored && !parseCertificate(stored.certPem, leafLabel(leaf), stateDir).checkIssued(newest);
      })
      .map(leafLabel);
    if (stale.length > 0) {
      throw new UserError(
        `${stale.length} certificate${stale.length === 1 ? ' is' : 's are'} still issued by the old CA (${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ', ...' : ''}); finishing now would break them`,
        2,
        'run `meshc certs rotate --all`, then `meshc build` and deploy, then finish the rotation',
      );
    }
    cas = [cas[cas.length - 1]!];
    phase = 'stable';
  }
  if (cas.length === 0) {
    cas = [await createCa()];
    phase = 'stable';
  }
  // During a rotation a build signs with the old CA (trusted by every workload, redeployed or
  // not); `certs rotate` signs with the new one (step 2, after the bundles were deployed).
  const issuer = phase === 'ca-rotation' && !opts.rotating ? cas[0]! : cas[cas.length - 1]!;
  const trusted = cas.map((ca) => ca.certificate);
  const issuerValidity = validity(issuer.certificate);
  if (issuerValidity.notAfter.getTime() <= now.getTime()) {
    findings.push(
      error('ca-expired', '/spec/pki', `the mesh CA in ${stateDir} expired on ${issuerValidity.notAfter.toISOString()}`, 'start a CA rotation with `meshc certs rotate --ca`'),
    );
  }
  const caAlgorithm = keyAlgorithmOf(issuer.key);
  if (caAlgorithm !== algorithm) {
    findings.push(
      warning(
        'ca-key-algorithm-changed',
        '/spec/pki/keyAlgorithm',
        `the mesh CA uses ${caAlgorithm ?? 'another algorithm'}, not ${algorithm}; leaves get ${algorithm} keys signed by it`,
        'run `meshc certs rotate --ca` (then `--finish`) to move the CA to the new algorithm',
      ),
    );
  }

  const next: StateData = {
    phase,
    keysEncrypted: encrypt,
    cas: cas.map((ca) => (ca.fresh ? ca.stored : restore(ca.stored, () => ca.key))),
    workloads: {},
    ingress: {},
    suppliedIngress: {},
  };
  const workloads = new Map<string, IssuedCert>();
  const ingressHosts = new Map<string, IssuedCert>();
  const paths = (leaf: WantedLeaf) =>
    leaf.kind === 'workload'
      ? { certPath: workloadCertPath(leaf.name), keyPath: workloadKeyPath(leaf.name) }
      : { certPath: ingressCertPath(leaf.name), keyPath: ingressKeyPath(leaf.name) };
  const accept = (leaf: WantedLeaf, stored: StoredCert, plainKeyPem: string, serial: string, notBefore: Date, notAfter: Date) => {
    (leaf.kind === 'workload' ? next.workloads : next.ingress)[leaf.name] = stored;
    (leaf.kind === 'workload' ? workloads : ingressHosts).set(leaf.name, {
      certPem: stored.certPem,
      keyPem: plainKeyPem,
      serial,
      notBefore,
      notAfter,
      ...paths(leaf),
    });
  };

  // Decide: reuse or issue. Cheap certificate checks first (cached, see facts.ts); keys are only
  // touched for reuse.
  const leafFacts = FactsCache.load(stateDir, trusted);
  const todo: WantedLeaf[] = [];
  for (const leaf of wantedLeaves(mesh)) {
    const stored = (leaf.kind === 'workload' ? current.workloads : current.ingress)[leaf.name];
    if (stored) {
      const facts = leafFacts.of(stored.certPem, () => parseCertificate(stored.certPem, leafLabel(leaf), stateDir));
      const notBefore = new Date(facts.notBefore);
      const notAfter = new Date(facts.notAfter);
      const valid =
        !(opts.force?.(leaf, notAfter) ?? false) &&
        notAfter.getTime() > now.getTime() &&
        facts.subject === nameToNodeString(leaf.subject) &&
        facts.sans === expectedSans(leaf).join('\n') &&
        facts.keyAlgorithm === algorithm &&
        // Issued by a CA still in the bundle (after a finished rotation, a leaf of the old CA is not).
        facts.trusted;
      if (valid) {
        if (!current.keysEncrypted) {
          // Written by meshc as unencrypted PKCS#8: shipped as is (re-exporting gives the same bytes).
          if (!stored.keyPem.startsWith('-----BEGIN PRIVATE KEY-----\n')) {
            throw new UserError(`certificate state ${stateDir} is unreadable: the key of ${leafLabel(leaf)} is not a PKCS#8 PEM key`);
          }
          const nextStored = restore(stored, () => crypto.createPrivateKey(stored.keyPem));
          accept(leaf, nextStored, stored.keyPem, facts.serial, notBefore, notAfter);
          continue;
        }
        const key = loadKey(stored, current, passphrase, stateDir);
        if (parseCertificate(stored.certPem, leafLabel(leaf), stateDir).checkPrivateKey(key)) {
          accept(leaf, stored, privateKeyPem(key), facts.serial, notBefore, notAfter);
          continue;
        }
      }
    }
    todo.push(leaf);
  }

  // Issue: keys generated and encoded in parallel on the thread pool, each signed as soon as it is ready.
  const leafNotBefore = wholeSeconds(new Date(now.getTime() - BACKDATE_MS));
  const leafNotAfter = wholeSeconds(new Date(Math.min(now.getTime() + mesh.pki.leafValidityDays * DAY_MS, issuerValidity.notAfter.getTime())));
  let done = 0;
  let failed = false;
  const issued = await Promise.all(
    todo.map(async (leaf) => {
      const generated = await generateKey(algorithm);
      if (failed) return undefined;
      const serial = randomSerial();
      const certPem = issueCertificate({
        profile: leaf.profile,
        subject: leaf.subject,
        publicKey: generated,
        signer: { certificate: issuer.certificate, key: issuer.key },
        notBefore: leafNotBefore,
        notAfter: leafNotAfter,
        serial,
      });
      try {
        opts.progress?.(++done, todo.length);
      } catch (e) {
        failed = true;
        throw e;
      }
      return { leaf, generated, certPem, serial };
    }),
  );
  for (const item of issued) {
    if (!item) continue;
    const keyPem = encrypt ? storeKey(crypto.createPrivateKey(item.generated.pkcs8Pem), passphrase) : item.generated.pkcs8Pem;
    accept(item.leaf, { certPem: item.certPem, keyPem }, item.generated.pkcs8Pem, serialBytesHex(item.serial), leafNotBefore, leafNotAfter);
  }

  // Supplied ingress files: checked on every build, recorded (certificate only) for `certs status`.
  for (const host of [...mesh.ingress.hosts].sort((a, b) => cmp(a.host, b.host))) {
    if (host.tls.kind !== 'files') continue;
    const result = await loadSuppliedIngress(host.host, host.tls, opts.meshDir, now);
    findings.push(...result.findings);
    if (result.cert) {
      ingressHosts.set(host.host, result.cert);
      next.suppliedIngress[host.host] = { certPem: result.cert.certPem, certFile: host.tls.certFile };
    }
  }

  const nextText = serializeState(next);
  const sortedMap = (map: Map<string, IssuedCert>) => new Map([...map].sort(([a], [b]) => cmp(a, b)));
  return {
    next,
    nextText,
    changed: nextText !== currentText,
    material: {
      trustBundlePem: cas.map((ca) => ca.stored.certPem).join(''),
      trustBundlePath: TRUST_BUNDLE_PATH,
      workloads: sortedMap(workloads),
      ingressHosts: sortedMap(ingressHosts),
    },
    findings,
    issued: todo.map(leafLabel).sort(cmp),
    phase,
    facts: leafFacts,
  };
}
