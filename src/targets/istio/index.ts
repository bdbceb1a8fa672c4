/**
 * The Istio target: PeerAuthentication, AuthorizationPolicies, Sidecars, DestinationRules,
 * VirtualServices, ServiceEntries and the ingress Gateway for the same mesh (istio/), with the
 * Gateway's credentials in an overlay (secrets/istio/). See emit.ts for the layout.
 */
import type { Target } from '../target.js';
import { capabilities } from './capabilities.js';
import { checkIstio } from './check.js';
import { emitIstio } from './emit.js';

export const istioTarget: Target = {
  name: 'istio',
  description: 'Istio resources: strict mTLS, authorization, sidecar scoping, traffic policy, egress and ingress (istio/, credentials in secrets/istio/)',
  readme: {
    what: 'Istio resources: strict mTLS, authorization, sidecar scoping, traffic policy, egress and ingress (credentials in `secrets/istio/`)',
    use: '`kubectl apply -k <out>/secrets/istio` in a cluster with Istio',
  },
  check: checkIstio,
  capabilities,
  emit: emitIstio,
};
