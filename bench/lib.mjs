// Small shared helpers for the benchmark scripts: timing, tables, JSON results.
import { mkdirSync, writeFileSync } from 'node:fs';

export async function timeit(fn, { runs = 5, warmup = 1 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], min: times[0], max: times[times.length - 1], runs };
}

/**
 * rows: {figure, value, unit, target?, better: 'lower'|'higher', invalid?}. A row with `invalid`
 * (why its value measures nothing) shows `n/a` instead of yes or NO, and the reason under the table.
 */
export function printTable(title, rows) {
  const fmt = (v) => (typeof v === 'number' ? (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) : String(v ?? ''));
  const lines = [['figure', 'value', 'target', 'ratio', 'ok']];
  for (const r of rows) {
    const ratio = r.target ? (r.better === 'higher' ? r.target / r.value : r.value / r.target) : undefined;
    lines.push([r.figure, `${fmt(r.value)} ${r.unit}`, r.target ? `${r.better === 'higher' ? '≥' : '≤'} ${fmt(r.target)} ${r.unit}` : '', ratio ? ratio.toFixed(2) : '', ratio === undefined ? '' : r.invalid ? 'n/a' : ratio <= 1 ? 'yes' : 'NO']);
  }
  const w = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  console.log(`\n${title}`);
  for (const [i, l] of lines.entries()) {
    console.log('  ' + l.map((c, j) => c.padEnd(w[j])).join('  '));
    if (i === 0) console.log('  ' + w.map((n) => '-'.repeat(n)).join('  '));
  }
  for (const reason of new Set(rows.map((r) => r.invalid).filter(Boolean))) console.log(`  n/a: ${reason}`);
  return rows.map((r) => ({ ...r, ratio: r.target ? (r.better === 'higher' ? r.target / r.value : r.value / r.target) : null }));
}

export function saveResults(name, data) {
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL(`./results/${name}.json`, import.meta.url), JSON.stringify(data, null, 2) + '\n');
}
