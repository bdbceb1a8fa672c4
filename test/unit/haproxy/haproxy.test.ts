/**
 * The HAProxy target: what the configs say (caller subjects, bundles, load balancing, egress,
 * ingress crt-list) and that the real `haproxy -c` accepts them (through `verifyHaproxy`).
 */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxyOrSkip } from '../../harness/index.js';
import { haproxyTarget } from '../../../src/targets/haproxy/index.js';
import { verifyHaproxy } from '../../../src/targets/haproxy/verify.js';
import { compileMesh, SAMPLE_MESH, type Compiled } from '../nginx/compile.js';
import { emitSorted } from '../../../src/targets/target.js';

const haproxy = proxyOrSkip('haproxy');

describe('haproxy target', () => {
  let c: Compiled;
  const file = (p: string) => c.files.find((f) => f.path === p)?.content ?? '';

  beforeAll(async () => {
    c = await compileMesh(SAMPLE_MESH, haproxyTarget);
  });
  afterAll(async () => {
    await c?.cleanup();
  });

  it('writes a config per service, both gateways, the crt-list and the cert+key bundles', () => {
    const paths = c.files.map((f) => f.path).sort();
    expect(paths.filter((p) => p.startsWith('haproxy/'))).toEqual(
      ['cart', 'db', 'egress-gateway', 'frontend', 'ingress-gateway', 'payments', 'users'].map((n) => `haproxy/${n}.cfg`).concat('haproxy/ingress-gateway.crtlist').sort(),
    );
    expect(paths.filter((p) => p.startsWith('secrets/haproxy/'))).toEqual(
      ['cart', 'db', 'frontend', 'ingress-gateway', 'ingress/_wildcard.example.net', 'ingress/shop.example.com', 'payments', 'users'].map((n) => `secrets/haproxy/${n}.pem`),
    );
  });

  it('bundles hold the certificate then its key, mode 0600', () => {
    const b = c.files.find((f) => f.path === 'secrets/haproxy/cart.pem')!;
    expect(b.mode).toBe(0o600);
    expect(b.content).toBe(c.certs.workloads.get('cart')!.certPem.trimEnd() + '\n' + c.certs.workloads.get('cart')!.keyPem.trimEnd() + '\n');
    expect(new X509Certificate(b.content).subject).toBe('O=t.example\nOU=t\nCN=cart');
  });

  it('is deterministic', () => {
    expect(emitSorted(haproxyTarget, c.mesh, c.certs)).toEqual(c.files);
  });

  it('names callers by CN, OU and O of the subject and refuses the rest with 403 (tcp: reject)', () => {
    const cart = file('haproxy/cart.cfg');
    expect(cart).toContain('acl meshc_namespace ssl_c_s_dn(OU) -m str t\n');
    expect(cart).toContain('acl meshc_trust_domain ssl_c_s_dn(O) -m str t.example\n');
    expect(cart).toContain('acl meshc_caller ssl_c_s_dn(CN) -m str frontend ingress-gateway\n');
    // The handshake takes any certificate or none; the rules refuse, with the reason the access log names.
    expect(cart).toContain('ssl crt secrets/haproxy/cart.pem ca-file certs/ca-bundle.pem verify optional crt-ignore-err all ca-ignore-err all');
    expect(cart).toContain('http-request set-var(txn.meshc_reason) str(not-in-allow-from) unless meshc_namespace meshc_trust_domain meshc_caller\n');
    expect(cart).toContain('http-request set-var(txn.meshc_reason) str(untrusted-certificate) if meshc_cert !meshc_verified\n');
    expect(cart).toContain('http-request set-var(txn.meshc_reason) str(no-client-certificate) if !meshc_cert\n');
    expect(cart).toContain('http-request deny deny_status 403 if { var(txn.meshc_reason) -m found }');
    // The subject is read only from a certificate that verified.
    expect(cart).toContain('acl meshc_verified ssl_c_verify 0\n');
    const db = file('haproxy/db.cfg');
    expect(db).toContain('tcp-request content set-var(txn.meshc_reason) str(not-in-allow-from) unless meshc_namespace meshc_trust_domain meshc_caller\n');
    expect(db).toContain('tcp-request content reject if { var(txn.meshc_reason) -m found }');
  });

  it('originates mTLS to each upstream, verifying its DNS SAN, with the policy mapped', () => {
    const f = file('haproxy/frontend.cfg');
    expect(f).toContain('balance hdr(x-user-id)\n    hash-type consistent');
    expect(f).toContain('verify required verifyhost cart.t.svc.cluster.local sni str(cart.t.svc.cluster.local)');
    expect(f).toContain('check observe layer7 error-limit 3 on-error mark-down inter 10s fastinter 45s downinter 45s rise 1 maxconn 5');
    expect(f).toContain('retries 2\n    retry-on conn-failure 500 502 503 504\n    option redispatch 1');
    // Weights keep their ratio, scaled into 1..256 (1:3 → 85:255).
    expect(f).toContain('server e0 127.0.0.2:15443 weight 85');
    expect(f).toContain('server e1 127.0.0.3:15443 weight 255');
    expect(f).toContain('http-request return status 503 if { be_conn(up_cart) ge 20 }');
    expect(f).toContain('balance random(2)');
    expect(f).toContain('balance source\n    hash-type consistent');
    // A name may stand for several addresses: one slot per address, max(4, 2 x replicas) slots.
    expect(f).toContain('server-template e0- 4 db.t.svc.cluster.local:15443 weight 256 resolvers meshc init-addr last,libc,none');
    expect(f).toContain('alpn h2');
    expect(f).toContain('frontend out_users\n    mode http\n    bind 127.0.0.1:');
    expect(f).toMatch(/frontend out_users\n(.*\n){2}    timeout http-keep-alive 90s\n/);
    // tcp: an hour of idle unless timeouts.idle says otherwise (Envoy's tcp_proxy default).
    expect(f).toMatch(/frontend out_db\n(.*\n){2}    timeout client 1h\n/);
  });

  it('passes egress by SNI and by Host for the allowed names only', () => {
    const f = file('haproxy/frontend.cfg');
    expect(f).toContain('acl allowed req.ssl_sni,lower -m str api.stripe.com');
    expect(f).toContain('acl allowed req.ssl_sni,lower -m end .stripe.network');
    expect(f).toContain('tcp-request content do-resolve(sess.dst,meshc,ipv4) req.ssl_sni,lower');
    expect(f).toContain('nameserver ns0 127.0.0.1:5353');
    expect(file('haproxy/cart.cfg')).not.toContain('stripe');
  });

  it('ingress: strict SNI crt-list, redirect with the explicit port, honour X-Forwarded-Proto', () => {
    const g = file('haproxy/ingress-gateway.cfg');
    expect(g).toContain('ssl crt-list haproxy/ingress-gateway.crtlist strict-sni');
    expect(g).toContain('http-request redirect prefix https://%[req.hdr(host),field(1,:)]:8443 code 301 if { req.hdr(host),field(1,:),lower -m str shop.example.com } !forwarded_https');
    expect(file('haproxy/ingress-gateway.crtlist')).toContain('secrets/haproxy/ingress/_wildcard.example.net.pem *.example.net\n');
    expect(g).toContain('backend svc_payments_t30000');
  });

  describe.skipIf(!haproxy.path)('haproxy -c', () => {
    it('accepts every generated config (verifyHaproxy)', async () => {
      const results = await verifyHaproxy(c.out, haproxy.path!);
      expect(results.map((r) => r.file)).toEqual(c.files.filter((f) => f.path.endsWith('.cfg')).map((f) => f.path).sort());
      expect(results.filter((r) => !r.ok)).toEqual([]);
    });
  });
});
