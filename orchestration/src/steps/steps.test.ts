import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lastJsonObject } from './command.ts';
import { classifyChecks } from './reconcile.ts';

test('a command result is the last JSON object on stdout, one-line or pretty-printed', () => {
  assert.deepEqual(lastJsonObject('progress\n{"a":1}\n{"b":2}\n'), { b: 2 });
  assert.deepEqual(lastJsonObject(JSON.stringify({ x: { y: [1] } }, null, 2)), { x: { y: [1] } });
  assert.deepEqual(lastJsonObject(`log line\n${JSON.stringify({ v: 'ok' }, null, 2)}\n`), { v: 'ok' });
  assert.equal(lastJsonObject('no json here\n{broken'), null);
});

test('reconciliation checks that only wait for records in flight are told apart from definite failures', () => {
  const report = (checks: { name: string; ok: boolean }[], duplicates = 0) => ({
    checks: checks.map((c) => ({ ...c, detail: '' })),
    stages: { placement: { duplicate_outputs: duplicates } },
  });
  let r = classifyChecks(
    report([
      { name: 'transformer caught up', ok: false },
      { name: 'x', ok: true },
    ]),
  );
  assert.equal(r.inFlight.length, 1);
  assert.equal(r.definite.length, 0);
  r = classifyChecks(report([{ name: 'every raw record placed exactly once', ok: false }], 2));
  assert.equal(r.definite.length, 1);
  r = classifyChecks(report([{ name: 'every row written by a completed workflow', ok: false }]));
  assert.equal(r.definite.length, 1);
});
