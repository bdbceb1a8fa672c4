/**
 * A real Prometheus (Debian's `prometheus` package) for the metrics scenarios: it scrapes the
 * given targets on loopback every second, keeps its data in a temporary directory, and answers
 * PromQL over its HTTP API. Stop it with the returned Proc (useCleanup's defer).
 */
import { accessSync, constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort, loopbackAddress } from './net.js';
import { startProcess, type Proc } from './procs.js';

export interface ScrapeTarget {
  /** `host:port` serving the metrics path. */
  address: string;
  /** Target labels Prometheus adds to every series of this target. */
  labels?: Record<string, string>;
}

export interface PrometheusServer extends Proc {
  /** `http://host:port` of its API and UI. */
  url: string;
  /** An instant query; the vector's samples as { labels, value }. */
  query(expr: string): Promise<Sample[]>;
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Where Prometheus is: $MESHC_PROMETHEUS, PATH, /usr/bin. Under CI=true a missing one fails the file. */
export function prometheusOrSkip(): { path?: string } {
  const candidates = [process.env.MESHC_PROMETHEUS, ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, 'prometheus')), '/usr/bin/prometheus'];
  for (const c of candidates) {
    if (!c) continue;
    try {
      accessSync(c, constants.X_OK);
      return { path: c };
    } catch {
      /* next */
    }
  }
  if (process.env.CI === 'true') throw new Error('prometheus not found: run scripts/install-test-tools.sh (Debian package prometheus)');
  console.warn('skipping the metrics scenario: prometheus not found; run scripts/install-test-tools.sh');
  return {};
}

export async function startPrometheus(o: { bin: string; dir: string; targets: ScrapeTarget[]; metricsPath?: string }): Promise<PrometheusServer> {
  const host = loopbackAddress();
  const port = await freePort(host);
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 900ms',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: mesh',
    `    metrics_path: ${o.metricsPath ?? '/metrics'}`,
    '    static_configs:',
    ...o.targets.flatMap((t) => [
      `      - targets: [${JSON.stringify(t.address)}]`,
      `        labels: ${JSON.stringify(t.labels ?? {})}`,
    ]),
    '',
  ].join('\n');
  const configPath = path.join(o.dir, 'prometheus.yml');
  await writeFile(configPath, config);
  const url = `http://${host}:${port}`;
  const proc = await startProcess(
    o.bin,
    [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${path.join(o.dir, 'data')}`,
      `--web.listen-address=${host}:${port}`,
      '--log.level=warn',
    ],
    {
      cwd: o.dir,
      ready: async () => {
        const res = await fetch(`${url}/-/ready`);
        if (!res.ok) throw new Error(`prometheus not ready: ${res.status}`);
      },
      readyTimeoutMs: 60_000,
    },
  );
  return {
    ...proc,
    url,
    query: async (expr: string) => {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success' || !body.data) throw new Error(`prometheus query ${expr}: ${body.error ?? res.status}`);
      if (body.data.resultType !== 'vector') throw new Error(`prometheus query ${expr}: a ${body.data.resultType}, not a vector`);
      return body.data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
    },
  };
}
