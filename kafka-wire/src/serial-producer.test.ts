/**
 * Unit tests of SerialIdempotentProducer around a scripted stand-in for a kafkajs producer (the broker-crash
 * behaviour itself is tested on a real broker in stack/test/kafka-crash.test.ts): one send in flight at a time, a
 * failed send retires its producer and the next send connects a new one, the queue bound, and disconnect.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Producer, ProducerRecord, RecordMetadata } from 'kafkajs';
import { SerialIdempotentProducer, SerialProducerQueueFullError } from './serial-producer.ts';

interface FakeProducer {
  readonly id: number;
  connected: boolean;
  disconnects: number;
  readonly sent: string[];
}

/** Each created producer records what it sent; `failNext` makes the next send (on any producer) reject. */
function harness(opts: { sendMs?: number } = {}) {
  const producers: FakeProducer[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let failNext: Error | null = null;
  let failConnect: Error | null = null;
  const create = (): Producer => {
    const state: FakeProducer = { id: producers.length, connected: false, disconnects: 0, sent: [] };
    producers.push(state);
    const send = async (r: ProducerRecord): Promise<RecordMetadata[]> => {
      assert.ok(state.connected, 'send on a connected producer only');
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await new Promise((r) => setTimeout(r, opts.sendMs ?? 2));
        if (failNext) {
          const err = failNext;
          failNext = null;
          throw err;
        }
        for (const m of r.messages) state.sent.push(String(m.value));
        return [{ topicName: r.topic, partition: 0, errorCode: 0, baseOffset: '0' }];
      } finally {
        inFlight--;
      }
    };
    return {
      connect: async () => {
        if (failConnect) {
          const err = failConnect;
          failConnect = null;
          throw err;
        }
        state.connected = true;
      },
      disconnect: async () => {
        state.connected = false;
        state.disconnects++;
      },
      send,
      sendBatch: async (b: { topicMessages?: ProducerRecord[] }) =>
        (await Promise.all((b.topicMessages ?? []).map(send))).flat(),
    } as unknown as Producer;
  };
  return {
    create,
    producers,
    maxInFlight: () => maxInFlight,
    failNextSend: (err: Error) => {
      failNext = err;
    },
    failNextConnect: (err: Error) => {
      failConnect = err;
    },
  };
}

const record = (v: string): ProducerRecord => ({ topic: 't', messages: [{ value: v }] });

describe('SerialIdempotentProducer', () => {
  it('runs concurrent sends one at a time, in call order', async () => {
    const h = harness();
    const p = new SerialIdempotentProducer(h.create);
    await Promise.all(Array.from({ length: 20 }, (_, i) => p.send(record(`m${i}`))));
    assert.equal(h.maxInFlight(), 1);
    assert.deepEqual(
      h.producers[0]?.sent,
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );
    assert.equal(h.producers.length, 1, 'no failure, one producer');
  });

  it('retires the producer after a failed send; later sends go through a new one', async () => {
    const h = harness();
    const retiredWith: unknown[] = [];
    const p = new SerialIdempotentProducer(h.create, { onRetire: (e) => retiredWith.push(e) });
    await p.connect();
    await p.send(record('a'));
    const boom = new Error('connection closed');
    h.failNextSend(boom);
    // The failing send and two sends already queued behind it.
    const results = await Promise.allSettled([p.send(record('b')), p.send(record('c')), p.send(record('d'))]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'fulfilled', 'fulfilled'],
    );
    assert.equal(h.producers.length, 2);
    assert.deepEqual(h.producers[0]?.sent, ['a'], 'nothing more on the producer whose send failed');
    assert.equal(h.producers[0]?.disconnects, 1);
    assert.deepEqual(h.producers[1]?.sent, ['c', 'd']);
    assert.equal(p.retired, 1);
    assert.deepEqual(retiredWith, [boom]);
  });

  it('sendBatch follows the same rules', async () => {
    const h = harness();
    const p = new SerialIdempotentProducer(h.create);
    h.failNextSend(new Error('request timed out'));
    await assert.rejects(p.sendBatch({ topicMessages: [record('x')] }), /timed out/);
    await p.sendBatch({ topicMessages: [record('y'), record('z')] });
    assert.equal(h.producers.length, 2);
    assert.deepEqual(h.producers[1]?.sent, ['y', 'z']);
  });

  it('a failed connect fails that send only; the next send connects again', async () => {
    const h = harness();
    const p = new SerialIdempotentProducer(h.create);
    h.failNextConnect(new Error('ECONNREFUSED'));
    await assert.rejects(p.send(record('a')), /ECONNREFUSED/);
    await p.send(record('b'));
    assert.equal(h.producers.length, 2);
    assert.equal(h.producers[0]?.disconnects, 1, 'a half-connected producer is closed');
    assert.deepEqual(h.producers[1]?.sent, ['b']);
  });

  it('bounds the sends waiting behind the one in flight', async () => {
    const h = harness({ sendMs: 20 });
    const p = new SerialIdempotentProducer(h.create, { maxQueued: 2 });
    const accepted = [p.send(record('1')), p.send(record('2')), p.send(record('3'))];
    await assert.rejects(p.send(record('4')), SerialProducerQueueFullError);
    await Promise.all(accepted);
    await p.send(record('5')); // room again once the queue drained
    assert.deepEqual(h.producers[0]?.sent, ['1', '2', '3', '5']);
  });

  it('disconnect lets queued sends finish, then refuses new ones', async () => {
    const h = harness({ sendMs: 5 });
    const p = new SerialIdempotentProducer(h.create);
    const queued = [p.send(record('a')), p.send(record('b'))];
    await p.disconnect();
    await Promise.all(queued);
    assert.deepEqual(h.producers[0]?.sent, ['a', 'b']);
    assert.equal(h.producers[0]?.connected, false);
    await assert.rejects(p.send(record('c')), /disconnected/);
  });
});
