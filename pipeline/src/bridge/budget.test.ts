import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AimdBudget, type AimdOptions, median, percentileOf } from './budget.ts';

const opts: AimdOptions = {
  minPerS: 2,
  maxPerS: 20,
  initialPerS: 10,
  increasePerS: 1,
  decreaseFactor: 0.5,
  targetLatencyMs: 200,
  targetStartLatencyMs: 50,
  maxGroupEvents: 50,
  maxBacklog: 8,
  intervalMs: 1000,
};

/** One interval in which the budget limited the bridge with groups of `group` events. */
function limitedInterval(b: AimdBudget, t: number, o: { done?: number; start?: number; group?: number } = {}) {
  b.noteFlush([o.group ?? 10, o.group ?? 10], true);
  if (o.done !== undefined) b.observeLatency(o.done, t + 1);
  if (o.start !== undefined) b.observeStartLatency(o.start, t + 1);
  return b.tick(t + 1000);
}

describe('AIMD workflow budget', () => {
  it('holds inside an interval and without demand', () => {
    const b = new AimdBudget(opts, 0);
    b.noteFlush([1, 1], false);
    b.observeLatency(50, 10);
    assert.equal(b.intervalDue(999), false);
    assert.equal(b.tick(999), null);
    assert.equal(b.intervalDue(1000), true);
    const s = b.tick(1000);
    assert.equal(s?.decision, 'hold');
    assert.equal(s?.reason, 'budget not limiting');
    assert.equal(b.perS, 10);
  });

  it('increases additively while the budget limits and latencies are within targets, up to max', () => {
    const b = new AimdBudget(opts, 0);
    for (let i = 0; i < 10; i++) {
      const s = limitedInterval(b, i * 1000, { done: 120, start: 10 });
      assert.equal(s?.decision, 'increase');
    }
    assert.equal(b.perS, 20);
    const s = limitedInterval(b, 10_000, { done: 120, start: 10 });
    assert.equal(s?.decision, 'hold');
    assert.match(s?.reason ?? '', /^at max 20\/s/);
    assert.equal(b.perS, 20);
  });

  it('does not increase without a latency sample to judge by', () => {
    const b = new AimdBudget(opts, 0);
    assert.equal(limitedInterval(b, 0)?.reason, 'no latency sample');
    assert.equal(b.perS, 10);
  });

  it('decreases multiplicatively on a median start latency over the target, down to min', () => {
    const b = new AimdBudget(opts, 0);
    // One slow outlier among fast starts is not congestion (median).
    b.noteFlush([10], true);
    for (const ms of [10, 11, 10, 12, 10, 11, 10, 12, 10, 3000]) b.observeStartLatency(ms, 1);
    b.observeLatency(100, 1);
    assert.equal(b.tick(1000)?.decision, 'increase');
    assert.equal(b.perS, 11);
    for (let i = 1; i <= 3; i++) {
      const s = limitedInterval(b, i * 1000, { start: 90, done: 100 });
      assert.equal(s?.decision, 'decrease');
      assert.match(s?.reason ?? '', /^start latency 90 ms > 50 ms/);
    }
    assert.equal(b.perS, 2);
    assert.match(limitedInterval(b, 4000, { start: 90, done: 100 })?.reason ?? '', /^at min 2\/s/);
  });

  it('a slow completion holds the rate but never cuts it (it grows with the group size)', () => {
    const b = new AimdBudget(opts, 0);
    const s = limitedInterval(b, 0, { start: 10, done: 900 });
    assert.equal(s?.decision, 'hold');
    assert.match(s?.reason ?? '', /completion p90 900 ms > 200 ms: not increasing/);
    assert.equal(b.perS, 10);
  });

  it('a slow tail stops increases even with good medians', () => {
    const b = new AimdBudget(opts, 0);
    b.noteFlush([10], true);
    for (const ms of [50, 60, 70, 80, 90, 100, 110, 120, 130, 800]) b.observeLatency(ms, 1);
    b.observeStartLatency(10, 1);
    const s = b.tick(1000);
    assert.equal(s?.latencyMs, 95);
    assert.equal(s?.latencyP90Ms, 130);
    // One slow sample in ten is beyond the p90: 130 <= 200 increases; two move the p90 over the target.
    assert.equal(s?.decision, 'increase');
    b.noteFlush([10], true);
    for (const ms of [50, 60, 70, 80, 90, 100, 110, 120, 700, 800]) b.observeLatency(ms, 1001);
    b.observeStartLatency(10, 1001);
    const t = b.tick(2000);
    assert.equal(t?.decision, 'hold');
    assert.match(t?.reason ?? '', /completion p90 700 ms > 200 ms/);
    b.noteFlush([10], true);
    b.observeLatency(100, 2001);
    for (const ms of [10, 10, 10, 10, 10, 10, 10, 10, 90, 90]) b.observeStartLatency(ms, 2001);
    assert.match(b.tick(3000)?.reason ?? '', /start p90 90 ms > 50 ms: not increasing/);
    assert.equal(b.perS, 11);
  });

  it('decreases on a slow start acknowledgement (Temporal persistence) even with fast completions', () => {
    const b = new AimdBudget(opts, 0);
    const s = limitedInterval(b, 0, { done: 100, start: 80 });
    assert.equal(s?.decision, 'decrease');
    assert.match(s?.reason ?? '', /^start latency 80 ms > 50 ms/);
    assert.equal(b.perS, 5);
  });

  it('decreases on a task-queue backlog over its bound even with good latency', () => {
    const b = new AimdBudget(opts, 0);
    b.observeBacklog(3);
    b.observeBacklog(9);
    b.observeBacklog(0);
    const s = limitedInterval(b, 0, { done: 50, start: 5 });
    assert.equal(s?.decision, 'decrease');
    assert.equal(s?.backlog, 9);
    assert.equal(b.perS, 5);
  });

  it('holds instead of decreasing when groups are already full (a lower rate would only build lag)', () => {
    const b = new AimdBudget(opts, 0);
    // A flush's last group is usually a remainder: one group at the cap means the budget batches all it can.
    b.noteFlush([50, 50, 7], true);
    const s = limitedInterval(b, 0, { start: 900, group: 50 });
    assert.equal(s?.decision, 'hold');
    assert.match(s?.reason ?? '', /groups are full \(50 events\)/);
    assert.equal(s?.maxGroup, 50);
    assert.equal(b.perS, 10);
  });

  it('ignores samples of workflows started before the last decrease', () => {
    const b = new AimdBudget(opts, 0);
    assert.equal(limitedInterval(b, 0, { start: 900 })?.decision, 'decrease');
    // Completed after the decrease but started before it: the old rate's congestion, not counted again.
    b.noteFlush([10], true);
    b.observeLatency(900, 999);
    b.observeStartLatency(500, 999);
    const s = b.tick(2000);
    assert.equal(s?.decision, 'hold');
    assert.equal(s?.samples, 0);
    assert.equal(s?.starts, 0);
    assert.equal(b.perS, 5);
  });

  it('clamps the initial rate and rejects bad options', () => {
    assert.equal(new AimdBudget({ ...opts, initialPerS: 100 }, 0).perS, 20);
    assert.equal(new AimdBudget({ ...opts, initialPerS: 0 }, 0).perS, 2);
    assert.throws(() => new AimdBudget({ ...opts, minPerS: 0 }, 0), RangeError);
    assert.throws(() => new AimdBudget({ ...opts, maxPerS: 1 }, 0), RangeError);
    assert.throws(() => new AimdBudget({ ...opts, decreaseFactor: 1 }, 0), RangeError);
    assert.throws(() => new AimdBudget({ ...opts, maxGroupEvents: 0 }, 0), RangeError);
  });

  it('a fixed budget (min = max) never moves', () => {
    const b = new AimdBudget({ ...opts, minPerS: 10, maxPerS: 10 }, 0);
    limitedInterval(b, 0, { done: 10, start: 1 });
    limitedInterval(b, 1000, { done: 10, start: 5000 });
    assert.equal(b.perS, 10);
  });

  it('median and percentile', () => {
    assert.equal(percentileOf([], 90), null);
    assert.equal(percentileOf([5], 90), 5);
    assert.equal(percentileOf([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), 9);
    assert.equal(median([]), null);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
  });
});
