/**
 * Where a mesh's certificate state lives: the one place that decides it. Every mesh file gets a
 * directory of its own, `.meshc/<file name without .yaml or .yml>/` beside it, so two meshes in
 * one directory never share a CA. An older meshc kept one state for the whole directory in
 * `.meshc/` itself; a build finds it there and moves it into the mesh's own directory (see
 * prepareCerts), when it belongs to that mesh.
 */
import { statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { STDIN_NAME } from '../source/stdin.js';

/** Names in `.meshc/` that an older meshc's state used: a mesh file with such a name gets a suffix. */
const TAKEN = new Set(['state.json', 'lock', 'builds.json', 'leaf-facts.json', 'private', 'keys.encrypted.json']);

/**
 * A mesh read from a pipe or a device (`-f <(…)`, `-f /dev/stdin`) has no folder of its own: its
 * state is the one `-f -` uses, beside the working directory.
 */
function meshPath(file: string): string {
  try {
    const s = statSync(file);
    if (!s.isFile() && !s.isDirectory()) return resolve(STDIN_NAME);
  } catch {
    // not there (yet): where it is named
  }
  return resolve(file);
}

/** The default state directory of a mesh file. */
export function defaultStateDir(file: string): string {
  return stateDirOf(meshPath(file));
}

function stateDirOf(abs: string): string {
  const name = basename(abs).replace(/\.ya?ml$/i, '') || basename(abs);
  return join(dirname(abs), '.meshc', TAKEN.has(name) ? `${name}.mesh` : name);
}

export interface StateLocation {
  /** The state directory: `--state`, or the mesh file's own. */
  dir: string;
  /** With the default only: the older meshc's shared state directory, to adopt a state from. */
  legacy?: string;
}

/** The state directory for a mesh file and an optional `--state`. */
export function stateLocation(file: string, explicit?: string): StateLocation {
  if (explicit !== undefined) return { dir: resolve(explicit) };
  const abs = meshPath(file);
  return { dir: stateDirOf(abs), legacy: join(dirname(abs), '.meshc') };
}
