import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadConfig } from '../server.ts';
import { IdleScavenger, type NewSpace } from './idle-gc.ts';

const tick = () => new Promise((r) => setImmediate(r));

test('idle scavenger: collects only past its fill, once per idle moment, and only if still idle', async () => {
  const calls: unknown[] = [];
  let space: NewSpace = { used: 10, available: 90 };
  const s = new IdleScavenger(
    0.75,
    (o) => calls.push(o),
    () => space,
  );
  assert.equal(s.enabled, true);
  assert.equal(s.collectIfFull(), false, '10 % used');
  space = { used: 80, available: 20 };
  assert.equal(s.collectIfFull(), true);
  assert.deepEqual(calls, [{ type: 'minor' }]);

  // idle(): checked after the queued callbacks; twice in a row is one check; busy again by then: nothing
  calls.length = 0;
  let idle = false;
  s.idle(() => idle);
  s.idle(() => idle);
  await tick();
  assert.equal(calls.length, 0, 'busy again when the check ran');
  idle = true;
  s.idle(() => idle);
  s.idle(() => idle);
  await tick();
  assert.equal(calls.length, 1);
  assert.equal(s.collections, 2);
});

test('idle scavenger: off without gc or with fill 0; a fill outside [0, 1) is refused', async () => {
  const off = new IdleScavenger(
    0,
    () => assert.fail('fill 0 never collects'),
    () => ({ used: 99, available: 1 }),
  );
  assert.equal(off.enabled, false);
  assert.equal(off.collectIfFull(), false);
  const noGc = new IdleScavenger(0.5, null, () => ({ used: 99, available: 1 }));
  assert.equal(noGc.enabled, false);
  noGc.idle(() => true);
  await tick();
  assert.equal(noGc.collections, 0);
  for (const bad of [1, -0.1, Number.NaN])
    assert.throws(() => new IdleScavenger(bad, null), /fill must be in \[0, 1\)/);
});

test("idle scavenger with V8's own gc: the young generation's garbage is collected", () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (o: { type: 'minor' }) => void;
  const used = () => getHeapSpaceStatistics().find((x) => x.space_name === 'new_space')?.space_used_size ?? 0;
  const s = new IdleScavenger(0.01, gc);
  assert.equal(s.enabled, true);
  // Measured against what a collection leaves without our garbage: other live young objects (the test runner's) vary.
  gc({ type: 'minor' });
  const baseline = used();
  let garbage: object[] | null = Array.from({ length: 20_000 }, (_, i) => ({ i, s: `x${i}` }));
  assert.equal(garbage.length, 20_000);
  garbage = null;
  const grown = used() - baseline;
  assert.ok(grown > 500_000, `${grown} bytes of young garbage`);
  assert.equal(s.collectIfFull(), true, 'past 1 % full');
  const left = used() - baseline;
  assert.ok(left < grown / 2, `${left} of the ${grown} bytes allocated since the baseline still in use`);
  assert.equal(s.collections, 1);
});

test('ML_IDLE_GC_FILL: default 0.75, 0 turns it off, anything else outside [0, 1) is a clear error', () => {
  assert.equal(loadConfig({}).idleGcFill, 0.75);
  assert.equal(loadConfig({ ML_IDLE_GC_FILL: '0' }).idleGcFill, 0);
  assert.equal(loadConfig({ ML_IDLE_GC_FILL: '0.5' }).idleGcFill, 0.5);
  for (const bad of ['1', '-1', 'x', ''])
    assert.throws(() => loadConfig({ ML_IDLE_GC_FILL: bad }), /ML_IDLE_GC_FILL must be a number in \[0, 1\)/);
});
