import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { UserError } from '../errors.js';
import { placeExplanation, type PlacedExplanation } from '../explain/place.js';
import { readTests, runStatic, type TestResult } from '../explain/tests.js';
import { locate } from '../source/parse.js';
import { runOrExplain } from './up.js';
import type { ProxyTarget } from '../local/workloads.js';
import { loadPolicy, formatExplanation } from './explain.js';
import { addDebug, addFile } from './options.js';
import { colours, countLine, formatDiagnostics, printJson } from './render.js';
import { action, EXIT } from './run.js';

type Format = 'text' | 'json' | 'junit';

export function registerTest(program: Command): void {
  const cmd = program
    .command('test')
    .description('check the expectations in mesh.test.yaml against the policy (statically, or with real traffic with --live)')
    .option('--tests <file>', 'expectations file (default: mesh.test.yaml beside the mesh file)')
    .option('--live', 'run the mesh on loopback as `meshc up --echo` does and check every expectation with real traffic')
    .addOption(new Option('--target <target>', 'proxy for --live').choices(['envoy', 'nginx', 'haproxy']).default('envoy'))
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'junit']).default('text'))
    .addHelpText('after', `
mesh.test.yaml:
  tests:
    - { from: frontend, to: catalog, expect: allow }
    - { from: frontend, to: evil.example.com, expect: deny }
    - { from: internet, to: "https://shop.example.com/api/cart", expect: allow, route: cart }

Examples:
  $ meshc test                       # static: the engine of \`meshc explain\`
  $ meshc test --format junit > meshc-tests.xml
  $ meshc test --live --target nginx # real proxies on loopback; external domains answered by local stand-ins

A failed expectation prints what \`meshc explain\` says about the call.
Exit codes: 0 every expectation holds, 1 one fails, 2 usage, invalid mesh or tests file, or I/O error.`);
  for (const add of [addFile, addDebug]) add(cmd);
  cmd.action(
    action(async (o: { file: string; tests?: string; live?: boolean; target: string; format: Format }) => {
      const policy = await loadPolicy(o.file);
      const testsFile = o.tests ?? join(dirname(o.file), 'mesh.test.yaml');
      if (!o.tests && !existsSync(testsFile)) {
        throw new UserError(`${testsFile}: no such file`, 2, 'write expectations there (see `meshc test --help`), or pass --tests <file>');
      }
      const read = await readTests(testsFile, policy.mesh, policy.written);
      if (!read.tests) {
        process.stderr.write(formatDiagnostics(read.diagnostics, colours(process.stderr)) + '\n');
        throw new UserError(`${testsFile} is invalid: ${countLine(read.diagnostics)}`, 2);
      }
      let results: TestResult[];
      if (o.live) {
        const { runLive } = await import('../local/live.js');
        const tests = read.tests.tests;
        results = await runOrExplain(policy.source, o.target, () =>
          runLive({ file: o.file, target: o.target as ProxyTarget, mesh: policy.mesh, written: policy.written, tests, log: (line) => process.stderr.write(line + '\n') }),
        );
      } else {
        results = runStatic(policy.mesh, policy.written, read.tests.tests);
      }
      const placed = results.map((r) => ({
        ...r,
        at: locate(read.tests!.source, { code: 'test', severity: 'error', message: '', pointer: r.test.pointer }),
        explanation: placeExplanation(policy.source, r.explanation),
      }));
      const mode = o.live ? `live (${o.target})` : 'static';
      if (o.format === 'json') printJson({ mode, passed: placed.filter((r) => r.passed).length, failed: placed.filter((r) => !r.passed).length, results: placed.map(({ at, ...r }) => ({ ...r, file: at.file, line: at.line, col: at.col })) });
      else if (o.format === 'junit') process.stdout.write(junit(relative(process.cwd(), testsFile) || testsFile, mode, placed));
      else process.stdout.write(text(mode, placed));
      return placed.every((r) => r.passed) ? EXIT.OK : EXIT.FINDINGS;
    }),
  );
}

type Placed = TestResult & { at: { file: string; line: number; col: number }; explanation: PlacedExplanation };

function text(mode: string, results: Placed[]): string {
  const c = colours();
  const lines: string[] = [];
  for (const r of results) {
    const where = `${r.at.file}:${r.at.line}:${r.at.col}`;
    if (r.passed) {
      lines.push(`${c.green('PASS')}  ${r.test.name}: ${r.test.expect}${r.test.route ? ` via ${r.test.route}` : ''}${r.observed ? ` (${r.observed})` : ''}`);
    } else {
      lines.push(`${c.red('FAIL')}  ${c.bold(where)}  ${r.test.name}: ${r.failure}${r.observed ? ` (${r.observed})` : ''}`);
      lines.push(formatExplanation(r.explanation, c, '      '));
    }
  }
  const failed = results.filter((r) => !r.passed).length;
  lines.push(`${mode}: ${results.length - failed} passed, ${failed} failed`);
  return lines.join('\n') + '\n';
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JUnit XML, the format CI systems read: one testcase per expectation, the explanation in a failure. */
function junit(file: string, mode: string, results: Placed[]): string {
  const failed = results.filter((r) => !r.passed).length;
  const plain = colours({ isTTY: false } as NodeJS.WriteStream);
  const cases = results.map((r) => {
    const open = `    <testcase classname="${xml(`meshc.${mode.split(' ')[0]}`)}" name="${xml(`${r.test.name}: ${r.test.expect}`)}" file="${xml(r.at.file)}" line="${r.at.line}"`;
    if (r.passed) return `${open}/>`;
    return `${open}>\n      <failure message="${xml(r.failure ?? '')}">${xml(`${r.at.file}:${r.at.line}:${r.at.col}\n${formatExplanation(r.explanation, plain)}`)}</failure>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="meshc test" tests="${results.length}" failures="${failed}">`,
    `  <testsuite name="${xml(`${file} (${mode})`)}" tests="${results.length}" failures="${failed}" errors="0" skipped="0">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
