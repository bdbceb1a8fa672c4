/** Whether a process exists (EPERM: it exists but belongs to someone else). For stale lock files and staging directories. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** execa, imported on first use: importing it takes about 70 ms, and most commands run no process. */
export function loadExeca(): Promise<typeof import('execa').execa> {
  return import('execa').then((m) => m.execa);
}
