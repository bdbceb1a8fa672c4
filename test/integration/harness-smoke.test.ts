/**
 * Proves the integration harness itself with the real proxies and hand-written minimal configs
 * (not meshc output): each proxy serves a request, the DNS server answers real resolvers, and
 * every process is gone after stop().
 */
import { Resolver } from 'node:dns/promises';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  eventually,
  freePort,
  httpGet,
  isAlive,
  loopbackAddress,
  NGINX_STREAM_MODULE,
  processGroupMembers,
  proxyOrSkip,
  rawHttp,
  startDns,
  startEnvoy,
  startHaproxy,
  startHttpBackend,
  startNginx,
  startProcess,
  tempDir,
  tlsProbe,
  useCleanup,
  createTestCa,
  startTlsBackend,
  validateEnvoy,
  validateHaproxy,
  validateNginx,
  waitForPort,
} from '../harness/index.js';

const envoy = proxyOrSkip('envoy');
const nginx = proxyOrSkip('nginx');
const haproxy = proxyOrSkip('haproxy');

// Everything a test starts is deferred and stopped after it, pass or fail.
const defer = useCleanup();

async function scratch(name: string): Promise<string> {
  const dir = await tempDir(name);
  defer(dir.cleanup);
  return dir.path;
}

async function backend(name: string, host = loopbackAddress()) {
  const b = await startHttpBackend({ name, host });
  defer(b.close);
  return b;
}

async function dnsServer(records: Record<string, string>) {
  const dns = await startDns({ host: loopbackAddress(), records });
  defer(dns.close);
  return dns;
}

function envoyBootstrap(o: {
  host: string;
  port: number;
  cluster: string;
  dns?: { host: string; port: number };
  /** Files for a DownstreamTlsContext that requires a client certificate from ca. */
  mtls?: { cert: string; key: string; ca: string };
}): string {
  const transport = o.mtls
    ? `
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          require_client_certificate: true
          common_tls_context:
            tls_certificates: [{ certificate_chain: { filename: ${o.mtls.cert} }, private_key: { filename: ${o.mtls.key} } }]
            validation_context: { trusted_ca: { filename: ${o.mtls.ca} } }`
    : '';
  const resolver = o.dns
    ? `
typed_dns_resolver_config:
  name: envoy.network.dns_resolver.cares
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig
    resolvers: [{ socket_address: { address: ${o.dns.host}, port_value: ${o.dns.port} } }]
    dns_resolver_options: { no_default_search_domain: true }`
    : '';
  return `admin:
  address: { socket_address: { address: ${o.host}, port_value: 0 } }${resolver}
static_resources:
  listeners:
  - name: ingress
    address: { socket_address: { address: ${o.host}, port_value: ${o.port} } }
    filter_chains:
    - ${transport.trim() ? transport.trimStart() + '\n      ' : ''}filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - { name: all, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: upstream } }] }
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: upstream
    connect_timeout: 2s
${o.cluster}
`;
}

function nginxConfig(prefix: string, body: string): string {
  return `load_module ${NGINX_STREAM_MODULE};
daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
${body}
`;
}

const nginxHttpTemps = (prefix: string) => `
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;`;

