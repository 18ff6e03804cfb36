import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '@pep/contracts/log';
import { EdgeMetrics } from './metrics.ts';
import { GroupCommitProducer, OverloadedError, ShuttingDownError, UnavailableError } from './producer.ts';
import type { BatchSink, OutRecord } from './sink.ts';

/** A sink whose sends are resolved or failed by the test. */
class FakeSink implements BatchSink {
  readonly kind = 'fake';
  batches: OutRecord[][] = [];
  resets = 0;
  private settle: { resolve: () => void; reject: (e: Error) => void }[] = [];
  auto: 'ok' | 'fail' | 'manual' = 'ok';
  send(batch: readonly OutRecord[]): Promise<void> {
    this.batches.push([...batch]);
    if (this.auto === 'ok') return Promise.resolve();
    if (this.auto === 'fail') return Promise.reject(new Error('broker down'));
    return new Promise((resolve, reject) => this.settle.push({ resolve, reject }));
  }
  ackNext(): void {
    this.settle.shift()?.resolve();
  }
  failNext(): void {
    this.settle.shift()?.reject(new Error('not leader'));
  }
  reset(): void {
    this.resets++;
  }
  async probe(): Promise<boolean> {
    return true;
  }
  async close(): Promise<void> {}
}

const silent = createLogger('error', {}, () => undefined);
const rec = (i: number, bytes = 10): OutRecord => ({
  topic: 't',
  key: `k${i}`,
  value: new Uint8Array(bytes),
  headers: {},
});
const limits = {
  lingerMs: 5,
  maxBatchMessages: 100,
  maxBatchBytes: 1_000_000,
  maxInFlightMessages: 1000,
  maxInFlightBytes: 10_000_000,
  produceTimeoutMs: 1000,
  maxConcurrentBatches: 1,
};
const make = (sink: FakeSink, over: Partial<typeof limits> = {}) =>
  new GroupCommitProducer(sink, { ...limits, ...over }, new EdgeMetrics(), silent);
const tick = () => new Promise((r) => setImmediate(r));
const settled = async (p: Promise<unknown>) => {
  let state = 'pending';
  p.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  await tick();
  return state;
};

