// Runs one build in this process and prints {ms, maxRssMb} as JSON: used by compiler.mjs so each
// measurement starts from a fresh process, as `meshc build` in CI does.
import { build } from '../dist/index.js';

const [file, out, state, check] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
const cpu0 = process.cpuUsage();
const r = await build({ file, out, state, check: check === 'check' });
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
const cpu = process.cpuUsage(cpu0);
if (!r.ok) {
  console.error(JSON.stringify(r.diagnostics.filter((d) => d.severity === 'error').slice(0, 5)));
  process.exit(1);
}
const written = r.plan ? r.plan.added.length + r.plan.changed.length + r.plan.removed.length : 0;
console.log(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, maxRssMb: process.resourceUsage().maxRSS / 1024, files: r.fileCount ?? null, cached: r.cached ?? false, written, upToDate: r.plan?.upToDate ?? false }));
