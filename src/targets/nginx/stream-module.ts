/**
 * Where the nginx found on this machine has its stream module, from `nginx -V`, and what to set in
 * `spec.nginx.streamModule` when a generated config loads it from elsewhere. Distributions differ:
 * Debian and Ubuntu ship it as a module in /usr/lib/nginx/modules (libnginx-mod-stream), Fedora and
 * RHEL in /usr/lib64/nginx/modules (nginx-mod-stream), while nginx.org's packages and Homebrew
 * build it in (`--with-stream`), where a `load_module` line is an error.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface NginxBuild {
  /** `--modules-path`, when nginx was configured with one. */
  modulesPath?: string;
  /** `--with-stream` (built in), `--with-stream=dynamic` (a module to load), or neither. */
  stream: 'builtin' | 'dynamic' | 'none';
}

/** Reads the configure arguments that `nginx -V` prints. */
export function parseNginxBuild(versionOutput: string): NginxBuild {
  const args = /configure arguments:(.*)/.exec(versionOutput)?.[1] ?? '';
  const modulesPath = /--modules-path=(\S+)/.exec(args)?.[1];
  const stream = /--with-stream=dynamic(\s|$)/.test(args) ? 'dynamic' : /--with-stream(\s|$)/.test(args) ? 'builtin' : 'none';
  return { ...(modulesPath ? { modulesPath } : {}), stream };
}

/**
 * What is wrong with how `config` (the text of `file`) gets the stream module on this machine, as
 * one line naming the file, the line and the setting to change; undefined when nothing is.
 */
export function streamModuleProblem(file: string, config: string, build: NginxBuild, exists: (p: string) => boolean = existsSync): string | undefined {
  const lines = config.split('\n');
  const at = lines.findIndex((l) => /^\s*load_module\s+\S+;/.test(l));
  const usesStream = lines.some((l) => /^stream\s*\{/.test(l));
  const found = build.modulesPath && exists(join(build.modulesPath, 'ngx_stream_module.so')) ? join(build.modulesPath, 'ngx_stream_module.so') : undefined;
  const install = 'install the stream module (Debian, Ubuntu: libnginx-mod-stream; Fedora, RHEL: nginx-mod-stream)';
  if (at >= 0) {
    const loaded = /load_module\s+(\S+);/.exec(lines[at])![1];
    if (exists(loaded) && build.stream !== 'builtin') return undefined;
    const where = `${file}:${at + 1}:1`;
    if (build.stream === 'builtin') return `${where}  this nginx has the stream module built in (nginx -V: --with-stream), so loading ${loaded} fails: set spec.nginx.streamModule: builtin in mesh.yaml and build again`;
    if (build.stream === 'none') return `${where}  this nginx has no stream module (nginx -V shows no --with-stream): use an nginx built with it, or ${install}`;
    if (found) return `${where}  the stream module is not at ${loaded} on this machine; this nginx has it at ${found}: set spec.nginx.streamModule: ${found} in mesh.yaml and build again`;
    return `${where}  the stream module is not at ${loaded} on this machine${build.modulesPath ? ` nor in ${build.modulesPath}, where this nginx keeps its modules` : ''}: ${install}, then set spec.nginx.streamModule to its path in mesh.yaml`;
  }
  if (!usesStream || build.stream === 'builtin') return undefined;
  const where = `${file}:${lines.findIndex((l) => /^stream\s*\{/.test(l)) + 1}:1`;
  if (build.stream === 'none') return `${where}  this nginx has no stream module (nginx -V shows no --with-stream): use an nginx built with it, or ${install}`;
  return `${where}  this nginx has the stream module as a module to load (nginx -V: --with-stream=dynamic), and spec.nginx.streamModule says builtin: set it to ${found ?? `its path (${install} first)`} in mesh.yaml and build again`;
}
