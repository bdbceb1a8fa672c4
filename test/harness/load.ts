/**
 * A bounded, steady request stream for tests that change something under live traffic (a
 * certificate rotation). A ticker starts `ratePerSecond` requests a second, spread over the
 * targets in turn and alternating between a kept-alive connection and a new one (so TLS
 * handshakes keep happening); at most `maxInFlight` run at once, and a tick that would exceed it
 * is counted as `skipped`, so the load never grows without bound on a slow machine.
 *
 * A request whose connection was closed or reset before any response byte arrived is sent once
 * more on a new connection, as RFC 9112 section 9.3.1 lets a client do for an idempotent request
 * (a reloading proxy closes idle and just-accepted connections at that moment); these are counted
 * in `retriedBeforeResponse`. Every other error (a TLS failure, a timeout), a status other than
 * 200, a body mismatch or a failed retry is a failure.
 */
import http from 'node:http';
import https from 'node:https';

/** A connection closed or reset by the server (`socket hang up` is ECONNRESET in Node). */
const CLOSED = new Set(['ECONNRESET', 'EPIPE']);

export interface LoadTarget {
  name: string;
  /**
   * Request options for one request (`fresh`: on a new connection, else through the target's
   * keep-alive agent). `https` picks the module.
   */
  options(fresh: boolean): Promise<https.RequestOptions>;
  https: boolean;
  /** What the body must be (status 200 is always required). */
  expectBody: string;
}

export interface LoadReport {
  /** Per target: completed requests, and failures as `target: error`. */
  ok: Record<string, number>;
  failures: string[];
  retriedBeforeResponse: number;
  skipped: number;
  started: number;
}

export interface Load {
  /** Counts so far (a copy). */
  snapshot(): LoadReport;
  /** Stops starting requests, waits for those in flight, returns the final counts. */
  stop(): Promise<LoadReport>;
}

export function startLoad(opts: { targets: LoadTarget[]; ratePerSecond: number; maxInFlight: number; tickMs?: number }): Load {
  const tickMs = opts.tickMs ?? 20;
  const report: LoadReport = { ok: Object.fromEntries(opts.targets.map((t) => [t.name, 0])), failures: [], retriedBeforeResponse: 0, skipped: 0, started: 0 };
  const agents = new Map(opts.targets.map((t) => [t.name, t.https ? new https.Agent({ keepAlive: true, maxSockets: 4 }) : new http.Agent({ keepAlive: true, maxSockets: 4 })]));
  const inFlight = new Set<Promise<void>>();
  let credit = 0;
  let turn = 0;

  const one = async (target: LoadTarget, fresh: boolean): Promise<void> => {
    const first = await send(target, fresh ? undefined : agents.get(target.name)!, fresh);
    let result = first;
    if (first.kind === 'closed') {
      report.retriedBeforeResponse++;
      result = await send(target, undefined, true);
    }
    if (result.kind === 'ok') report.ok[target.name]++;
    else report.failures.push(`${target.name}${fresh ? ' (new connection)' : ''}: ${result.error}`);
  };

  const timer = setInterval(() => {
    credit += (opts.ratePerSecond * tickMs) / 1000;
    while (credit >= 1) {
      credit--;
      if (inFlight.size >= opts.maxInFlight) {
        report.skipped++;
        continue;
      }
      const target = opts.targets[turn % opts.targets.length];
      const fresh = Math.floor(turn / opts.targets.length) % 2 === 1;
      turn++;
      report.started++;
      const p: Promise<void> = one(target, fresh).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  }, tickMs);

  const copy = (): LoadReport => ({ ...report, ok: { ...report.ok }, failures: [...report.failures] });
  return {
    snapshot: copy,
    async stop() {
      clearInterval(timer);
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      for (const a of agents.values()) a.destroy();
      return copy();
    },
  };

  async function send(target: LoadTarget, agent: http.Agent | undefined, fresh: boolean): Promise<{ kind: 'ok' } | { kind: 'closed' } | { kind: 'failed'; error: string }> {
    let o: https.RequestOptions;
    try {
      o = await target.options(fresh);
    } catch (e) {
      return { kind: 'failed', error: `no request options: ${(e as Error).message}` };
    }
    return new Promise((resolve) => {
      const request = target.https ? https.request : http.request;
      let responded = false;
      const req = request({ ...o, ...(agent ? { agent } : { agent: false, headers: { ...o.headers, connection: 'close' } }), timeout: 15_000 }, (res) => {
        responded = true;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(res.statusCode === 200 && body === target.expectBody ? { kind: 'ok' } : { kind: 'failed', error: `${res.statusCode} ${body.slice(0, 120)}` }));
        res.on('error', (e) => resolve({ kind: 'failed', error: e.message }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e: NodeJS.ErrnoException) => resolve(!responded && CLOSED.has(e.code ?? '') ? { kind: 'closed' } : { kind: 'failed', error: e.message }));
      req.end();
    });
  }
}
