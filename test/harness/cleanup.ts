/**
 * Cleanup registration for test files, so everything a test starts is stopped after it even when
 * it fails:
 *
 *   const defer = useCleanup();            // at the top level of a test file (or a describe)
 *   it('...', async () => {
 *     const b = defer(await startHttpBackend({ name: 'a', host: loopbackAddress() }));
 *     const dir = defer(await tempDir('x'));
 *     const envoy = defer(await startEnvoy({ ... }));
 *   });
 *
 * Registers afterEach (runs what was deferred, last first; errors are collected and rethrown
 * after all ran) and afterAll(stopAll) as the backstop for processes.
 */
import { afterAll, afterEach } from 'vitest';
import { stopAll } from './procs.js';

type Disposable =
  | (() => unknown)
  | { stop(): Promise<void> }
  | { close(): Promise<void> }
  | { cleanup(): Promise<void> };

function disposer(x: Disposable): () => Promise<unknown> {
  if (typeof x === 'function') return async () => x();
  if ('stop' in x) return () => x.stop();
  if ('close' in x) return () => x.close();
  return () => x.cleanup();
}

export function useCleanup(): <T extends Disposable>(x: T) => T {
  let pending: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    const fns = pending.reverse();
    pending = [];
    const errors: unknown[] = [];
    for (const fn of fns) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'several cleanups failed');
  });
  afterAll(stopAll);
  return <T extends Disposable>(x: T): T => {
    pending.push(disposer(x));
    return x;
  };
}
