/** The shared Handlebars helper (strict, no escaping) and the nginx verify helper. */
import { describe, expect, it } from 'vitest';
import { duration, perEndpoint, render, subjectRfc2253, templateSources, verifyName } from '../../../src/targets/render.js';
import { staticUpstreamNames } from '../../../src/targets/nginx/verify.js';

describe('render', () => {
  it('finds a target\'s templates in its folder', () => {
    expect([...templateSources('nginx').keys()]).toContain('sidecar');
  });

  it('is strict: a printed field missing from the view model throws instead of printing nothing', () => {
    // (Handlebars checks printed fields; `{{#if}}` conditions are not checked, the typed view
    // models cover those.)
    expect(() => render('nginx', 'upstream', { block: 'b', balance: '', servers: [{ params: '' }], keepalive: false, keepaliveTimeout: '' })).toThrow(/address/);
  });

  it('does not HTML-escape', () => {
    const out = render('nginx', 'upstream', { block: 'b', balance: 'hash $http_x&y consistent', servers: [{ address: '127.0.0.1:1', params: '' }], keepalive: false, keepaliveTimeout: '' });
    expect(out).toBe('upstream b {\n    hash $http_x&y consistent;\n    server 127.0.0.1:1;\n}\n');
  });

  it('spells durations and identities as both proxies read them', () => {
    expect([duration(250), duration(5000), duration(120_000), duration(3_600_000), duration(1500)]).toEqual(['250ms', '5s', '2m', '1h', '1500ms']);
    expect(subjectRfc2253('cart', 'shop', 'shop.example')).toBe('CN=cart,OU=shop,O=shop.example');
    expect(verifyName('shop', 'cart')).toBe('cart.shop.svc.cluster.local');
    expect([perEndpoint(10, 3), perEndpoint(1, 4), perEndpoint(5, 0)]).toEqual([4, 1, 5]);
  });
});

describe('verifyNginx helpers', () => {
  it('lists the host names of static upstream servers, not IPs nor names outside upstream blocks', () => {
    const conf = [
      'upstream a {',
      '    server cart.shop.svc.cluster.local:15443 weight=1 max_fails=0;',
      '    server 127.0.0.2:15443 weight=1;',
      '    keepalive 16;',
      '}',
      'server {',
      '    listen 127.0.0.1:80;',
      '    server_name shop.example.com;',
      '}',
      'upstream b {',
      '    server search-a.shop.svc.cluster.local:15443;',
      '    server cart.shop.svc.cluster.local:15443;',
      '}',
    ].join('\n');
    expect(staticUpstreamNames(conf)).toEqual(['cart.shop.svc.cluster.local', 'search-a.shop.svc.cluster.local']);
  });
});
