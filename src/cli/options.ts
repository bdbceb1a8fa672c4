import { Option, type Command } from 'commander';
import { resolve } from 'node:path';

/** Options shared by every command that takes them; spelled and defaulted identically everywhere. */
export interface CommonOptions {
  file: string;
  out: string;
  state?: string;
  targets?: string;
  format: 'text' | 'json';
  debug?: boolean;
}

export function addFile(cmd: Command): Command {
  return cmd.option('-f, --file <path>', 'mesh file', 'mesh.yaml');
}
export function addOut(cmd: Command): Command {
  return cmd.option('-o, --out <dir>', 'output directory', 'out');
}
export function addState(cmd: Command): Command {
  return cmd.option('--state <dir>', 'certificate state directory (default: .meshc/<mesh file name>/ beside the mesh file)');
}
export function addTargets(cmd: Command): Command {
  return cmd.option('--targets <list>', 'comma-separated targets (default: all)');
}
export function addFormat(cmd: Command): Command {
  return cmd.addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'));
}
export function addQuiet(cmd: Command): Command {
  return cmd.option('-q, --quiet', 'print only errors (no warnings, progress or result line)');
}
export function addDebug(cmd: Command): Command {
  return cmd.option('--debug', 'print stack traces of internal errors');
}

/** `--state` as given (resolved); the default is decided by certs/location.ts. */
export function stateDir(o: { state?: string }): string | undefined {
  return o.state ? resolve(o.state) : undefined;
}

export function targetList(o: { targets?: string }): string[] | undefined {
  if (!o.targets) return undefined;
  return o.targets.split(',').map((s) => s.trim()).filter(Boolean);
}

export function passphrase(): string | undefined {
  const p = process.env.MESHC_STATE_PASSPHRASE;
  return p === undefined || p === '' ? undefined : p;
}
