import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultSchedules, tickInputOf, validateSchedule } from './schedules.ts';
import { defaultGraph } from './steps/index.ts';

test('every schedule names known steps, one partitioning, an explicit overlap policy and catch-up window', () => {
  const g = defaultGraph();
  for (const d of defaultSchedules({})) {
    validateSchedule(d, g);
    assert.ok(d.overlap && d.catchupWindow, d.name);
  }
});

test('a window step needs ticks as long as its window; bad definitions are refused', () => {
  const g = defaultGraph();
  const base = defaultSchedules({})[0];
  assert.ok(base);
  assert.throws(() => validateSchedule({ ...base, every: '10m' }, g), /needs every: 5m/);
  assert.throws(() => validateSchedule({ ...base, cron: '* * * * *' }, g), /set every or cron/);
  assert.throws(
    () => validateSchedule({ ...base, steps: ['reconcile.check', 'controls.daily-totals'] }, g),
    /share one/,
  );
  assert.throws(() => validateSchedule({ ...base, steps: ['x.y'] }, g), /unknown step/);
});

test('the definition hash changes with the definition and only with it', () => {
  const [d] = defaultSchedules({});
  assert.ok(d);
  const h = tickInputOf(d, 'q').definitionHash;
  assert.equal(tickInputOf({ ...d }, 'q').definitionHash, h);
  assert.notEqual(tickInputOf({ ...d, catchupWindow: '20m' }, 'q').definitionHash, h);
  assert.notEqual(tickInputOf(d, 'other-queue').definitionHash, h);
});
