import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BridgeStoppedError, processBatch, retryUntilDone } from './core.ts';

const noSleep = async () => {};
const msgs = (n: number) => Array.from({ length: n }, (_, i) => ({ offset: String(100 + i) }));

describe('bridge delivery loop', () => {
  it('commits each chunk only after all its starts are acknowledged', async () => {
    const log: string[] = [];
    const n = await processBatch({
      messages: msgs(5),
      maxInFlight: 2,
      groupSize: 1,
      handle: async ([m]) => {
        log.push(`ack ${(m as { offset: string }).offset}`);
      },
      retry: { initialMs: 1, maxMs: 1, sleep: noSleep },
      isActive: () => true,
      resolveOffset: (o) => log.push(`resolve ${o}`),
      commit: async () => {
        log.push('commit');
      },
      heartbeat: async () => {},
    });
    assert.equal(n, 5);
    assert.deepEqual(log, [
      'ack 100',
      'ack 101',
      'resolve 101',
      'commit',
      'ack 102',
      'ack 103',
      'resolve 103',
      'commit',
      'ack 104',
      'resolve 104',
      'commit',
    ]);
  });

  it('retries a failed start until it succeeds and never skips it', async () => {
    let failuresLeft = 4;
    const resolved: string[] = [];
    const retries: number[] = [];
    await processBatch({
      messages: msgs(3),
      maxInFlight: 3,
      groupSize: 1,
      handle: async ([m]) => {
        if ((m as { offset: string }).offset === '101' && failuresLeft-- > 0) throw new Error('temporal unavailable');
      },
      retry: { initialMs: 10, maxMs: 40, sleep: noSleep, onRetry: (_e, _a, d) => retries.push(d) },
      isActive: () => true,
      resolveOffset: (o) => resolved.push(o),
      commit: async () => {},
      heartbeat: async () => {},
    });
    assert.deepEqual(retries, [10, 20, 40, 40]);
    assert.deepEqual(resolved, ['102']);
  });

  it('commits nothing past an unacknowledged message when the consumer stops', async () => {
    let active = true;
    const resolved: string[] = [];
    const n = await processBatch({
      messages: msgs(4),
      maxInFlight: 2,
      groupSize: 1,
      handle: async ([m]) => {
        if ((m as { offset: string }).offset === '102') {
          active = false;
          throw new Error('still down');
        }
      },
      retry: { initialMs: 1, maxMs: 1, sleep: noSleep },
      isActive: () => active,
      resolveOffset: (o) => resolved.push(o),
      commit: async () => {},
      heartbeat: async () => {},
    });
    assert.equal(n, 2);
    assert.deepEqual(resolved, ['101']);
  });

  it('retryUntilDone gives up only when stopped', async () => {
    let calls = 0;
    await assert.rejects(
      retryUntilDone(
        async () => {
          calls++;
          throw new Error('x');
        },
        { initialMs: 1, maxMs: 1, sleep: noSleep, isActive: () => calls < 3 },
      ),
      BridgeStoppedError,
    );
    assert.equal(calls, 3);
  });
});

describe('bridge batch groups', () => {
  it('hands consecutive groups of groupSize messages to one start each, commit per chunk', async () => {
    const groups: string[][] = [];
    const resolved: string[] = [];
    await processBatch({
      messages: msgs(7),
      maxInFlight: 6,
      groupSize: 3,
      handle: async (g) => {
        groups.push(g.map((m) => m.offset));
      },
      retry: { initialMs: 1, maxMs: 1, sleep: noSleep },
      isActive: () => true,
      resolveOffset: (o) => resolved.push(o),
      commit: async () => {},
      heartbeat: async () => {},
    });
    assert.deepEqual(groups, [['100', '101', '102'], ['103', '104', '105'], ['106']]);
    assert.deepEqual(resolved, ['105', '106']);
  });
});
