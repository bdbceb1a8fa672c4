/**
 * `spec.nginx.streamModule`: the configs load the stream module from where the mesh says (none
 * when it is `builtin`), and `meshc verify` (verifyNginx) names the setting when this machine's
 * nginx has the module elsewhere, with the real `nginx -t` and `nginx -V`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxyOrSkip } from '../../harness/index.js';
import { nginxTarget } from '../../../src/targets/nginx/index.js';
import { verifyNginx } from '../../../src/targets/nginx/verify.js';
import { parseNginxBuild, streamModuleProblem } from '../../../src/targets/nginx/stream-module.js';
import { compileMesh, SAMPLE_MESH, type Compiled } from './compile.js';

const nginx = proxyOrSkip('nginx');
const DEBIAN = '/usr/lib/nginx/modules/ngx_stream_module.so';

const withModule = (value: string) => `${SAMPLE_MESH.trimEnd()}\n  nginx:\n    streamModule: ${value}\n`;

describe('parseNginxBuild', () => {
  it('reads the modules path and how the stream module is built', () => {
    expect(parseNginxBuild('nginx version: nginx/1.22.1\nconfigure arguments: --prefix=/usr/share/nginx --modules-path=/usr/lib/nginx/modules --with-stream=dynamic --with-stream_ssl_module')).toEqual({
      modulesPath: '/usr/lib/nginx/modules',
      stream: 'dynamic',
    });
    expect(parseNginxBuild('configure arguments: --prefix=/etc/nginx --modules-path=/usr/lib/nginx/modules --with-stream --with-stream_ssl_module')).toMatchObject({ stream: 'builtin' });
    expect(parseNginxBuild('configure arguments: --prefix=/usr/local/nginx')).toEqual({ stream: 'none' });
  });
});

describe('streamModuleProblem', () => {
  const conf = `# generated\nload_module ${DEBIAN};\ndaemon off;\nstream {\n}\n`;
  const fedora = { modulesPath: '/usr/lib64/nginx/modules', stream: 'dynamic' as const };
  const has = (...paths: string[]) => (p: string) => paths.includes(p);

  it('is silent when the module is where the config loads it', () => {
    expect(streamModuleProblem('nginx/a.conf', conf, { modulesPath: '/usr/lib/nginx/modules', stream: 'dynamic' }, has(DEBIAN))).toBeUndefined();
  });

  it('names the path this nginx has, at the load_module line', () => {
    expect(streamModuleProblem('nginx/a.conf', conf, fedora, has('/usr/lib64/nginx/modules/ngx_stream_module.so'))).toBe(
      `nginx/a.conf:2:1  the stream module is not at ${DEBIAN} on this machine; this nginx has it at /usr/lib64/nginx/modules/ngx_stream_module.so: set spec.nginx.streamModule: /usr/lib64/nginx/modules/ngx_stream_module.so in mesh.yaml and build again`,
    );
  });

  it('says to install the module when it is nowhere', () => {
    expect(streamModuleProblem('nginx/a.conf', conf, fedora, has())).toMatch(/^nginx\/a\.conf:2:1 .*not at .* nor in \/usr\/lib64\/nginx\/modules.*install the stream module \(Debian, Ubuntu: libnginx-mod-stream; Fedora, RHEL: nginx-mod-stream\)/);
  });

  it('says builtin for an nginx with the module compiled in, and the reverse', () => {
    expect(streamModuleProblem('nginx/a.conf', conf, { stream: 'builtin' }, has())).toMatch(/set spec\.nginx\.streamModule: builtin/);
    const builtin = '# generated\ndaemon off;\nstream {\n}\n';
    expect(streamModuleProblem('nginx/a.conf', builtin, { stream: 'builtin' }, has())).toBeUndefined();
    expect(streamModuleProblem('nginx/a.conf', builtin, { modulesPath: '/usr/lib/nginx/modules', stream: 'dynamic' }, has(DEBIAN))).toBe(
      `nginx/a.conf:3:1  this nginx has the stream module as a module to load (nginx -V: --with-stream=dynamic), and spec.nginx.streamModule says builtin: set it to ${DEBIAN} in mesh.yaml and build again`,
    );
  });

  it('is silent for a config without a stream block', () => {
    expect(streamModuleProblem('nginx/a.conf', '# generated\ndaemon off;\nhttp {\n}\n', { stream: 'none' }, has())).toBeUndefined();
  });
});

describe('spec.nginx.streamModule in the configs', () => {
  const compiled: Compiled[] = [];
  afterAll(async () => {
    for (const c of compiled) await c.cleanup();
  });
  const compile = async (yaml: string) => {
    const c = await compileMesh(yaml, nginxTarget);
    compiled.push(c);
    expect(c.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    return c;
  };
  const content = (c: Compiled, p: string) => c.files.find((f) => f.path === p)!.content;

  it('loads the module from the path given, and from none when it is builtin', async () => {
    const other = await compile(withModule('/opt/nginx/modules/ngx_stream_module.so'));
    expect(content(other, 'nginx/frontend.conf')).toContain('\nload_module /opt/nginx/modules/ngx_stream_module.so;\n');
    const builtin = await compile(withModule('builtin'));
    expect(content(builtin, 'nginx/frontend.conf')).not.toContain('load_module');
    expect(content(builtin, 'nginx/frontend.conf')).toContain('\nstream {\n');
  });

  describe.skipIf(!nginx.path)('meshc verify with the real nginx', () => {
    let wrong: Compiled;
    beforeAll(async () => {
      wrong = await compile(withModule('/opt/elsewhere/ngx_stream_module.so'));
    });

    it('fails a config loading the module from a path this machine lacks, naming the path it has', async () => {
      const results = await verifyNginx(wrong.out, nginx.path!);
      const frontend = results.find((r) => r.file === 'nginx/frontend.conf')!;
      expect(frontend.ok).toBe(false);
      expect(frontend.output.split('\n')[0]).toMatch(
        /^nginx\/frontend\.conf:\d+:1 {2}the stream module is not at \/opt\/elsewhere\/ngx_stream_module\.so on this machine; this nginx has it at \/usr\/lib\/nginx\/modules\/ngx_stream_module\.so: set spec\.nginx\.streamModule: \/usr\/lib\/nginx\/modules\/ngx_stream_module\.so in mesh\.yaml/,
      );
      // The ingress gateway uses no stream block: it loads nothing and passes.
      expect(results.find((r) => r.file === 'nginx/ingress-gateway.conf')!.ok).toBe(true);
    });
  });
});
