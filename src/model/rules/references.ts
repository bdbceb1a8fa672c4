import { error, pointer, warning, type Finding } from '../diagnostic.js';
import { RESERVED_NAMES } from '../mesh.js';
import { didYouMean } from '../suggest.js';
import { writtenServiceNames, writtenUpstreams, type Rule } from './context.js';

function unknown(kind: string, name: string, known: string[], ptr: string): Finding {
  const guess = didYouMean(name, known);
  return error('unknown-service', ptr, `${kind} names "${name}", which is not a service of this mesh`, guess ? `did you mean "${guess}"?` : `services: ${known.join(', ') || '(none)'}`);
}

/** Upstreams must name services of the mesh. */
export const upstreamsExist: Rule = ({ written }) => {
  const names = writtenServiceNames(written);
  const known = new Set(names);
  return names.flatMap((svc) =>
    writtenUpstreams(written, svc)
      .filter((u) => !known.has(u.name))
      .map((u) => unknown(`${svc}.upstreams`, u.name, names, pointer('spec', 'services', svc, 'upstreams', u.index))),
  );
};

/** allowFrom must name services of the mesh (the ingress gateway's permission is its routes). */
export const allowFromExists: Rule = ({ written }) => {
  const names = writtenServiceNames(written);
  const known = new Set(names);
  return names.flatMap((svc) =>
    (written.spec.services[svc].allowFrom ?? []).flatMap((caller, i) => {
      if (known.has(caller)) return [];
      const ptr = pointer('spec', 'services', svc, 'allowFrom', i);
      if (RESERVED_NAMES.includes(caller))
        return [error('reserved-caller', ptr, `${svc}.allowFrom names the gateway "${caller}"`, caller === 'ingress-gateway' ? 'an ingress route to this service is itself the permission for the ingress gateway: remove this entry' : 'the egress gateway never calls services: remove this entry')];
      return [unknown(`${svc}.allowFrom`, caller, names, ptr)];
    }),
  );
};

/** Ingress routes must name services of the mesh that speak HTTP. */
export const routesExist: Rule = ({ written }) => {
  const names = writtenServiceNames(written);
  const known = new Set(names);
  return Object.entries(written.spec.ingress?.hosts ?? {}).flatMap(([host, h]) =>
    h.routes.flatMap((r, i) => {
      const ptr = pointer('spec', 'ingress', 'hosts', host, 'routes', i, 'service');
      if (!known.has(r.service)) return [unknown(`route ${host}${r.pathPrefix}`, r.service, names, ptr)];
      if (written.spec.services[r.service].protocol === 'tcp')
        return [error('route-to-tcp', ptr, `route ${host}${r.pathPrefix} targets "${r.service}", whose protocol is tcp; the ingress gateway routes HTTP`, 'set the service protocol to http, http2 or grpc, or remove the route')];
      return [];
    }),
  );
};

/** A service calling itself is a loop through its own sidecar. */
export const noSelfCall: Rule = ({ written }) =>
  writtenServiceNames(written).flatMap((svc) =>
    writtenUpstreams(written, svc)
      .filter((u) => u.name === svc)
      .map((u) => error('self-call', pointer('spec', 'services', svc, 'upstreams', u.index), `${svc} lists itself as an upstream`, 'an application reaches itself directly, not through its sidecar: remove this entry')),
  );

/** An upstream listed twice would need two listeners for one service. */
export const noDuplicateUpstreams: Rule = ({ written }) =>
  writtenServiceNames(written).flatMap((svc) => {
    const seen = new Set<string>();
    return writtenUpstreams(written, svc).flatMap((u) => {
      if (!seen.has(u.name)) {
        seen.add(u.name);
        return [];
      }
      return [error('duplicate-upstream', pointer('spec', 'services', svc, 'upstreams', u.index), `${svc} lists upstream "${u.name}" more than once`, 'remove the repeated entry')];
    });
  });

/** A call the callee does not allow would be refused at run time: warn at compile time. */
export const upstreamAllowsCaller: Rule = ({ written }) => {
  const names = writtenServiceNames(written);
  const allowed = new Map(names.map((n) => [n, new Set(written.spec.services[n].allowFrom ?? [])]));
  return names.flatMap((svc) =>
    writtenUpstreams(written, svc)
      .filter((u) => u.name !== svc && allowed.has(u.name) && !allowed.get(u.name)!.has(svc))
      .map((u) =>
        warning('caller-not-allowed', pointer('spec', 'services', svc, 'upstreams', u.index), `${svc} calls ${u.name}, but ${u.name}.allowFrom does not list ${svc}: every call would be refused`, `add ${svc} to services.${u.name}.allowFrom, or remove the upstream`),
      ),
  );
};

/** The gateway names are identities of their own. */
export const reservedNames: Rule = ({ written }) =>
  writtenServiceNames(written)
    .filter((n) => RESERVED_NAMES.includes(n))
    .map((n) => ({ ...error('reserved-name', pointer('spec', 'services', n), `"${n}" is reserved for meshc's own gateway and cannot name a service`, 'rename the service'), atKey: true }));
