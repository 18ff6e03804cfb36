/**
 * Unit tests of the hand-written Kafka wire encoding: CRC-32C and murmur2 against reference vectors (and murmur2
 * against kafkajs's Java-compatible implementation), and a Produce request decoded field by field by an independent
 * reader written here from the protocol documentation (sizes, CRC, idempotence fields, records and headers).
 */

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import {
  crc32c,
  decodeInitProducerIdResponse,
  decodeMetadataResponse,
  decodeProduceResponse,
  encodeMetadataRequest,
  encodeProduceRequest,
  KafkaProtocolError,
  murmur2,
  type ProduceRecord,
  partitionForKey,
  partitionForStringKey,
} from './protocol.ts';

const require = createRequire(import.meta.url);

/** a[i], failing the test when it is missing. */
function nth<T>(a: readonly T[], i: number): T {
  const v = a[i];
  assert.ok(v !== undefined, `missing element ${i}`);
  return v;
}

describe('crc32c', () => {
  it('matches the standard check value and RFC 3720 vectors', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
  });
  it('covers only the given range', () => {
    const b = Buffer.from('xx123456789yy');
    assert.equal(crc32c(b, 2, 11), 0xe3069283);
  });
});

describe('murmur2 and partitioning', () => {
  it("matches the Java client's vectors", () => {
    // from Kafka's UtilsTest.testMurmur2
    assert.equal(murmur2(Buffer.from('21')), -973932308);
    assert.equal(murmur2(Buffer.from('foobar')), -790332482);
    assert.equal(murmur2(Buffer.from('a-little-bit-long-string')), -985981536);
    assert.equal(murmur2(Buffer.from('a-little-bit-longer-string')), -1486304829);
    assert.equal(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')), -58897971);
    assert.equal(murmur2(Buffer.from([97, 98, 99])), 479470107);
  });
  it('puts keys on the same partitions as kafkajs DefaultPartitioner', () => {
    const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (k: Buffer) => number;
    for (let i = 0; i < 2000; i++) {
      const key = Buffer.from(`pi_${i.toString(36)}_${'k'.repeat(i % 7)}`);
      const expected = (kafkajsMurmur2(key) & 0x7fffffff) % 12;
      assert.equal(partitionForKey(key, 12), expected, key.toString());
    }
  });
  it('partitions a string key like its UTF-8 bytes (ASCII, non-ASCII, lone surrogate, longer than the scratch)', () => {
    const keys = ['pi_3Qbench', '', 'a', 'clé', 'pi_😀', 'x\ud800y', 'k'.repeat(255), 'k'.repeat(256), 'k'.repeat(300)];
    for (let i = 0; i < 500; i++) keys.push(`cus_${i.toString(36)}${'z'.repeat(i % 5)}`);
    for (const key of keys) {
      assert.equal(partitionForStringKey(key, 7), partitionForKey(Buffer.from(key, 'utf8'), 7), key);
    }
  });
});

/** An independent reader of what encodeProduceRequest wrote (Produce v7, RecordBatch v2). */
function readProduce(buf: Buffer) {
  let at = 0;
  const i8 = () => buf.readInt8(at++);
  const i16 = () => {
    at += 2;
    return buf.readInt16BE(at - 2);
  };
  const i32 = () => {
    at += 4;
    return buf.readInt32BE(at - 4);
  };
  const i64 = () => {
    at += 8;
    return buf.readBigInt64BE(at - 8);
  };
  const str = () => {
    const n = i16();
    if (n < 0) return null;
    at += n;
    return buf.toString('utf8', at - n, at);
  };
  const varint = () => {
    let z = 0;
    let shift = 0;
    for (;;) {
      const b = buf[at++] as number;
      z |= (b & 0x7f) << shift;
      if (b < 0x80) break;
      shift += 7;
    }
    return (z >>> 1) ^ -(z & 1);
  };
  const bytes = () => {
    const n = varint();
    if (n < 0) return null;
    at += n;
    return buf.subarray(at - n, at);
  };
  const size = i32();
  assert.equal(size, buf.length - 4);
  const head = { apiKey: i16(), version: i16(), correlationId: i32(), clientId: str() };
  const tx = str();
  const acks = i16();
  const timeout = i32();
  const topics = Array.from({ length: i32() }, () => {
    const topic = str();
    const partitions = Array.from({ length: i32() }, () => {
      const partition = i32();
      const recordsLength = i32();
      const start = at;
      const baseOffset = i64();
      const batchLength = i32();
      assert.equal(batchLength, recordsLength - 12);
      const leaderEpoch = i32();
      const magic = i8();
      const crc = buf.readUInt32BE(at);
      at += 4;
      assert.equal(crc, crc32c(buf, at, start + recordsLength), 'CRC-32C over attributes..end');
      const attributes = i16();
      const lastOffsetDelta = i32();
      const baseTimestamp = i64();
      const maxTimestamp = i64();
      const producerId = i64();
      const producerEpoch = i16();
      const baseSequence = i32();
      const count = i32();
      const records = Array.from({ length: count }, () => {
        const len = varint();
        const recStart = at;
        const rec = {
          attributes: i8(),
          timestampDelta: varint(),
          offsetDelta: varint(),
          key: bytes()?.toString('utf8') ?? null,
          value: Buffer.from(bytes() as Buffer),
          headers: {} as Record<string, string>,
        };
        const hc = varint();
        for (let h = 0; h < hc; h++) {
          const k = (bytes() as Buffer).toString('utf8');
          rec.headers[k] = (bytes() as Buffer).toString('utf8');
        }
        assert.equal(at - recStart, len, 'record length varint');
        return rec;
      });
      assert.equal(at, start + recordsLength);
      return {
        partition,
        baseOffset,
        leaderEpoch,
        magic,
        attributes,
        lastOffsetDelta,
        baseTimestamp,
        maxTimestamp,
        producerId,
        producerEpoch,
        baseSequence,
        records,
      };
    });
    return { topic, partitions };
  });
  assert.equal(at, buf.length);
  return { head, tx, acks, timeout, topics };
}

describe('encodeProduceRequest', () => {
  it('writes an idempotent acks=all RecordBatch v2 per partition that decodes back to the records', () => {
    const big = Buffer.alloc(300, 7); // a value whose length needs a 2-byte varint
    const records: ProduceRecord[] = [
      { key: 'pi_1', value: Buffer.from('{"a":1}'), headers: { provider: 'stripe', 'event-id': 'evt_é' } },
      { key: null, value: big, headers: {} },
      { key: 'clé', value: new Uint8Array(0), headers: { 'content-type': 'application/json' } },
    ];
    const buf = encodeProduceRequest(
      42,
      Buffer.from('edge'),
      -1,
      10_000,
      { producerId: 123456789012n, producerEpoch: 3 },
      [
        { topic: 'webhooks.stripe.charge', partitions: [{ partition: 2, baseSequence: 17, records }] },
        { topic: 'webhooks.dlq', partitions: [{ partition: 0, baseSequence: 0x7fffffff, records: [nth(records, 0)] }] },
      ],
      1_700_000_000_123,
    );
    const r = readProduce(buf);
    assert.deepEqual(r.head, { apiKey: 0, version: 7, correlationId: 42, clientId: 'edge' });
    assert.equal(r.tx, null);
    assert.equal(r.acks, -1);
    assert.equal(r.timeout, 10_000);
    assert.equal(r.topics.length, 2);
    const p = nth(nth(r.topics, 0).partitions, 0);
    assert.equal(nth(r.topics, 0).topic, 'webhooks.stripe.charge');
    assert.equal(p.partition, 2);
    assert.equal(p.magic, 2);
    assert.equal(p.attributes, 0);
    assert.equal(p.leaderEpoch, -1);
    assert.equal(p.baseOffset, 0n);
    assert.equal(p.lastOffsetDelta, 2);
    assert.equal(p.baseTimestamp, 1_700_000_000_123n);
    assert.equal(p.maxTimestamp, 1_700_000_000_123n);
    assert.equal(p.producerId, 123456789012n);
    assert.equal(p.producerEpoch, 3);
    assert.equal(p.baseSequence, 17);
    assert.deepEqual(
      p.records.map((x) => [x.offsetDelta, x.timestampDelta, x.key, x.headers]),
      [
        [0, 0, 'pi_1', { provider: 'stripe', 'event-id': 'evt_é' }],
        [1, 0, null, {}],
        [2, 0, 'clé', { 'content-type': 'application/json' }],
      ],
    );
    assert.deepEqual(nth(p.records, 0).value, Buffer.from('{"a":1}'));
    assert.deepEqual(nth(p.records, 1).value, big);
    assert.equal(nth(p.records, 2).value.length, 0);
    assert.equal(nth(nth(r.topics, 1).partitions, 0).baseSequence, 0x7fffffff);
  });
});

describe('response decoding', () => {
  const w = {
    i16: (n: number) => {
      const b = Buffer.alloc(2);
      b.writeInt16BE(n);
      return b;
    },
    i32: (n: number) => {
      const b = Buffer.alloc(4);
      b.writeInt32BE(n);
      return b;
    },
    i64: (n: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(n);
      return b;
    },
    str: (s: string | null) => (s === null ? w.i16(-1) : Buffer.concat([w.i16(Buffer.byteLength(s)), Buffer.from(s)])),
  };

  it('decodes Metadata v4 brokers and partition leaders', () => {
    const body = Buffer.concat([
      w.i32(0), // throttle
      w.i32(1),
      w.i32(1),
      w.str('kafka-1'),
      w.i32(9092),
      w.str(null),
      w.str('cluster'),
      w.i32(1),
      w.i32(1), // topics
      w.i16(0),
      w.str('webhooks.dlq'),
      Buffer.from([0]),
      w.i32(2),
      ...[1, 0].flatMap((idx) => [
        w.i16(0),
        w.i32(idx),
        w.i32(idx === 0 ? 1 : -1),
        w.i32(1),
        w.i32(1),
        w.i32(1),
        w.i32(1),
      ]),
    ]);
    const md = decodeMetadataResponse(body);
    assert.deepEqual(md.brokers, [{ nodeId: 1, host: 'kafka-1', port: 9092 }]);
    assert.deepEqual(md.topics, [{ name: 'webhooks.dlq', errorCode: 0, leaders: [1, -1] }]);
  });

  it('decodes Produce v7 partition results and refuses truncated answers', () => {
    const body = Buffer.concat([
      w.i32(1),
      w.str('t'),
      w.i32(2),
      ...[
        [0, 0],
        [1, 6],
      ].flatMap(([p, e]) => [w.i32(p as number), w.i16(e as number), w.i64(5n), w.i64(-1n), w.i64(0n)]),
      w.i32(0),
    ]);
    assert.deepEqual(decodeProduceResponse(body), [
      { topic: 't', partition: 0, errorCode: 0, baseOffset: 5n },
      { topic: 't', partition: 1, errorCode: 6, baseOffset: 5n },
    ]);
    assert.throws(() => decodeProduceResponse(body.subarray(0, body.length - 6)), /truncated/);
  });

  it('turns an InitProducerId error code into a KafkaProtocolError', () => {
    const ok = Buffer.concat([w.i32(0), w.i16(0), w.i64(77n), w.i16(0)]);
    assert.deepEqual(decodeInitProducerIdResponse(ok), { producerId: 77n, producerEpoch: 0 });
    const bad = Buffer.concat([w.i32(0), w.i16(31), w.i64(-1n), w.i16(-1)]);
    assert.throws(() => decodeInitProducerIdResponse(bad), KafkaProtocolError);
  });

  it('asks for metadata without auto topic creation', () => {
    const buf = encodeMetadataRequest(9, Buffer.from('edge'), ['a', 'bc']);
    assert.equal(buf.readInt32BE(0), buf.length - 4);
    assert.equal(buf.readInt16BE(4), 3);
    assert.equal(buf.readInt16BE(6), 4);
    assert.equal(buf[buf.length - 1], 0);
  });
});