describe('GroupCommitProducer', () => {
  test('records enqueued within the linger window share one batch', async () => {
    const sink = new FakeSink();
    const p = make(sink);
    await Promise.all([p.enqueue(rec(1)), p.enqueue(rec(2)), p.enqueue(rec(3))]);
    assert.equal(sink.batches.length, 1);
    assert.deepEqual(
      sink.batches[0]?.map((r) => r.key),
      ['k1', 'k2', 'k3'],
    );
  });

  test('an idle producer sends at the end of the event-loop turn, without waiting out the linger', async () => {
    const sink = new FakeSink();
    sink.auto = 'manual';
    const p = make(sink, { lingerMs: 10_000, maxConcurrentBatches: 2 });
    const first = [p.enqueue(rec(1)), p.enqueue(rec(2))];
    assert.equal(sink.batches.length, 0, 'not inside the turn that enqueued');
    await tick();
    assert.deepEqual(
      sink.batches.map((b) => b.length),
      [2],
      'one batch with everything from that turn, long before the 10 s linger',
    );
    // With a batch in flight, a free session waits for the linger (or the ack) so that the next batch can grow.
    const second = p.enqueue(rec(3));
    await tick();
    await tick();
    assert.equal(sink.batches.length, 1, 'waits: an acknowledgement is coming');
    sink.ackNext();
    await Promise.all(first);
    await tick();
    assert.equal(sink.batches.length, 2, 'the ack flushed the waiting record');
    sink.ackNext();
    await second;
  });

  test('a request is not resolved before its batch is acknowledged', async () => {
    const sink = new FakeSink();
    sink.auto = 'manual';
    const p = make(sink, { lingerMs: 0 });
    const done = p.enqueue(rec(1));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await settled(done), 'pending');
    sink.ackNext();
    await done;
    assert.equal(p.inFlightMessages, 0);
  });

  test('a full batch leaves without waiting for the linger', async () => {
    const sink = new FakeSink();
    const p = make(sink, { lingerMs: 10_000, maxBatchMessages: 2 });
    await Promise.all([p.enqueue(rec(1)), p.enqueue(rec(2))]);
    assert.equal(sink.batches.length, 1);
  });

  test('batches respect maxBatchBytes but always carry at least one record', async () => {
    const sink = new FakeSink();
    const p = make(sink, { lingerMs: 0, maxBatchBytes: 25 });
    sink.auto = 'manual';
    const first = p.enqueue(rec(0, 5)); // goes alone (idle producer, linger 0)
    const rest = [p.enqueue(rec(1, 20)), p.enqueue(rec(2, 20)), p.enqueue(rec(3, 100))];
    sink.ackNext();
    await first;
    for (let i = 0; i < 3; i++) {
      await tick();
      sink.ackNext();
    }
    await Promise.all(rest);
    assert.deepEqual(
      sink.batches.map((b) => b.length),
      [1, 1, 1, 1],
    );
  });

  test('one batch in flight at a time; records queued meanwhile go in the next batch', async () => {
    const sink = new FakeSink();
    sink.auto = 'manual';
    const p = make(sink, { lingerMs: 0 });
    const a = p.enqueue(rec(1));
    const b = p.enqueue(rec(2));
    const c = p.enqueue(rec(3));
    await tick();
    assert.equal(sink.batches.length, 1);
    sink.ackNext();
    await a;
    await tick();
    assert.equal(sink.batches.length, 2);
    assert.equal(sink.batches[1]?.length, 2);
    sink.ackNext();
    await Promise.all([b, c]);
  });

  test('with two sessions, a second batch goes out while the first is in flight, never a third', async () => {
    const sink = new FakeSink();
    sink.auto = 'manual';
    const p = make(sink, { lingerMs: 0, maxConcurrentBatches: 2 });
    const a = p.enqueue(rec(1));
    const b = p.enqueue(rec(2));
    const c = p.enqueue(rec(3));
    const d = p.enqueue(rec(4));
    await tick();
    assert.deepEqual(
      sink.batches.map((x) => x.length),
      [1, 1],
      'two single batches in flight, the rest queued',
    );
    sink.ackNext();
    await a;
    await tick();
    assert.deepEqual(
      sink.batches.map((x) => x.length),
      [1, 1, 2],
    );
    sink.ackNext();
    sink.ackNext();
    await Promise.all([b, c, d]);
  });

  test('a failed batch rejects every waiter with UnavailableError and resets the sink', async () => {
    const sink = new FakeSink();
    sink.auto = 'fail';
    const p = make(sink);
    const results = await Promise.allSettled([p.enqueue(rec(1)), p.enqueue(rec(2))]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok((r as PromiseRejectedResult).reason instanceof UnavailableError);
    }
    assert.equal(sink.resets, 1);
    assert.equal(p.inFlightMessages, 0);
    assert.equal(p.inFlightBytes, 0);
  });

  test('a send that never answers times out as 503 material', async () => {
    const sink = new FakeSink();
    sink.auto = 'manual';
    const p = make(sink, { lingerMs: 0, produceTimeoutMs: 30 });
    await assert.rejects(p.enqueue(rec(1)), UnavailableError);
    assert.equal(sink.resets, 1);
  });

  test('in-flight message and byte bounds refuse fast with OverloadedError', async () => {
    const sink = new FakeSink();
    sink.auto = 'manual';
    const p = make(sink, { lingerMs: 0, maxInFlightMessages: 2 });
    const a = p.enqueue(rec(1));
    const b = p.enqueue(rec(2));
    await assert.rejects(p.enqueue(rec(3)), OverloadedError);
    const q = make(new FakeSink(), { maxInFlightBytes: 100 });
    await assert.rejects(q.enqueue(rec(1, 200)), OverloadedError);
    sink.ackNext();
    await a;
    await tick();
    sink.ackNext();
    await b;
  });

  test('low-priority records get only half of the bound', async () => {
    const sink = new FakeSink();
    sink.auto = 'manual';
    const p = make(sink, { lingerMs: 0, maxInFlightMessages: 4 });
    const a = p.enqueue(rec(1));
    const b = p.enqueue(rec(2), { lowPriority: true });
    await assert.rejects(p.enqueue(rec(3), { lowPriority: true }), OverloadedError);
    const c = p.enqueue(rec(4)); // normal priority still fits
    sink.ackNext();
    await tick();
    sink.ackNext();
    await Promise.all([a, b, c]);
  });

  test('drain sends queued records, waits for their acks, then refuses new ones', async () => {
    const sink = new FakeSink();
    sink.auto = 'manual';
    const p = make(sink, { lingerMs: 10_000 });
    const a = p.enqueue(rec(1));
    const b = p.enqueue(rec(2));
    const drained = p.drain(1000);
    await tick();
    assert.equal(sink.batches.length, 1, 'drain flushes without waiting for the linger');
    await assert.rejects(p.enqueue(rec(3)), ShuttingDownError);
    sink.ackNext();
    assert.deepEqual(await drained, { drained: true });
    await Promise.all([a, b]);
  });

  test('drain gives up at its deadline and answers queued records 503', async () => {
    const sink = new FakeSink();
    sink.auto = 'manual';
    const p = make(sink, { lingerMs: 0 });
    const a = p.enqueue(rec(1)); // in flight, never acked
    const b = p.enqueue(rec(2)); // queued behind it
    assert.deepEqual(await p.drain(30), { drained: false });
    await assert.rejects(b, ShuttingDownError);
    assert.equal(await settled(a), 'pending');
  });
});
