import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CombinerOptions, cutGroups, type GroupPart, groupSizeFor, StartCombiner } from './combiner.ts';
import { BridgeStoppedError } from './core.ts';

type M = { offset: string };
const msgs = (n: number, from = 0): M[] => Array.from({ length: n }, (_, i) => ({ offset: String(from + i) }));
const part = (partition: number, n: number, from = 0): GroupPart<M> => ({
  topic: 't',
  partition,
  messages: msgs(n, from),
});
const sizes = (groups: readonly (readonly GroupPart<M>[])[]) =>
  groups.map((g) => g.reduce((n, x) => n + x.messages.length, 0));

function combiner(over: Partial<CombinerOptions<M>> & Pick<CombinerOptions<M>, 'start'>) {
  let now = 0;
  const slept: number[] = [];
  const c = new StartCombiner<M>({
    maxGroupEvents: 50,
    workflowsPerS: 10,
    burstWorkflows: 4,
    windowMs: 2,
    maxInFlight: 64,
    maxPaceMs: 1000,
    retry: { initialMs: 1, maxMs: 1 },
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
    ...over,
  });
  return { c, slept, advance: (ms: number) => (now += ms) };
}

describe('cutGroups', () => {
  it('cuts consecutive events into groups that may span partitions, in order', () => {
    const groups = cutGroups([part(0, 3), part(1, 4), part(2, 1)], 3);
    assert.deepEqual(sizes(groups), [3, 3, 2]);
    assert.deepEqual(
      groups[1]?.map((s) => [s.partition, s.messages.map((m) => m.offset)]),
      [[1, ['0', '1', '2']]],
    );
    assert.deepEqual(
      groups[2]?.map((s) => [s.index, s.partition, s.messages.length]),
      [
        [1, 1, 1],
        [2, 2, 1],
      ],
    );
  });
});

describe('groupSizeFor', () => {
  it('one workflow per event while tokens last, larger groups when they run short, capped', () => {
    assert.equal(groupSizeFor(3, 4, 50), 1);
    assert.equal(groupSizeFor(10, 4, 50), 3);
    assert.equal(groupSizeFor(10, 0.4, 50), 10);
    assert.equal(groupSizeFor(10, -5, 50), 10);
    assert.equal(groupSizeFor(500, 2, 50), 50);
    assert.equal(groupSizeFor(7, 2, 1), 1);
  });
});

describe('StartCombiner', () => {
  it('pools the partitions of one fetch into one flush and starts one workflow per event while the budget lasts', async () => {
    const started: GroupPart<M>[][] = [];
    const { c } = combiner({ start: async (g) => void started.push([...g]) });
    await Promise.all([
      c.submit(
        part(0, 1),
        () => true,
        async () => {},
      ),
      c.submit(
        part(1, 2),
        () => true,
        async () => {},
      ),
    ]);
    assert.deepEqual(sizes(started), [1, 1, 1]);
    assert.ok(c.budget < 2, 'three tokens spent');
  });

  it('cuts a larger pool into fewer, larger workflows spanning partitions when the budget runs short', async () => {
    const started: GroupPart<M>[][] = [];
    const { c } = combiner({ start: async (g) => void started.push([...g]) });
    await Promise.all([
      c.submit(
        part(0, 10),
        () => true,
        async () => {},
      ),
      c.submit(
        part(1, 10),
        () => true,
        async () => {},
      ),
      c.submit(
        part(2, 10),
        () => true,
        async () => {},
      ),
    ]);
    // 30 events, 4 tokens → groups of 8 → 4 workflows, one spanning partitions 0 and 1.
    assert.deepEqual(sizes(started), [8, 8, 8, 6]);
    assert.deepEqual(
      started[1]?.map((g) => g.partition),
      [0, 1],
    );
  });

  it('resolves a submission only after every start holding its messages was acknowledged', async () => {
    const gates: (() => void)[] = [];
    const { c } = combiner({
      burstWorkflows: 2,
      start: () => new Promise<void>((r) => gates.push(r)),
    });
    let done = false;
    const p = c
      .submit(
        part(0, 4),
        () => true,
        async () => {},
      )
      .then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(gates.length, 2, 'two groups of two started');
    gates[0]?.();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(done, false, 'not resolved while a start is unacknowledged');
    gates[1]?.();
    await p;
    assert.equal(done, true);
  });

  it('retries a failing start with the same group until it succeeds', async () => {
    const attempts: string[] = [];
    let fail = 2;
    const { c } = combiner({
      start: async (g) => {
        attempts.push(g.map((x) => x.messages.map((m) => m.offset).join(',')).join('|'));
        if (fail-- > 0) throw new Error('temporal unavailable');
      },
    });
    await c.submit(
      part(0, 1, 7),
      () => true,
      async () => {},
    );
    assert.deepEqual(attempts, ['7', '7', '7']);
  });

  it('rejects with BridgeStoppedError (nothing to commit) when the consumer stops during retries', async () => {
    let active = true;
    const { c } = combiner({
      start: async () => {
        active = false;
        throw new Error('temporal unavailable');
      },
    });
    await assert.rejects(
      c.submit(
        part(0, 3),
        () => active,
        async () => {},
      ),
      BridgeStoppedError,
    );
  });

  it('close() rejects submissions still waiting for their window', async () => {
    const { c } = combiner({ windowMs: 1000, start: async () => {} });
    const p = c.submit(
      part(0, 1),
      () => true,
      async () => {},
    );
    c.close();
    await assert.rejects(p, BridgeStoppedError);
  });

  it('pace() waits off the budget debt, bounded, and not at all with tokens left', async () => {
    const { c, slept } = combiner({ burstWorkflows: 1, maxGroupEvents: 1, start: async () => {} });
    await c.pace(() => true);
    assert.deepEqual(slept, []);
    await c.submit(
      part(0, 6),
      () => true,
      async () => {},
    );
    // 6 workflows from 1 token: 5 in debt at 10/s → 500 ms.
    await c.pace(() => true);
    assert.deepEqual(slept, [500]);
    await c.submit(
      part(0, 50),
      () => true,
      async () => {},
    );
    await c.pace(() => true);
    assert.equal(slept[1], 1000, 'bounded by maxPaceMs');
  });

  it('setWorkflowsPerS() changes the refill rate and the pace from then on, and reports tokens per flush', async () => {
    const flushes: { sizes: readonly number[]; tokens: number }[] = [];
    const { c, slept, advance } = combiner({
      burstWorkflows: 1,
      maxGroupEvents: 1,
      start: async () => {},
      onFlush: (sizes, tokens) => flushes.push({ sizes, tokens }),
    });
    c.setWorkflowsPerS(20);
    assert.equal(c.workflowsPerS, 20);
    await c.submit(
      part(0, 6),
      () => true,
      async () => {},
    );
    assert.deepEqual(flushes, [{ sizes: [1, 1, 1, 1, 1, 1], tokens: -5 }]);
    // 5 in debt at 20/s → 250 ms (it was 500 ms at 10/s).
    await c.pace(() => true);
    assert.deepEqual(slept, [250]);
    advance(1000);
    assert.equal(c.budget, 1, 'refilled at the new rate, capped by the burst');
    assert.throws(() => c.setWorkflowsPerS(0), RangeError);
  });
});
