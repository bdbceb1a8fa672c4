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
import { KEY_NOT_LOADED, type KeyRing } from './keys.js';
import { certKeyId, serializeKeys, serializeState, type KeyMap, type Phase, type ReadState, type StateData, type StoredCert } from './state.js';
import {
  BACKDATE_MS,
  DAY_MS,
  generateKey,
  issueCertificate,
  keyAlgorithmOf,
  nameToNodeString,
  randomSerial,
  serialBytesHex,
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
  /** The mesh file, for messages. */
  meshFile?: string;
  /** The state's private keys (keys.ts). */
  ring: KeyRing;
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
  /** Every key the next state uses, stored as `encrypted` says. */
  nextKeys: KeyMap;
  encrypted: boolean;
  changed: boolean;
  /** False when a comparison went without some private key (material keys are placeholders then). */
  keysLoaded: boolean;
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
  /** Undefined when a comparison goes without keys. */
  key: KeyObject | undefined;
  stored: StoredCert;
  /** Plain PKCS#8, when known. */
  keyPem: string | undefined;
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

function subjectOrganizations(pem: string): string[] {
  try {
    return new X509Certificate(pem).subject.split('\n').filter((l) => l.startsWith('O=')).map((l) => l.slice(2));
  } catch {
    return [];
  }
}

/**
 * Whether a state from an older meshc (which recorded no mesh) was made for this mesh: one of its
 * certificates names the mesh's trust domain (the CA first, then leaves, so a trust domain
 * changed since the CA was made still matches).
 */
export function madeForMesh(state: StateData, mesh: Pick<Mesh, 'trustDomain'>): boolean {
  if (state.cas.length === 0) return true;
  const certs = [...state.cas, ...Object.values(state.workloads), ...Object.values(state.ingress)];
  return certs.some((c) => subjectOrganizations(c.certPem).includes(mesh.trustDomain));
}

/** A state belongs to one mesh: using one made for another is an error, never a silent re-use. */
function checkOwner(state: StateData, mesh: Mesh, stateDir: string, meshFile: string | undefined): void {
  const ours = state.mesh ? state.mesh.name === mesh.name && state.mesh.trustDomain === mesh.trustDomain : madeForMesh(state, mesh);
  if (ours) return;
  const theirs = state.mesh ? `mesh "${state.mesh.name}" (trust domain ${state.mesh.trustDomain})` : `another trust domain than ${mesh.trustDomain}`;
  throw new UserError(
    `certificate state ${stateDir} belongs to ${theirs}, not to mesh "${mesh.name}" (trust domain ${mesh.trustDomain})${meshFile ? ` of ${meshFile}` : ''}`,
    2,
    'give each mesh its own state: drop --state (each mesh file then gets .meshc/<file name>/) or point it at this mesh\'s own directory; if this mesh was renamed or moved to a new trust domain, move the old state aside and build to start a new CA (every workload must then be redeployed)',
  );
}

export async function computeCerts(mesh: Mesh, read: ReadState, opts: EngineOptions): Promise<EngineResult> {
  const now = opts.clock();
  const { stateDir, ring } = opts;
  const current = read.state;
  const findings: Finding[] = [];
  const algorithm = mesh.pki.keyAlgorithm;
  checkOwner(current, mesh, stateDir, opts.meshFile);
  const encrypt = ring.encrypt;

  // CA keys: a real build needs them all (they go into the next state); a comparison signs what
  // it would issue with a throwaway key instead (those certificates only ever differ anyway).
  let cas: LoadedCa[] = current.cas.map((stored, i) => {
    const label = i === current.cas.length - 1 ? 'the CA' : 'the previous CA';
    const keyPem = ring.plainPem(stored.certPem, label);
    return { certificate: parseCertificate(stored.certPem, `CA #${i + 1}`, stateDir), key: keyPem === undefined ? undefined : crypto.createPrivateKey(keyPem), stored, keyPem };
  });
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
    return { certificate: new X509Certificate(certPem), key, stored: { certPem }, keyPem: generated.pkcs8Pem };
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
  const caAlgorithm = keyAlgorithmOf(issuer.certificate.publicKey);
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
    mesh: { name: mesh.name, trustDomain: mesh.trustDomain },
    phase,
    cas: cas.map((ca) => ca.stored),
    workloads: {},
    ingress: {},
    suppliedIngress: {},
  };
  const nextKeys: KeyMap = {};
  const keep = (certPem: string, plainPem: string | undefined) => {
    if (plainPem !== undefined) nextKeys[certKeyId(certPem)] = ring.storedForm(certPem, plainPem);
  };
  for (const ca of cas) keep(ca.stored.certPem, ca.keyPem);
  const workloads = new Map<string, IssuedCert>();
  const ingressHosts = new Map<string, IssuedCert>();
  const paths = (leaf: WantedLeaf) =>
    leaf.kind === 'workload'
      ? { certPath: workloadCertPath(leaf.name), keyPath: workloadKeyPath(leaf.name) }
      : { certPath: ingressCertPath(leaf.name), keyPath: ingressKeyPath(leaf.name) };
  const accept = (leaf: WantedLeaf, stored: StoredCert, plainKeyPem: string | undefined, serial: string, notBefore: Date, notAfter: Date) => {
    (leaf.kind === 'workload' ? next.workloads : next.ingress)[leaf.name] = { certPem: stored.certPem };
    keep(stored.certPem, plainKeyPem);
    (leaf.kind === 'workload' ? workloads : ingressHosts).set(leaf.name, {
      certPem: stored.certPem,
      keyPem: plainKeyPem ?? KEY_NOT_LOADED,
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
        const keyPem = ring.plainPem(stored.certPem, leafLabel(leaf));
        // A plain key was written by meshc with its certificate; a decrypted one is checked.
        if (keyPem === undefined || !ring.fromEncrypted(stored.certPem) || parseCertificate(stored.certPem, leafLabel(leaf), stateDir).checkPrivateKey(crypto.createPrivateKey(keyPem))) {
          accept(leaf, stored, keyPem, facts.serial, notBefore, notAfter);
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
  const signerKey = issuer.key ?? (todo.length > 0 ? crypto.createPrivateKey((await generateKey(caAlgorithm ?? algorithm)).pkcs8Pem) : undefined);
  const issued = await Promise.all(
    todo.map(async (leaf) => {
      const generated = await generateKey(algorithm);
      if (failed) return undefined;
      const serial = randomSerial();
      const certPem = issueCertificate({
        profile: leaf.profile,
        subject: leaf.subject,
        publicKey: generated,
        signer: { certificate: issuer.certificate, key: signerKey! },
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
    accept(item.leaf, { certPem: item.certPem }, item.generated.pkcs8Pem, serialBytesHex(item.serial), leafNotBefore, leafNotAfter);
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
  // Changed: the public part, the keys, or where they are kept (plain keys left after encrypting).
  const keysText = read.keyTexts[encrypt ? 1 : 0];
  const changed = nextText !== read.text || serializeKeys(nextKeys, encrypt) !== keysText || (encrypt && read.keyTexts[0] !== undefined);
  return {
    next,
    nextText,
    nextKeys,
    encrypted: encrypt,
    keysLoaded: ring.complete,
    changed,
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
