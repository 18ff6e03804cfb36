import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventLoopLagSampler } from './loop-lag.ts';
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

test('a blocked event loop shows as lag; an idle one does not', async () => {
  const metrics = new EdgeMetrics();
  const sampler = new EventLoopLagSampler(metrics.eventLoopLag, 10);
  sampler.start();
  await sleep(120);
  const idle = metrics.eventLoopLag.count();
  assert.ok(idle >= 3, 'the timer samples while the loop is free');
  // On a loaded machine an idle process is also scheduled late now and then: most idle samples, not all, are short.
  const idleLate = over(metrics, 0.05);
  assert.ok(idleLate < idle / 2, `most idle samples under 50 ms (${idleLate} of ${idle} over)`);
  const until = performance.now() + 80;
  while (performance.now() < until) {
    /* block the loop for 80 ms */
  }
  await sleep(30);
  sampler.stop();
  assert.ok(over(metrics, 0.05) - idleLate >= 1, 'the 80 ms block is a sample over 50 ms');
  const after = metrics.eventLoopLag.count();
  await sleep(40);
  assert.equal(metrics.eventLoopLag.count(), after, 'stop() ends the sampling');
});
