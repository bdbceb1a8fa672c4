import { open } from 'node:fs/promises';

/** What readBounded read: at most `limit + 1` bytes, so a longer input is known to be too large. */
export interface BoundedRead {
  bytes: Buffer;
  /** The input holds more than `limit` bytes (`bytes` then holds only its first `limit + 1`). */
  tooLarge: boolean;
  /** The size a regular file reports; undefined for pipes, devices and other streams. */
  size?: number;
}

const CHUNK = 64 * 1024;

/**
 * Reads a file of any kind (regular, pipe, character device such as /dev/zero, /dev/stdin) but
 * never more than `limit + 1` bytes: the size a regular file reports is not trusted for others,
 * which report 0 and may never end. Errors are the file system's (ENOENT, EISDIR, ...).
 */
export async function readBounded(file: string, limit: number): Promise<BoundedRead> {
  const fh = await open(file, 'r');
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${file}'`), { code: 'EISDIR', syscall: 'read', path: file });
    const size = st.isFile() ? st.size : undefined;
    if (size !== undefined && size > limit) return { bytes: Buffer.alloc(0), tooLarge: true, size };
    // A regular file is read in one call of its size (plus one byte, in case it grew meanwhile).
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const want = Math.min(size !== undefined ? size + 1 : CHUNK, limit + 1 - total);
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, null);
      if (bytesRead === 0) break;
      chunks.push(bytesRead === want ? buf : buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > limit) return { bytes: Buffer.concat(chunks, total), tooLarge: true, ...(size !== undefined ? { size } : {}) };
    }
    return { bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total), tooLarge: false, ...(size !== undefined ? { size } : {}) };
  } finally {
    await fh.close();
  }
}
