/**
 * Reading the proxies' access logs in tests: the JSON lines of a process's output, checked against
 * schemas/access-log.schema.json with ajv.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { repoRoot } from '../harness/index.js';

export interface AccessLogLine {
  time: string;
  proxy: 'envoy' | 'nginx' | 'haproxy';
  workload: string;
  direction: 'inbound' | 'outbound' | 'ingress' | 'egress';
  protocol: 'http' | 'tcp' | 'tls';
  source: string | null;
  sourceAddress: string | null;
  destination: string | null;
  domain: string | null;
  method: string | null;
  path: string | null;
  status: number;
  outcome: 'ok' | 'refused' | 'error';
  reason: string | null;
  detail: string | null;
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  upstream: string | null;
  requestId: string | null;
  traceparent: string | null;
}

let validator: ValidateFunction | undefined;

function validate(): ValidateFunction {
  if (!validator) {
    const require = createRequire(import.meta.url);
    const Ajv2020 = require('ajv/dist/2020').default;
    const addFormats = require('ajv-formats');
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    addFormats(ajv);
    validator = ajv.compile(JSON.parse(readFileSync(path.join(repoRoot, 'schemas', 'access-log.schema.json'), 'utf8'))) as ValidateFunction;
  }
  return validator;
}

/** Every line of `output` that starts with `{`: parsed, and checked against the schema. */
export function accessLogLines(output: string): { lines: AccessLogLine[]; invalid: { line: string; errors: string }[] } {
  const lines: AccessLogLine[] = [];
  const invalid: { line: string; errors: string }[] = [];
  for (const text of output.split('\n')) {
    if (!text.startsWith('{')) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      invalid.push({ line: text, errors: `not JSON: ${(err as Error).message}` });
      continue;
    }
    const check = validate();
    if (!check(value)) {
      invalid.push({ line: text, errors: (check.errors ?? []).map((e: ErrorObject) => `${e.instancePath} ${e.message}`).join('; ') });
      continue;
    }
    lines.push(value as AccessLogLine);
  }
  return { lines, invalid };
}

/** Empty string and null both mean "not known" in the schema. */
export function known(v: string | null): string | undefined {
  return v === null || v === '' ? undefined : v;
}

/** The trace id of a `traceparent` value. */
export function traceId(traceparent: string | null | undefined): string | undefined {
  return /^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent ?? '')?.[1];
}
