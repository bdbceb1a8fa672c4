import { afterEach, describe, expect, it } from 'vitest';
import { findBinary, proxyOrSkip, repoRoot } from './binaries.js';
import { loopbackAddress, freePort, isListening } from './net.js';
import { configuredListenPorts } from './proxies.js';
import net from 'node:net';

const saved = process.env.MESHC_ENVOY;
afterEach(() => {
  if (saved === undefined) delete process.env.MESHC_ENVOY;
  else process.env.MESHC_ENVOY = saved;
});

describe('binaries', () => {
  it('prefers $MESHC_ENVOY, then the project venv', () => {
    process.env.MESHC_ENVOY = '/bin/true';
    expect(findBinary('envoy')).toBe('/bin/true');
    process.env.MESHC_ENVOY = '/nonexistent/envoy';
    const found = findBinary('envoy');
    if (found) expect(found === `${repoRoot}/.venv/envoy/bin/envoy` || found.endsWith('/envoy')).toBe(true);
  });

  it('finds nginx and haproxy (PATH, then /usr/sbin) when installed', () => {
    for (const name of ['nginx', 'haproxy'] as const) {
      const found = findBinary(name);
      if (found) expect(found.endsWith(`/${name}`)).toBe(true);
      expect(proxyOrSkip(name).path).toBe(found);
    }
  });
});

describe('net', () => {
  it('hands out distinct loopback addresses in 127.1-254.1-254.2-254', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const a = loopbackAddress();
      const [o0, o1, o2, o3] = a.split('.').map(Number);
      expect(o0).toBe(127);
      expect(o1).toBeGreaterThanOrEqual(1);
      expect(o1).toBeLessThanOrEqual(254);
      expect(o2).toBeGreaterThanOrEqual(1);
      expect(o2).toBeLessThanOrEqual(254);
      expect(o3).toBeGreaterThanOrEqual(2);
      expect(o3).toBeLessThanOrEqual(254);
      expect(seen.has(a)).toBe(false);
      seen.add(a);
    }
  });

  it('freePort refuses non-loopback hosts', async () => {
    await expect(freePort('0.0.0.0')).rejects.toThrow(/non-loopback/);
  });

  it('isListening reads /proc/net/tcp without connecting', async () => {
    const host = loopbackAddress();
    const server = net.createServer();
    let accepted = 0;
    server.on('connection', () => accepted++);
    await new Promise<void>((r) => server.listen(0, host, r));
    const port = (server.address() as net.AddressInfo).port;
    expect(isListening(host, port)).toBe(true);
    expect(isListening(loopbackAddress(), port)).toBe(false);
    await new Promise((r) => server.close(r));
    expect(isListening(host, port)).toBe(false);
    expect(accepted).toBe(0);
  });

  it('finds listen/bind ports in configs', () => {
    expect(configuredListenPorts('server {\n  listen 127.1.2.3:8080 ssl;\n  # listen 127.9.9.9:1;\n  listen 127.1.2.3:8080;\n}', 'listen')).toEqual([
      { host: '127.1.2.3', port: 8080 },
    ]);
    expect(configuredListenPorts('frontend f\n  bind 127.4.5.6:443 ssl crt x.pem\n  bind 127.4.5.6:80\n', 'bind')).toEqual([
      { host: '127.4.5.6', port: 443 },
      { host: '127.4.5.6', port: 80 },
    ]);
  });
});
