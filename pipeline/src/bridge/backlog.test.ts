import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BacklogGate } from './backlog.ts';

function fakeConnection(backlogs: number[]) {
  return {
    workflowService: {
      describeTaskQueue: async () => ({ stats: { approximateBacklogCount: backlogs.shift() ?? 0 } }),
    },
  } as never;
}

describe('Temporal backlog gate', () => {
  it('holds starts while the backlog is over the bound and heartbeats meanwhile', async () => {
    const gate = new BacklogGate({
      connection: fakeConnection([100, 80, 40, 10]),
      namespace: 'default',
      taskQueue: 'q',
      maxBacklog: 32,
      pollMs: 5,
    });
    assert.equal(await gate.poll(), 100);
    gate.start();
    let beats = 0;
    const started = Date.now();
    await gate.waitBelow(
      () => true,
      async () => {
        beats++;
      },
    );
    gate.stop();
    assert.ok(gate.current <= 32);
    assert.ok(beats >= 1);
    assert.ok(Date.now() - started < 2000);
  });

  it('lets starts through when the backlog cannot be read', async () => {
    const errors: unknown[] = [];
    const gate = new BacklogGate({
      connection: {
        workflowService: {
          describeTaskQueue: async () => {
            throw new Error('unavailable');
          },
        },
      } as never,
      namespace: 'default',
      taskQueue: 'q',
      maxBacklog: 0,
      pollMs: 5,
      onError: (e) => errors.push(e),
    });
    gate.start();
    await new Promise((r) => setTimeout(r, 20));
    await gate.waitBelow(
      () => true,
      async () => {},
    );
    gate.stop();
    assert.ok(errors.length >= 1);
    assert.equal(gate.current, 0);
  });
});
