import type { Finding } from '../diagnostic.js';
import type { Rule, RuleContext } from './context.js';
import { egressDomainsValid, egressNotRedundant, ingressHostsValid } from './domains.js';
import { choiceCountNeedsLeastRequest, durationsInRange, hashPolicyHasKey, retryFitsTimeout, uniqueRoutes } from './policies.js';
import { requestsWithinLimits } from './kubernetes.js';
import { gatewayPortsUnique, sidecarPortsUnique, uniqueEndpoints } from './ports.js';
import { allowFromExists, noDuplicateUpstreams, noSelfCall, reservedNames, routesExist, upstreamAllowsCaller, upstreamsExist } from './references.js';

/** Every rule, in the order their findings are listed. */
export const RULES: readonly Rule[] = [
  reservedNames,
  upstreamsExist,
  noSelfCall,
  noDuplicateUpstreams,
  allowFromExists,
  upstreamAllowsCaller,
  routesExist,
  uniqueRoutes,
  egressDomainsValid,
  egressNotRedundant,
  ingressHostsValid,
  hashPolicyHasKey,
  choiceCountNeedsLeastRequest,
  retryFitsTimeout,
  durationsInRange,
  sidecarPortsUnique,
  gatewayPortsUnique,
  uniqueEndpoints,
  requestsWithinLimits,
];

export function runRules(ctx: RuleContext): Finding[] {
  return RULES.flatMap((rule) => rule(ctx));
}
