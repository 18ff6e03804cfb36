import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventLoopLagSampler, type LagClock } from './loop-lag.ts';
import { EdgeMetrics } from './metrics.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const over = (m: EdgeMetrics, le: number) => {
  const line = m
    .render()
    .split('\n')
    .find((l) => l.startsWith(`edge_event_loop_lag_seconds_bucket{le="${le}"}`));
  const total = m.eventLoopLag.count();
  return total - Number(line?.split(' ')[1] ?? total);
};

/** A clock whose time moves only when the test says so, and whose one pending timer fires when the test says so. */
class ManualClock implements LagClock {
  time = 1000;
  pending: { fn: () => void; ms: number } | null = null;
  now(): number {
    return this.time;
  }
  setTimer(fn: () => void, ms: number): unknown {
    assert.equal(this.pending, null, 'the sampler keeps one timer at a time');
    this.pending = { fn, ms };
    return this.pending;
  }
  clearTimer(timer: unknown): void {
    if (timer === this.pending) this.pending = null;
  }
  /** The loop reaches the timer `lateMs` after it was due. */
  fire(lateMs: number): void {
    const p = this.pending;
    assert.ok(p, 'a timer is armed');
    this.pending = null;
    this.time += p.ms + lateMs;
    p.fn();
  }
}

test('each sample is how late the timer fired: on time is zero lag, a held loop is its delay', () => {
  const metrics = new EdgeMetrics();
  const clock = new ManualClock();
  const sampler = new EventLoopLagSampler(metrics.eventLoopLag, 10, clock);
  sampler.start();
  assert.equal(clock.pending?.ms, 10, 'armed at the interval');
  sampler.start();
  clock.fire(0);
  clock.fire(0);
  clock.fire(2);
  assert.equal(metrics.eventLoopLag.count(), 3);
  assert.equal(over(metrics, 0.001), 1, 'only the 2 ms late sample is over 1 ms');
  clock.fire(80);
  assert.equal(over(metrics, 0.05), 1, 'the 80 ms hold is one sample over 50 ms');
  assert.equal(over(metrics, 0.1), 0, 'and under 100 ms');
  // the next due time counts from when the late timer ran, so one hold is not counted again
  clock.fire(0);
  assert.equal(over(metrics, 0.001), 2);
  assert.equal(metrics.eventLoopLag.count(), 5);
});

test('stop() ends the sampling and start() after it begins again', () => {
  const metrics = new EdgeMetrics();
  const clock = new ManualClock();
  const sampler = new EventLoopLagSampler(metrics.eventLoopLag, 10, clock);
  sampler.start();
  clock.fire(0);
  sampler.stop();
  assert.equal(clock.pending, null, 'no timer left armed');
  sampler.start();
  clock.fire(0);
  assert.equal(metrics.eventLoopLag.count(), 2);
});

test('on the real event loop, a blocked loop shows as a late sample', async () => {
  // Only what load cannot undo is asserted: the timer cannot fire during a busy 80 ms block, so the sample that
  // follows is at least 80 ms minus one interval late, however slowly the machine schedules this process.
  const metrics = new EdgeMetrics();
  const sampler = new EventLoopLagSampler(metrics.eventLoopLag, 10);
  sampler.start();
  await sleep(15);
  const before = over(metrics, 0.05);
  const until = performance.now() + 80;
  while (performance.now() < until) {
    /* block the loop for 80 ms */
  }
  const deadline = performance.now() + 5000;
  while (over(metrics, 0.05) === before && performance.now() < deadline) await sleep(5);
  sampler.stop();
  assert.ok(over(metrics, 0.05) > before, 'the 80 ms block is a sample over 50 ms');
});
