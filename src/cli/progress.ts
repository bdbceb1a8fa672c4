/**
 * One-line progress counters on a terminal (stderr); nothing at all when stderr is not a TTY (or with
 * --quiet), so CI logs and pipes stay clean. Shown only for batches worth watching.
 */
export function progressReporter(label: string, stream: NodeJS.WriteStream = process.stderr): ((done: number, total: number) => void) | undefined {
  if (!stream.isTTY) return undefined;
  let last = 0;
  return (done, total) => {
    if (total < 20) return;
    const now = Date.now();
    if (done < total && now - last < 100) return;
    last = now;
    stream.write(`\r${label}: ${done}/${total}${done === total ? '\n' : ''}`);
  };
}

/**
 * A running count whose total is not known in advance (files rendered and written). `end()` finishes
 * the line; nothing is drawn for fewer than `min` items, or when the stream is not a TTY.
 */
export function countReporter(label: string, stream: NodeJS.WriteStream = process.stderr, min = 200): { update(n: number): void; end(): void } | undefined {
  if (!stream.isTTY) return undefined;
  let last = 0;
  let shown = false;
  let count = 0;
  return {
    update(n) {
      count = n;
      const now = Date.now();
      if (n < min || now - last < 100) return;
      last = now;
      shown = true;
      stream.write(`\r${label}: ${n} files`);
    },
    end() {
      if (shown) stream.write(`\r${label}: ${count} files\n`);
    },
  };
}
