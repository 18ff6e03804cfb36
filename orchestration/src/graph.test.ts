import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planBackfill } from './activities.ts';
import { GraphError, StepGraph } from './graph.ts';
import type { StepDefinition } from './step.ts';
import { defaultGraph } from './steps/index.ts';

const step = (name: string, upstream: string[] = [], minutes?: number): StepDefinition => ({
  name,
  description: name,
  owner: 'test',
  partitioning: minutes ? { kind: 'window', minutes } : { kind: 'day' },
  upstream,
  timeoutMs: 1000,
  run: async () => ({ outputs: {} }),
});

test('orders steps upstream first and finds downstream steps', () => {
  const g = new StepGraph([step('c.c', ['b.b']), step('a.a'), step('b.b', ['a.a'])]);
  assert.deepEqual(g.names(), ['a.a', 'b.b', 'c.c']);
  assert.deepEqual(g.downstream('a.a'), ['b.b']);
  assert.deepEqual(g.sort(['c.c', 'a.a']), ['a.a', 'c.c']);
});

test('rejects cycles, unknown upstream steps, duplicates, mixed partitioning', () => {
  assert.throws(() => new StepGraph([step('a.a', ['b.b']), step('b.b', ['a.a'])]), /cycle/);
  assert.throws(() => new StepGraph([step('a.a', ['x.x'])]), /unknown upstream step x\.x/);
  assert.throws(() => new StepGraph([step('a.a'), step('a.a')]), /registered twice/);
  assert.throws(() => new StepGraph([step('a.a', [], 5), step('b.b', ['a.a'])]), /cannot consume/);
  assert.throws(() => new StepGraph([step('Bad')]), GraphError);
});

test('the platform graph: analytical chain and the operations that exist today', () => {
  const g = defaultGraph();
  const names = g.names();
  const before = (a: string, b: string) => assert.ok(names.indexOf(a) < names.indexOf(b), `${a} before ${b}`);
  before('lake.ingest', 'lake.compact');
  before('lake.compact', 'dbt.build');
  before('dbt.build', 'ml.train');
  before('ml.train', 'ml.drift');
  before('lake.expire', 'lake.orphans');
  assert.ok(g.has('reconcile.check') && g.has('quarantine.review-timeouts') && g.has('controls.daily-totals'));
});

test('backfill input: unknown step, inverted range, future day, window step are clear errors', () => {
  const g = defaultGraph();
  const now = new Date('2026-12-05T12:00:00Z');
  const plan = planBackfill(g, { from: '2026-12-01', to: '2026-12-03', steps: ['dbt.build', 'lake.ingest'] }, now);
  assert.deepEqual(plan.steps, ['lake.ingest', 'dbt.build']);
  assert.equal(plan.partitions.length, 3);
  assert.throws(
    () => planBackfill(g, { from: '2026-12-01', to: '2026-12-03', steps: ['nope.step'] }, now),
    /unknown step "nope\.step"; known steps: /,
  );
  assert.throws(() => planBackfill(g, { from: '2026-12-03', to: '2026-12-01' }, now), /is after --to/);
  assert.throws(() => planBackfill(g, { from: '2026-12-01', to: '2026-12-06' }, now), /in the future/);
  assert.throws(
    () => planBackfill(g, { from: '2026-12-01', to: '2026-12-02', steps: ['reconcile.check'] }, now),
    /windows/,
  );
});
