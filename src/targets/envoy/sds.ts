/**
 * Certificates and trust delivered to Envoy by SDS from files, so that new files replace old ones
 * under a running Envoy (no restart, no hot restart).
 *
 *   envoy/sds/identity/<name>.yaml     the identity secret of a workload: its certificate and key files
 *   envoy/sds/trust-bundle.yaml        the trust bundle every mesh TLS context validates peers with
 *   envoy/sds/ingress/<host>.yaml      an ingress host's certificate and key files (`*.` as `_wildcard.`)
 *
 * Each is a DiscoveryResponse naming files by output-relative paths, read through a
 * `path_config_source` whose `watched_directory` is Envoy's working directory: the directory in
 * which the kubelet (a Secret or projected volume mounted without `subPath`) and `meshc install`
 * swap the `..data` symlink. A move into that directory makes Envoy re-read the SDS file and the
 * certificate files it names, and replace the TLS contexts that use them.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/core/v3/config_source.proto#config-core-v3-pathconfigsource
 */
import { hostFileName, type CertMaterial, type IssuedCert } from '../../certs/material.js';
import { reuse, toYaml } from '../../output/yaml.js';
import { GENERATED_HEADER } from '../target.js';

type Obj = Record<string, unknown>;

/** The name the mesh identity secret has in every bootstrap (one per Envoy: its own). */
export const IDENTITY_SECRET = 'mesh-identity';
/** The name of the trust bundle's validation context secret. */
export const TRUST_SECRET = 'mesh-trust';
/** Where the `..data` swap happens: Envoy's working directory (the output root, the install directory, the pod's mount). */
export const WATCHED_DIRECTORY = '.';
export const SDS_DIR = 'envoy/sds';
export const TRUST_SDS_PATH = `${SDS_DIR}/trust-bundle.yaml`;

export function identitySdsPath(identity: string): string {
  return `${SDS_DIR}/identity/${identity}.yaml`;
}
export function ingressSdsPath(host: string): string {
  return `${SDS_DIR}/ingress/${hostFileName(host)}.yaml`;
}
export function ingressSecretName(host: string): string {
  return `ingress:${host}`;
}

const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

/** An SDS reference to the secret `name` in the file at `path`, watched through WATCHED_DIRECTORY. */
export function sdsSecretConfig(name: string, path: string): Obj {
  return {
    name,
    sds_config: { resource_api_version: 'V3', path_config_source: { path, watched_directory: { path: WATCHED_DIRECTORY } } },
  };
}

/** The identity of workload `self`, by SDS: for `tls_certificate_sds_secret_configs`. */
export function identitySdsRef(self: string): Obj[] {
  return cached(identityRefs, self, () => [sdsSecretConfig(IDENTITY_SECRET, identitySdsPath(self))]);
}

/**
 * A `combined_validation_context` that trusts the mesh bundle (by SDS) and checks the SPIFFE URIs
 * `uris` (none: any identity the bundle vouches for).
 */
export function trustValidation(uris?: string[]): Obj {
  return cached(validations, uris?.join('\n') ?? '', () => ({
    default_validation_context: { match_typed_subject_alt_names: uris?.map((uri) => ({ san_type: 'URI', matcher: { exact: uri } })) },
    validation_context_sds_secret_config: TRUST_REF,
  }));
}
/** The same, with SAN matchers of the caller's own (regex matchers on the SPIFFE URI, say). */
export function trustValidationMatching(sanMatchers: Obj[]): Obj {
  return { default_validation_context: { match_typed_subject_alt_names: sanMatchers }, validation_context_sds_secret_config: TRUST_REF };
}
const TRUST_REF = reuse(sdsSecretConfig(TRUST_SECRET, TRUST_SDS_PATH));

// Every cluster to a service and every inbound listener of a workload carries one of these: made
// once and written once each (see `reuse`). Bounded, since they only save work.
const identityRefs = new Map<string, Obj[]>();
const validations = new Map<string, Obj>();
function cached<T extends object>(cache: Map<string, T>, key: string, make: () => T): T {
  let value = cache.get(key);
  if (value === undefined) {
    if (cache.size === 4096) cache.clear();
    cache.set(key, (value = reuse(make())));
  }
  return value;
}

function tlsCertificate(cert: IssuedCert): Obj {
  return {
    certificate_chain: { filename: cert.certPath },
    private_key: { filename: cert.keyPath },
    // Certificate and key are re-read together on a move into the directory (checked for a
    // consistent pair), not on a change of their own parent directory.
    watched_directory: { path: WATCHED_DIRECTORY },
  };
}

function sdsFile(secret: Obj, what: string): string {
  return toYaml({ resources: [{ '@type': SECRET_TYPE, ...secret }] }, `${GENERATED_HEADER}\n# Envoy SDS: ${what}. Re-read when a file is moved into Envoy's working directory.`);
}

/**
 * SDS files by path: the trust bundle's, each of `identities`' and (`withIngress`) each ingress
 * host's. They name files only (no key material), so they are public.
 */
export function sdsFiles(certs: CertMaterial, identities: Iterable<string>, withIngress = true): { path: string; content: string }[] {
  const files = [{ path: TRUST_SDS_PATH, content: sdsFile({ name: TRUST_SECRET, validation_context: { trusted_ca: { filename: certs.trustBundlePath }, watched_directory: { path: WATCHED_DIRECTORY } } }, 'the mesh trust bundle') }];
  for (const name of identities) {
    const cert = certs.workloads.get(name);
    if (cert) files.push({ path: identitySdsPath(name), content: sdsFile({ name: IDENTITY_SECRET, tls_certificate: tlsCertificate(cert) }, `the mesh identity of ${name}`) });
  }
  for (const [host, cert] of withIngress ? certs.ingressHosts : []) {
    files.push({ path: ingressSdsPath(host), content: sdsFile({ name: ingressSecretName(host), tls_certificate: tlsCertificate(cert) }, `the certificate of ingress host ${host}`) });
  }
  return files;
}
