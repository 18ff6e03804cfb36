/**
 * The CI summary's failure digest, read from the real runners' output: Node's test runner (TAP into a pipe, spec on
 * a terminal) and `bun test`, each running a small fixture file with a passing, a failing and a nested failing test.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../src/paths.ts';
import { countTests, failureDigest } from '../src/run-suites.ts';

const dir = mkdtempSync(join(tmpdir(), 'pep-digest-'));
const fixture = join(dir, 'fixture.test.ts');
writeFileSync(
  fixture,
  [
    "import assert from 'node:assert/strict';",
    "import { describe, test } from 'node:test';",
    "test('adds', () => assert.equal(1 + 1, 2));",
    "test('the total reconciles', () => assert.equal(3, 4, 'totals differ by 1 minor unit'));",
    "describe('a suite', () => { test('inner', () => { throw new Error('inner boom'); }); });",
    '',
  ].join('\n'),
);

function run(command: string, args: string[]): string {
  // Without NODE_TEST_CONTEXT, which would make the child report to this runner instead of printing.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const res = spawnSync(command, args, { cwd: dir, encoding: 'utf8', env: { ...env, FORCE_COLOR: '0' } });
  assert.notEqual(res.status, 0, 'the fixture has failing tests');
  return `${res.stdout}${res.stderr}`;
}

function assertDigest(output: string) {
  const digest = failureDigest(output);
  const names = digest.filter((l) => !l.startsWith('    '));
  assert.equal(names.length, 2, digest.join('\n'));
  assert.match(names[0] as string, /the total reconciles/);
  assert.match(names[1] as string, /inner/);
  assert.ok(
    digest.some((l) => l.includes('totals differ by 1 minor unit')),
    digest.join('\n'),
  );
  assert.ok(
    digest.some((l) => l.includes('inner boom')),
    digest.join('\n'),
  );
  assert.deepEqual(countTests(output), { passed: 1, failed: 2 });
}

describe('failureDigest', () => {
  test("Node's TAP reporter (its output into a pipe)", () => {
    assertDigest(run(process.execPath, ['--test', '--test-reporter=tap', fixture]));
  });
  test("Node's spec reporter", () => {
    assertDigest(run(process.execPath, ['--test', '--test-reporter=spec', fixture]));
  });
  test('bun test', () => {
    assertDigest(run(join(REPO_ROOT, 'node_modules', '.bin', 'bun'), ['test', fixture]));
  });
  test('a passing run has no digest', () => {
    assert.deepEqual(failureDigest('ok 1 - adds\n# pass 1\n# fail 0\n'), []);
  });
});
