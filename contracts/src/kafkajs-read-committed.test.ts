import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import {
  type FilterableMessage,
  filterAbortedMessages,
  scheduleCheckPendingRequests,
} from './kafkajs-read-committed.ts';

const ABORT = Buffer.from([0, 0, 0, 0]);
const COMMIT = Buffer.from([0, 0, 0, 1]);
const rec = (offset: number, producerId: string, inTransaction = true): FilterableMessage => ({
  offset: String(offset),
  key: null,
  batchContext: { producerId, inTransaction },
});
const marker = (offset: number, producerId: string, key: Buffer): FilterableMessage => ({
  offset: String(offset),
  key,
  isControlRecord: true,
  batchContext: { producerId, inTransaction: true },
});
const offsets = (ms: readonly FilterableMessage[]) => ms.filter((m) => !m.isControlRecord).map((m) => Number(m.offset));

test('aborted transactions listed in abort order (not first-offset order) are all dropped', () => {
  // P1 began first (0-1), P2 began later (2) and was aborted first: the broker lists P2 before P1.
  const messages = [rec(0, '1'), rec(1, '1'), rec(2, '2'), marker(3, '2', ABORT), marker(4, '1', ABORT), rec(5, '3')];
  const out = filterAbortedMessages({
    messages,
    abortedTransactions: [
      { producerId: '2', firstOffset: '2' },
      { producerId: '1', firstOffset: '0' },
    ],
  });
  assert.deepEqual(offsets(out), [5]);
});

test('several aborted transactions begun before the first record fetched are all open at once', () => {
  // Fetched from offset 10; P1 and P2 both began earlier and have records interleaved from 10 on.
  const messages = [rec(10, '2'), rec(11, '1'), rec(12, '3', false), marker(13, '1', ABORT), marker(14, '2', ABORT)];
  const out = filterAbortedMessages({
    messages,
    abortedTransactions: [
      { producerId: '1', firstOffset: '3' },
      { producerId: '2', firstOffset: '5' },
    ],
  });
  assert.deepEqual(offsets(out), [12]);
});

test('a producer is filtered only until its ABORT marker; committed transactions and plain records pass', () => {
  const messages = [rec(0, '1'), marker(1, '1', ABORT), rec(2, '1'), marker(3, '1', COMMIT), rec(4, '9', false)];
  const out = filterAbortedMessages({ messages, abortedTransactions: [{ producerId: '1', firstOffset: '0' }] });
  assert.deepEqual(offsets(out), [2, 4]);
  assert.equal(out.filter((m) => m.isControlRecord).length, 2, 'control records are left for kafkajs to drop');
  assert.deepEqual(offsets(filterAbortedMessages({ messages, abortedTransactions: [] })), [0, 2, 4]);
});

test("kafkajs's request queue schedules its idle throttle check without Node's TimeoutNegativeWarning", async () => {
  const require = createRequire(import.meta.url);
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js');
  assert.equal(RequestQueue.prototype.scheduleCheckPendingRequests, scheduleCheckPendingRequests);
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    let checked = 0;
    // Not throttled (kafkajs's initial state) and nothing pending: the delay kafkajs computes is minus the epoch.
    const queue = {
      throttledUntil: -1,
      throttleCheckTimeoutId: null as ReturnType<typeof setTimeout> | null,
      pending: [] as unknown[],
      checkPendingRequests: () => checked++,
      scheduleCheckPendingRequests,
    };
    queue.scheduleCheckPendingRequests();
    assert.ok(queue.throttleCheckTimeoutId, 'a check is scheduled');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(checked, 1);
    assert.equal(queue.throttleCheckTimeoutId, null);
    // Throttled for a while with requests pending: scheduled when the throttle ends, as kafkajs does.
    queue.throttledUntil = Date.now() + 60_000;
    queue.pending.push({});
    queue.scheduleCheckPendingRequests();
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(checked, 1, 'not before the throttle ends');
    clearTimeout(queue.throttleCheckTimeoutId ?? undefined);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings, []);
  } finally {
    process.off('warning', onWarning);
  }
});
