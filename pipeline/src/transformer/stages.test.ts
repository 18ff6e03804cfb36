/**
 * The stage timeline (the pipeline bench's per-stage breakdown): each boundary charges the time since the previous one
 * to the stage that ran, entries are counted, pause stops the clock, reset forgets a warm-up, and the snapshot lists
 * the loop's stages in their order with totals that add up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StageTimeline, TRANSFORMER_STAGES } from './stages.ts';

/** Busy for at least `ms` of wall time (and so of CPU time). */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // burn CPU
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('each stage is charged the wall and CPU time until the next boundary; a pause charges nobody', async () => {
  const t = new StageTimeline();
  const start = performance.now();
  t.enter('transform');
  spin(30);
  t.enter('txn_produce');
  await sleep(40);
  t.enter('transform');
  spin(10);
  t.pause();
  const timed = performance.now() - start;
  await sleep(30); // paused: charged to nobody
  const snap = t.snapshot();
  const by = new Map(snap.stages.map((s) => [s.stage, s]));
  const transform = by.get('transform');
  const produce = by.get('txn_produce');
  assert.ok(transform && produce);
  assert.equal(transform.entries, 2);
  assert.equal(produce.entries, 1);
  // Lower bounds only: on a loaded machine a stage may take longer, never shorter.
  assert.ok(transform.wallMs >= 40, `transform wall ${transform.wallMs}`);
  assert.ok(transform.cpuMs > 0, 'spinning is CPU time');
  assert.ok(produce.wallMs >= 35, `produce wall ${produce.wallMs}`);
  // Totals are the sums, and they cover exactly the timed span: the paused sleep is charged to no stage.
  assert.ok(Math.abs(snap.wallMs - (transform.wallMs + produce.wallMs)) < 1e-6);
  assert.ok(snap.wallMs <= timed + 1e-6, `paused time not charged (total ${snap.wallMs}, timed ${timed})`);
});

test('stages come out in loop order, unknown ones last; reset forgets what ran before', () => {
  const t = new StageTimeline();
  t.enter('custom');
  t.enter('txn_end');
  t.enter('fetch');
  t.enter('transform');
  assert.deepEqual(
    t.snapshot().stages.map((s) => s.stage),
    ['fetch', 'transform', 'txn_end', 'custom'],
  );
  assert.ok(TRANSFORMER_STAGES.indexOf('fetch') < TRANSFORMER_STAGES.indexOf('txn_end'));
  spin(5);
  const resetAt = performance.now();
  t.reset();
  const after = t.snapshot();
  const since = performance.now() - resetAt;
  assert.deepEqual(
    after.stages.map((s) => s.stage),
    ['transform'],
    'only the running stage survives a reset',
  );
  assert.equal(after.stages[0]?.entries, 1);
  assert.ok((after.stages[0]?.wallMs ?? Number.POSITIVE_INFINITY) <= since + 1e-6, 'and is timed from the reset');
});
