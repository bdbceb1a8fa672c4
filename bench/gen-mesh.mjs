// Generates a mesh of N services for benchmarks: each calls about five others (and is allowed by
// them), every tenth reaches an external domain, a quarter balance by consistent hashing (header,
// cookie or source IP in turn), and the ingress gateway serves ten hosts. Deterministic for a given N.
import { stringify } from 'yaml';

const HASH_ON = [{ header: 'x-user-id' }, { cookie: { name: 'session' } }, { sourceIp: true }];

export function generateMesh(n, { name = `bench-${n}` } = {}) {
  const svc = (i) => `svc-${String(i).padStart(5, '0')}`;
  const services = {};
  for (let i = 0; i < n; i++) services[svc(i)] = { port: 8080, image: `registry.example/${svc(i)}:1.0.0`, allowFrom: [] };
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < n; i++) {
    const ups = new Set();
    while (ups.size < Math.min(5, n - 1)) {
      const j = Math.floor(rand() * n);
      if (j !== i) ups.add(j);
    }
    const upstreams = [...ups].sort((a, b) => a - b).map(svc);
    services[svc(i)].upstreams = upstreams;
    for (const u of upstreams) services[u].allowFrom.push(svc(i));
    if (i % 10 === 0) services[svc(i)].egress = [`api-${i}.partner.example`, `*.cdn-${i}.example`];
    if (i % 4 === 0) services[svc(i)].loadBalancing = { policy: 'ring_hash', hashOn: structuredClone(HASH_ON[(i / 4) % HASH_ON.length]) };
    else if (i % 11 === 0) services[svc(i)].loadBalancing = { policy: 'least_request', choiceCount: 2 };
  }
  for (const s of Object.values(services)) if (s.allowFrom.length === 0) delete s.allowFrom;
  const hosts = {};
  for (let h = 0; h < Math.min(10, n); h++)
    hosts[`app${h}.example.com`] = { tls: 'generated', routes: [{ pathPrefix: '/api', service: svc(h) }, { pathPrefix: '/', service: svc((h + 1) % n) }] };
  return {
    apiVersion: 'meshc.dev/v1',
    kind: 'Mesh',
    metadata: { name },
    spec: {
      trustDomain: 'bench.example',
      namespace: 'bench',
      dns: { resolvers: ['10.96.0.10:53'] },
      services,
      egress: { allow: ['*.googleapis.com'] },
      ingress: { hosts },
    },
  };
}

export function generateMeshYaml(n) {
  return stringify(generateMesh(n));
}
