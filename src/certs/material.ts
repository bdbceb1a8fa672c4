/**
 * What the certificate stage hands to targets: PEM material and the output paths where it is
 * written. Targets reference these paths (relative to the output root) and never write files.
 *
 * Layout of the output tree (relative to `out/`):
 *   certs/ca-bundle.pem               trust bundle: every CA currently trusted (two during a CA rotation)
 *   certs/<identity>.pem              a workload's leaf certificate (services and both gateways)
 *   certs/ingress/<host>.pem          an ingress host's certificate chain (`*.` written as `_wildcard.`)
 *   secrets/<identity>.key            private keys, mode 0600; `secrets/` is git-ignored by out/.gitignore
 *   secrets/ingress/<host>.key
 * Proxies run with their working directory at the output root (Envoy, HAProxy) or resolve these
 * paths from it (nginx); the Kubernetes target mounts the same tree at /etc/meshc.
 */
export interface IssuedCert {
  /** PEM of the leaf certificate (followed by intermediates for supplied ingress chains). */
  certPem: string;
  /** PEM private key (PKCS#8, unencrypted: it is written only under secrets/). */
  keyPem: string;
  /** Hex serial number, lower case. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** Output-relative paths. */
  certPath: string;
  keyPath: string;
}

export interface CertMaterial {
  /** PEM of every trusted CA, oldest first. */
  trustBundlePem: string;
  trustBundlePath: string;
  /** Keyed by identity name: every service, `ingress-gateway`, `egress-gateway`. */
  workloads: ReadonlyMap<string, IssuedCert>;
  /** Keyed by ingress host name as written (`shop.example.com`, `*.example.com`). */
  ingressHosts: ReadonlyMap<string, IssuedCert>;
}

export function workloadCertPath(name: string): string {
  return `certs/${name}.pem`;
}
export function workloadKeyPath(name: string): string {
  return `secrets/${name}.key`;
}
export function hostFileName(host: string): string {
  return host.replace(/^\*\./, '_wildcard.');
}
export function ingressCertPath(host: string): string {
  return `certs/ingress/${hostFileName(host)}.pem`;
}
export function ingressKeyPath(host: string): string {
  return `secrets/ingress/${hostFileName(host)}.key`;
}
export const TRUST_BUNDLE_PATH = 'certs/ca-bundle.pem';
