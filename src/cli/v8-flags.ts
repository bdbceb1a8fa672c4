/**
 * V8 settings for the short-lived `meshc` process, applied before anything else is evaluated
 * (main.ts imports this first; worker threads inherit it).
 *
 * V8 optimizes a function with TurboFan once it has run for an "interrupt budget" of bytecode.
 * A build runs for about a second, much of it in code that is hot only briefly, and profiling a
 * 1,000-service build (perf, cpu-clock) put a fifth of its CPU in TurboFan compiling, on the same
 * two cores the build needs. With a budget nine times the default only the code that stays hot
 * is optimized: the warm 1,000-service build took 1.28-1.30 s instead of 1.42-1.56 s (user CPU
 * 1.8 s instead of 2.3 s), and 5,000 services the same 9.0 s. A library caller's process is its
 * own: `build()` does not change it.
 *
 * For the same reason TurboFan does not inline: each isolate (the main thread's and the emit
 * worker's) compiles the YAML emitter's large functions for itself, and with inlining that was
 * 200 ms of compiling per 1,000-service build, 120 ms without. The code it makes is a little
 * slower, and the build faster: warm build at 1,000 services 730 -> 700 ms in memory, CPU
 * 1264 -> 1222 ms (median of 10, interleaved); 5,000 services 5.4-6.0 -> 5.2-5.7 s.
 * MESHC_TURBO_INLINING=1 keeps V8's default, for measuring.
 */
import { setFlagsFromString } from 'node:v8';

export const INTERRUPT_BUDGET = 600_000;

/** MESHC_INTERRUPT_BUDGET overrides it, for measuring (V8's own default is 67584). */
function budget(): number {
  const set = Number(process.env.MESHC_INTERRUPT_BUDGET);
  return Number.isSafeInteger(set) && set > 0 ? set : INTERRUPT_BUDGET;
}

// V8 12 and later (Node 22, 24) have no --interrupt-budget and would print "unrecognized flag" on
// every run: there V8's own tiering stands.
if (Number(process.versions.v8.split('.')[0]) <= 11) setFlagsFromString(`--interrupt-budget=${budget()}`);
if (process.env.MESHC_TURBO_INLINING !== '1') setFlagsFromString('--no-turbo-inlining');
