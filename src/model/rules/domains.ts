import { error, pointer, warning, type Finding } from '../diagnostic.js';
import { isIpv4 } from '../normalize.js';
import { writtenServiceNames, type Rule } from './context.js';

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Why a domain pattern is invalid, or undefined. Allowed: an exact lower-case DNS name with at
 * least two labels, or `*.` followed by one. No partial wildcards (`*w.x`), no IPs, no trailing dot.
 */
export function domainProblem(p: string): string | undefined {
  if (p !== p.toLowerCase()) return 'domain names are written in lower case';
  if (p.endsWith('.')) return 'remove the trailing dot';
  if (isIpv4(p)) return 'an IP address is not a domain; egress is allowed by name';
  const wild = p.startsWith('*.');
  const rest = wild ? p.slice(2) : p;
  if (rest.includes('*')) return 'only a leading "*." wildcard is allowed (for example "*.example.com")';
  const labels = rest.split('.');
  if (labels.some((l) => !LABEL.test(l))) return 'each label must be 1-63 lower-case letters, digits or "-", not starting or ending with "-"';
  if (rest.length > 253) return 'a domain name is at most 253 characters';
  if (labels.length < 2) return wild ? 'a wildcard must sit above a registrable domain (for example "*.example.com")' : 'use a fully qualified name (for example "api.example.com")';
  return undefined;
}

function check(p: string, ptr: string, what: string): Finding[] {
  const why = domainProblem(p);
  return why ? [error('invalid-domain', ptr, `${what} "${p}" is not a valid domain pattern: ${why}`, 'write an exact name such as "api.stripe.com" or a leading wildcard such as "*.googleapis.com"')] : [];
}

/** Egress patterns: exact names or a leading `*.` only. */
export const egressDomainsValid: Rule = ({ written }) => [
  ...(written.spec.egress?.allow ?? []).flatMap((p, i) => check(p, pointer('spec', 'egress', 'allow', i), 'egress.allow entry')),
  ...writtenServiceNames(written).flatMap((svc) =>
    (written.spec.services[svc].egress ?? []).flatMap((p, i) => check(p, pointer('spec', 'services', svc, 'egress', i), `${svc}.egress entry`)),
  ),
];

/** A service listing a domain the mesh already allows everywhere is harmless but noise. */
export const egressNotRedundant: Rule = ({ written }) => {
  const global = new Set(written.spec.egress?.allow ?? []);
  return writtenServiceNames(written).flatMap((svc) =>
    (written.spec.services[svc].egress ?? [])
      .map((p, i) => ({ p, i }))
      .filter(({ p }) => global.has(p))
      .map(({ p, i }) => warning('redundant-egress', pointer('spec', 'services', svc, 'egress', i), `${svc}.egress repeats "${p}", which spec.egress.allow already allows for every service`, 'remove it from the service')),
  );
};

/** Ingress host names: exact names or a leading wildcard. */
export const ingressHostsValid: Rule = ({ written }) =>
  Object.keys(written.spec.ingress?.hosts ?? {}).flatMap((host) =>
    check(host, pointer('spec', 'ingress', 'hosts', host), 'ingress host').map((f) => ({ ...f, code: 'invalid-host', atKey: true })),
  );
