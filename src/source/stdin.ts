/**
 * `-f -`: the mesh file read from standard input, named `<stdin>` in diagnostics. The CLI reads it
 * once before the command runs; readers of the mesh file take these bytes for that name.
 */
import { UserError } from '../errors.js';

export const STDIN_NAME = '<stdin>';
let content: Buffer | undefined;

/**
 * Reads standard input (once), at most `limit` bytes (a reader of more than the parser accepts
 * stops there, and the parser reports the file as too large), and returns the name to use for it.
 */
export async function readStdin(limit: number, stream: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (content !== undefined) return STDIN_NAME;
  if (stream.isTTY) throw new UserError('-f - reads the mesh from standard input, which is a terminal here', 2, 'pipe the file in: meshc validate -f - < mesh.yaml');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= limit) break;
  }
  content = Buffer.concat(chunks).subarray(0, limit);
  return STDIN_NAME;
}

/** The bytes read for `<stdin>`, if `file` names them. */
export function stdinBytes(file: string): Buffer | undefined {
  return file === STDIN_NAME ? content : undefined;
}
