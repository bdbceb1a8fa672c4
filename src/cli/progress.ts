/**
 * A one-line progress counter on a terminal (stderr); nothing at all when stderr is not a TTY,
 * so CI logs and pipes stay clean. Shown only for batches worth watching.
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