describe('processes', () => {
  it('start, wait for readiness, report output, and are gone after stop', async () => {
    const host = loopbackAddress();
    const port = await freePort(host);
    const script = `require('node:net').createServer().listen(${port}, '${host}', () => console.log('listening'))`;
    const proc = await startProcess(process.execPath, ['-e', script], { ready: () => waitForPort(host, port, 5_000) });
    defer(proc.stop);
    expect(isAlive(proc.pid)).toBe(true);
    await eventually(async () => expect(proc.output()).toContain('listening'), 2_000, 20);
    await proc.stop();
    expect(isAlive(proc.pid)).toBe(false);
    await proc.stop(); // idempotent
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const script = 'process.on("SIGTERM", () => console.log("ignored")); console.log("armed"); setInterval(() => {}, 1000)';
    const proc = await startProcess(process.execPath, ['-e', script], { readyPattern: /armed/, stopTimeoutMs: 300 });
    defer(proc.stop);
    const t0 = Date.now();
    await proc.stop();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(isAlive(proc.pid)).toBe(false);
    expect(proc.output()).toContain('ignored');
  });

  it('fails with the output when the process exits before it is ready', async () => {
    const err = await startProcess(process.execPath, ['-e', 'console.error("boom: bad config"); process.exit(3)'], {
      ready: () => waitForPort('127.0.0.1', 1, 200),
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/exited with code 3 before it was ready/);
    expect((err as Error).message).toContain('boom: bad config');
  });

  it('fails with the output when ready() never succeeds, and kills the process', async () => {
    const err = await startProcess(process.execPath, ['-e', 'console.log("pid", process.pid); setInterval(() => {}, 1000)'], {
      ready: () => Promise.reject(new Error('never')),
      // Long enough for node to start and print its pid on a loaded machine.
      readyTimeoutMs: 5_000,
    }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/not ready after 5000 ms: never/);
    const pid = Number(/pid (\d+)/.exec((err as Error).message)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(isAlive(pid)).toBe(false);
  });
});

describe('dns server', () => {
  it('answers A queries, empty AAAA, wildcards and NXDOMAIN through node:dns', async () => {
    const dns = await dnsServer({ 'api.fake.test': '127.1.2.3', '*.wild.test': '127.4.5.6' });
    const resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`${dns.host}:${dns.port}`]);
    expect(await resolver.resolve4('api.fake.test')).toEqual(['127.1.2.3']);
    expect(await resolver.resolve4('API.Fake.Test')).toEqual(['127.1.2.3']);
    expect(await resolver.resolve4('a.b.wild.test')).toEqual(['127.4.5.6']);
    await expect(resolver.resolve4('wild.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve4('nope.fake.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve6('api.fake.test')).rejects.toMatchObject({ code: 'ENODATA' });
    const ttl = await resolver.resolve4('api.fake.test', { ttl: true });
    expect(ttl).toEqual([{ address: '127.1.2.3', ttl: 1 }]);
    expect(dns.queries).toContainEqual({ name: 'api.fake.test', type: 1 });
    expect(dns.queries).toContainEqual({ name: 'nope.fake.test', type: 1 });
  });
});

describe.skipIf(!envoy.path)('envoy', () => {
  it('validates and serves a request through a static cluster', async () => {
    const dir = await scratch('smoke-envoy');
    const b = await backend('alpha');
    const host = loopbackAddress();
    const port = await freePort(host);
    const config = path.join(dir, 'envoy.yaml');
    await writeFile(
      config,
      envoyBootstrap({
        host,
        port,
        cluster: `    type: STATIC
    load_assignment:
      cluster_name: upstream
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: ${b.host}, port_value: ${b.port} } } } }] }]`,
      }),
    );
    const v = await validateEnvoy(config, dir);
    expect(v.ok, v.output).toBe(true);

    const proc = await startEnvoy({ configPath: config, cwd: dir });
    defer(proc.stop);
    expect(proc.adminUrl).toMatch(new RegExp(`^http://${host.replace(/\./g, '\\.')}:\\d+$`));
    await waitForPort(host, port);
    const res = await httpGet(`http://${host}:${port}/hello`);
    expect(res.status).toBe(200);
    expect(res.body).toBe('alpha');
    expect(res.headers['x-backend']).toBe('alpha');
    expect(b.requests.map((r) => r.path)).toEqual(['/hello']);

    await proc.stop();
    expect(isAlive(proc.pid)).toBe(false);
  });

  // Default dns_lookup_family: whether it asks AAAA first or not, the empty NOERROR AAAA answer
  // lets c-ares fall back to A.
  it('resolves a STRICT_DNS cluster through the test DNS server (c-ares)', async () => {
    const dir = await scratch('smoke-envoy-dns');
    const b = await backend('from-dns');
    const dns = await dnsServer({ 'backend.fake.test': b.host });
    const host = loopbackAddress();
    const port = await freePort(host);
    const config = path.join(dir, 'envoy.yaml');
    await writeFile(
      config,
      envoyBootstrap({
        host,
        port,
        dns,
        cluster: `    type: STRICT_DNS
    dns_refresh_rate: 1s
    load_assignment:
      cluster_name: upstream
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: backend.fake.test, port_value: ${b.port} } } } }] }]`,
      }),
    );
    const proc = await startEnvoy({ configPath: config, cwd: dir, waitPorts: [{ host, port }] });
    defer(proc.stop);
    const res = await eventually(async () => {
      const r = await httpGet(`http://${host}:${port}/`);
      if (r.status !== 200) throw new Error(`status ${r.status}: ${r.body}`);
      return r;
    }, 10_000);
    expect(res.body).toBe('from-dns');
    expect(dns.queries).toContainEqual({ name: 'backend.fake.test', type: 1 });
  });

  it('requires a client certificate from the CA, as tlsProbe and httpGet see it', async () => {
    const dir = await scratch('smoke-envoy-mtls');
    const b = await backend('zeta');
    const [ca, otherCa] = await Promise.all([createTestCa('smoke CA'), createTestCa('other CA')]);
    const [server, client, intruder] = await Promise.all([
      ca.issue({ cn: 'zeta', sans: ['zeta.shop.svc'] }),
      ca.issue({ cn: 'frontend', sans: ['spiffe://shop.example/ns/shop/sa/frontend'] }),
      otherCa.issue({ cn: 'frontend' }),
    ]);
    const files = { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key'), ca: path.join(dir, 'ca.crt') };
    await Promise.all([writeFile(files.cert, server.cert), writeFile(files.key, server.key, { mode: 0o600 }), writeFile(files.ca, ca.cert)]);
    const host = loopbackAddress();
    const port = await freePort(host);
    const config = path.join(dir, 'envoy.yaml');
    await writeFile(
      config,
      envoyBootstrap({
        host,
        port,
        mtls: files,
        cluster: `    type: STATIC
    load_assignment:
      cluster_name: upstream
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: ${b.host}, port_value: ${b.port} } } } }] }]`,
      }),
    );
    const v = await validateEnvoy(config, dir);
    expect(v.ok, v.output).toBe(true);
    const proc = defer(await startEnvoy({ configPath: config, cwd: dir, waitPorts: [{ host, port }] }));
    expect(proc.output()).not.toMatch(/critical|error/i);

    const common = { host, port, servername: 'zeta.shop.svc', ca: ca.cert };
    const anonymous = await tlsProbe(common);
    expect(anonymous.connected, JSON.stringify(anonymous)).toBe(false);
    expect(anonymous.error).toMatch(/CERTIFICATE_REQUIRED|certificate required/i);
    const foreign = await tlsProbe({ ...common, ...intruder });
    expect(foreign.connected, JSON.stringify(foreign)).toBe(false);
    expect(foreign.error).toMatch(/UNKNOWN_CA|unknown ca/i);
    const good = await tlsProbe({ ...common, ...client, send: 'GET / HTTP/1.1\r\nHost: zeta\r\nConnection: close\r\n\r\n' });
    expect(good).toMatchObject({ connected: true, authorized: true });
    expect(good.response).toMatch(/^HTTP\/1\.1 200[\s\S]*zeta$/);
    const res = await httpGet(`https://zeta.shop.svc:${port}/`, { lookupHost: host, ca: ca.cert, ...client });
    expect(res.body).toBe('zeta');
    expect(b.requests.length).toBe(2);
  });

  it('reports a broken config with Envoy output', async () => {
    const dir = await scratch('smoke-envoy-bad');
    const config = path.join(dir, 'envoy.yaml');
    // A filter without typed_config: rejected since Envoy 1.39.
    await writeFile(
      config,
      `static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 1 } }
    listener_filters: [{ name: envoy.filters.listener.tls_inspector }]
    filter_chains: [{ filters: [{ name: envoy.filters.network.echo }] }]
`,
    );
    const v = await validateEnvoy(config, dir);
    expect(v.ok).toBe(false);
    expect(v.output.length).toBeGreaterThan(0);
  });
});

describe.skipIf(!nginx.path)('nginx', () => {
  it('validates and serves a request in a temporary prefix', async () => {
    const prefix = await scratch('smoke-nginx');
    const b = await backend('beta');
    const host = loopbackAddress();
    const port = await freePort(host);
    const config = path.join(prefix, 'nginx.conf');
    await writeFile(
      config,
      nginxConfig(
        prefix,
        `http {${nginxHttpTemps(prefix)}
  server {
    listen ${host}:${port};
    location / { proxy_pass http://${b.host}:${b.port}; }
  }
}`,
      ),
    );
    const v = await validateNginx(config, prefix);
    expect(v.ok, v.output).toBe(true);

    const proc = await startNginx({ configPath: config, prefix }); // ready: pid file + `listen` ports
    defer(proc.stop);
    const res = await httpGet(`http://${host}:${port}/x`);
    expect(res.status).toBe(200);
    expect(res.body).toBe('beta');
    const group = processGroupMembers(proc.pid);
    expect(group.length).toBeGreaterThanOrEqual(2); // master + worker
    await proc.stop();
    expect(isAlive(proc.pid)).toBe(false);
    expect(processGroupMembers(proc.pid)).toEqual([]);
    for (const pid of group) expect(isAlive(pid)).toBe(false);
    await expect(rawHttp(host, port, 'GET / HTTP/1.0\r\n\r\n', 500)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('resolves a stream proxy_pass target through the test DNS server (nginx resolver)', async () => {
    const prefix = await scratch('smoke-nginx-dns');
    const b = await backend('gamma');
    const dns = await dnsServer({ 'gamma.fake.test': b.host });
    const host = loopbackAddress();
    const port = await freePort(host);
    const config = path.join(prefix, 'nginx.conf');
    // proxy_pass with a variable is resolved at run time through `resolver`.
    await writeFile(
      config,
      nginxConfig(
        prefix,
        `stream {
  # ipv6 left on (the default): nginx asks A and AAAA; the empty AAAA answer is fine.
  resolver ${dns.host}:${dns.port} valid=1s;
  resolver_timeout 2s;
  map $remote_addr $target { default gamma.fake.test:${b.port}; }
  server {
    listen ${host}:${port};
    proxy_pass $target;
  }
}`,
      ),
    );
    const proc = await startNginx({ configPath: config, prefix, waitPorts: [{ host, port }] });
    defer(proc.stop);
    const res = await httpGet(`http://${host}:${port}/`);
    expect(res.body).toBe('gamma');
    expect(dns.queries).toContainEqual({ name: 'gamma.fake.test', type: 1 });
  });

  it('startNginx fails with nginx output when it cannot start', async () => {
    const prefix = await scratch('smoke-nginx-fail');
    const config = path.join(prefix, 'nginx.conf');
    await writeFile(config, nginxConfig(prefix, 'http { no_such_directive on; }'));
    await expect(startNginx({ configPath: config, prefix })).rejects.toThrow(/exited with code 1 before it was ready[\s\S]*no_such_directive/);
  });

  it('reports a broken config with nginx output', async () => {
    const prefix = await scratch('smoke-nginx-bad');
    const config = path.join(prefix, 'nginx.conf');
    await writeFile(config, nginxConfig(prefix, 'http { no_such_directive on; }'));
    const v = await validateNginx(config, prefix);
    expect(v.ok).toBe(false);
    expect(v.output).toContain('no_such_directive');
  });
});

describe.skipIf(!haproxy.path)('haproxy', () => {
  function haproxyConfig(body: string): string {
    return `global
  log stderr format raw local0 warning
  hard-stop-after 2s
defaults
  mode http
  log global
  timeout connect 2s
  timeout client 10s
  timeout server 10s
${body}
`;
  }

  it('validates and serves a request', async () => {
    const dir = await scratch('smoke-haproxy');
    const b = await backend('delta');
    const host = loopbackAddress();
    const port = await freePort(host);
    const config = path.join(dir, 'haproxy.cfg');
    await writeFile(
      config,
      haproxyConfig(`frontend fe
  bind ${host}:${port}
  default_backend be
backend be
  server s1 ${b.host}:${b.port}
`),
    );
    const v = await validateHaproxy(config, dir);
    expect(v.ok, v.output).toBe(true);

    const proc = await startHaproxy({ configPath: config, cwd: dir }); // ready: its `bind` ports
    defer(proc.stop);
    const res = await httpGet(`http://${host}:${port}/y`);
    expect(res.status).toBe(200);
    expect(res.body).toBe('delta');
    await proc.stop();
    expect(isAlive(proc.pid)).toBe(false);
  });

  it('resolves a server name through the test DNS server (haproxy resolvers)', async () => {
    const dir = await scratch('smoke-haproxy-dns');
    const b = await backend('epsilon');
    const dns = await dnsServer({ 'epsilon.fake.test': b.host });
    const host = loopbackAddress();
    const port = await freePort(host);
    const config = path.join(dir, 'haproxy.cfg');
    await writeFile(
      config,
      haproxyConfig(`resolvers testdns
  nameserver ns1 ${dns.host}:${dns.port}
  accepted_payload_size 1232
  resolve_retries 3
  timeout resolve 200ms
  timeout retry 200ms
  hold valid 1s
frontend fe
  bind ${host}:${port}
  default_backend be
backend be
  # default resolve-prefer (ipv6): no AAAA record, so HAProxy uses the A record.
  server s1 epsilon.fake.test:${b.port} resolvers testdns init-addr none
`),
    );
    const v = await validateHaproxy(config, dir);
    expect(v.ok, v.output).toBe(true);
    const proc = await startHaproxy({ configPath: config, cwd: dir, waitPorts: [{ host, port }] });
    defer(proc.stop);
    const res = await eventually(async () => {
      const r = await httpGet(`http://${host}:${port}/`);
      if (r.status !== 200) throw new Error(`status ${r.status}`);
      return r;
    }, 10_000);
    expect(res.body).toBe('epsilon');
    expect(dns.queries.some((q) => q.name === 'epsilon.fake.test')).toBe(true);
  });

  it('reports a broken config with HAProxy output', async () => {
    const dir = await scratch('smoke-haproxy-bad');
    const config = path.join(dir, 'haproxy.cfg');
    await writeFile(config, haproxyConfig('frontend fe\n  bind 127.0.0.1:1\n  no_such_keyword x\n'));
    const v = await validateHaproxy(config, dir);
    expect(v.ok).toBe(false);
    expect(v.output).toContain('no_such_keyword');
  });
});
