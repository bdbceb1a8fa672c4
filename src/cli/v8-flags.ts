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
 */
import { setFlagsFromString } from 'node:v8';

export const INTERRUPT_BUDGET = 600_000;

/** MESHC_INTERRUPT_BUDGET overrides it, for measuring (V8's own default is 67584). */
function budget(): number {
  const set = Number(process.env.MESHC_INTERRUPT_BUDGET);
  return Number.isSafeInteger(set) && set > 0 ? set : INTERRUPT_BUDGET;
}

setFlagsFromString(`--interrupt-budget=${budget()}`);
