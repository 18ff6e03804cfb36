/**
 * Byte-level tests of the transaction encoders: InitProducerId v1, AddPartitionsToTxn v2, AddOffsetsToTxn v2 and
 * EndTxn v2 equal kafkajs's encodings (its v1 bodies, which v2 keeps, with the version field set to 2); Produce v7 around
 * an opaque records section equals kafkajs's Produce v7 for the same records (apart from partitionLeaderEpoch, which
 * kafkajs sets to 0 and the Java client, like us, to -1); TxnOffsetCommit v3 (flexible; kafkajs stops at v1) and the
 * responses are checked against bytes laid out by hand from the protocol spec; splitRecords against kafkajs's decoder.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { crc32c } from './protocol.ts';
import {
  crc32cCombine,
  decodeAddPartitionsToTxnResponse,
  decodeErrorCodeResponse,
  decodeInitProducerIdTxnResponse,
  decodeTxnOffsetCommitResponse,
  encodeAddOffsetsToTxnRequest,
  encodeAddPartitionsToTxnRequest,
  encodeEndTxnRequest,
  encodeInitProducerIdTxnRequest,
  encodeOpaqueProduceChunks,
  encodeOpaqueProduceRequest,
  encodeTxnOffsetCommitRequest,
  splitRecords,
} from './transaction-protocol.ts';

const require = createRequire(import.meta.url);

interface KafkajsRequest {
  apiKey: number;
  apiVersion: number;
  encode: () => Promise<{ buffer: Buffer }>;
}
const kafkajsRequest = require('kafkajs/src/protocol/request.js') as (a: {
  correlationId: number;
  clientId: string;
  request: KafkajsRequest;
}) => Promise<{ buffer: Buffer }>;
const kreq = (path: string) =>
  require(`kafkajs/src/protocol/requests/${path}/request.js`) as (a: object) => KafkajsRequest;
const full = async (request: KafkajsRequest, version?: number) =>
  (
    await kafkajsRequest({
      correlationId: 4242,
      clientId: 'pep-txn',
      request: version === undefined ? request : Object.assign(request, { apiVersion: version }),
    })
  ).buffer;

const CLIENT = Buffer.from('pep-txn');
const IDENT = { transactionalId: 'transformer-0-a', producerId: 123456789012n, producerEpoch: 7 };
const kIdent = { transactionalId: 'transformer-0-a', producerId: '123456789012', producerEpoch: 7 };

interface KafkajsEncoder {
  buffer: Buffer;
}
const kafkajsRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: object) => KafkajsEncoder;
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown;
const decodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/decoder.js') as (
  d: unknown,
  batch: { firstOffset: string; firstTimestamp: string },
) => {
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, Buffer>;
  /** firstOffset + offsetDelta, firstTimestamp + timestampDelta */
  offset: string;
  timestamp: string;
};

const sample = (n: number, valueBytes = 20) =>
  Array.from({ length: n }, (_, i) => ({
    key: Buffer.from(`key-${i}`),
    value: Buffer.from(`${i}:${'v'.repeat(valueBytes)}`),
    headers: { 'source-offset': String(i), h: 'é' },
  }));
const section = (msgs: ReturnType<typeof sample>, timestampDelta = 0) =>
  Buffer.concat(msgs.map((m, i) => kafkajsRecord({ ...m, offsetDelta: i, timestampDelta }).buffer));

/** Decodes `count` varint-framed records with kafkajs's record decoder. */
function decodeSection(bytes: Buffer) {
  const Dec = Decoder as unknown as new (
    b: Buffer,
  ) => { canReadVarInt(): boolean; readVarInt(): number; readBytes(n: number): Buffer; offset: number };
  const d = new Dec(bytes);
  const out = [];
  while (d.offset < bytes.length) {
    const length = d.readVarInt();
    out.push(
      decodeRecord(new (Decoder as unknown as new (b: Buffer) => unknown)(d.readBytes(length)), {
        firstOffset: '0',
        firstTimestamp: '1000',
      }),
    );
  }
  return out;
}

describe('transaction control requests equal kafkajs', () => {
  it('InitProducerId v1 with a transactional id', async () => {
    const expected = await full(
      kreq('initProducerId/v1')({ transactionalId: 'transformer-0-a', transactionTimeout: 30000 }),
    );
    assert.deepEqual(encodeInitProducerIdTxnRequest(4242, CLIENT, 'transformer-0-a', 30000), expected);
  });

  it('AddPartitionsToTxn v2 (the v1 body)', async () => {
    const expected = await full(
      kreq('addPartitionsToTxn/v1')({
        ...kIdent,
        topics: [
          { topic: 'payments.normalized', partitions: [0, 5] },
          { topic: 'payments.validation.dlq', partitions: [2] },
        ],
      }),
      2,
    );
    const ours = encodeAddPartitionsToTxnRequest(4242, CLIENT, IDENT, [
      { topic: 'payments.normalized', partition: 0 },
      { topic: 'payments.validation.dlq', partition: 2 },
      { topic: 'payments.normalized', partition: 5 },
    ]);
    assert.deepEqual(ours, expected);
  });

  it('AddOffsetsToTxn v2 and EndTxn v2 (the v1 bodies)', async () => {
    assert.deepEqual(
      encodeAddOffsetsToTxnRequest(4242, CLIENT, IDENT, 'pep-transformer'),
      await full(kreq('addOffsetsToTxn/v1')({ ...kIdent, groupId: 'pep-transformer' }), 2),
    );
    for (const commit of [true, false])
      assert.deepEqual(
        encodeEndTxnRequest(4242, CLIENT, IDENT, commit),
        await full(kreq('endTxn/v1')({ ...kIdent, transactionResult: commit }), 2),
      );
  });
});

describe('Produce v7 around an opaque records section', () => {
  it('equals kafkajs Produce v7 for the same records (transactional)', async () => {
    const ts = 1_764_000_000_123;
    const m0 = sample(3);
    const m1 = sample(2, 5);
    const expected = await full(
      kreq('produce/v7')({
        acks: -1,
        timeout: 10000,
        ...kIdent,
        topicData: [
          {
            topic: 'payments.normalized',
            partitions: [
              { partition: 4, firstSequence: 17, messages: m0.map((m) => ({ ...m, timestamp: ts })) },
              { partition: 1, firstSequence: 0, messages: m1.map((m) => ({ ...m, timestamp: ts })) },
            ],
          },
        ],
      }),
    );
    const ours = encodeOpaqueProduceRequest(4242, CLIENT, { ...IDENT, acks: -1, timeoutMs: 10000 }, [
      {
        topic: 'payments.normalized',
        partition: 4,
        records: section(m0),
        count: 3,
        firstTimestampMs: ts,
        maxTimestampMs: ts,
        baseSequence: 17,
      },
      {
        topic: 'payments.normalized',
        partition: 1,
        records: section(m1),
        count: 2,
        firstTimestampMs: ts,
        maxTimestampMs: ts,
        baseSequence: 0,
      },
    ]);
    assert.equal(ours.length, expected.length);
    // kafkajs writes partitionLeaderEpoch 0; Kafka's Java client and we write -1 (not covered by the CRC).
    const patched = Buffer.from(expected);
    let at = 4 + 2 + 2 + 4 + 2 + CLIENT.length + 2 + IDENT.transactionalId.length + 2 + 4 + 4 + 2 + 19 + 4;
    for (const m of [m0, m1]) {
      at += 4 + 4; // partition, records length
      assert.equal(patched.readInt32BE(at + 12), 0);
      patched.writeInt32BE(-1, at + 12);
      at += 61 + section(m).length;
    }
    assert.deepEqual(ours, patched);
  });

  it('writes attributes 0 and a null transactional id in idempotent mode, and a valid CRC with an injected crc32c', () => {
    let calls = 0;
    const ours = encodeOpaqueProduceRequest(
      1,
      CLIENT,
      { transactionalId: null, producerId: 5n, producerEpoch: 0, acks: -1, timeoutMs: 5000 },
      [
        {
          topic: 't',
          partition: 0,
          records: section(sample(2)),
          count: 2,
          firstTimestampMs: 1,
          maxTimestampMs: 2,
          baseSequence: 9,
        },
      ],
      (b) => {
        calls++;
        return crc32c(b);
      },
    );
    assert.equal(calls, 1);
    const tidAt = 4 + 2 + 2 + 4 + 2 + CLIENT.length;
    assert.equal(ours.readInt16BE(tidAt), -1);
    const batchAt = tidAt + 2 + 2 + 4 + 4 + 2 + 1 + 4 + 4 + 4;
    assert.equal(ours.readInt16BE(batchAt + 21), 0); // attributes
    assert.equal(ours.readUInt32BE(batchAt + 17), crc32c(ours, batchAt + 21, ours.length));
    assert.equal(ours.readInt32BE(batchAt + 53), 9); // base sequence
    assert.equal(ours.readBigInt64BE(batchAt + 35), 2n); // max timestamp
  });

  it('as chunks: the same bytes without copying the records sections, CRC combined from the parts', () => {
    const m0 = section(sample(7, 900));
    const m1 = section(sample(1, 3));
    const batches = [
      { topic: 'a', partition: 2, records: m0, count: 7, firstTimestampMs: 5, maxTimestampMs: 9, baseSequence: 3 },
      { topic: 'b', partition: 0, records: m1, count: 1, firstTimestampMs: 5, maxTimestampMs: 5, baseSequence: 0 },
      { topic: 'a', partition: 0, records: m1, count: 1, firstTimestampMs: 5, maxTimestampMs: 5, baseSequence: 1 },
    ];
    const head = { ...IDENT, acks: -1, timeoutMs: 1000 };
    const whole = encodeOpaqueProduceRequest(8, CLIENT, head, batches);
    const chunks = encodeOpaqueProduceChunks(8, CLIENT, head, batches, (b) => crc32c(b));
    assert.deepEqual(Buffer.concat(chunks), whole);
    assert.ok(
      chunks.some((c) => c.buffer === m0.buffer && c.byteOffset === m0.byteOffset),
      'records not copied',
    );
  });

  it('crc32cCombine gives the CRC of a concatenation', () => {
    for (let i = 0; i < 100; i++) {
      const a = randomBytes(i * 7);
      const b = randomBytes((i * 7919) % 70_000);
      assert.equal(crc32cCombine(crc32c(a), crc32c(b), b.length), crc32c(Buffer.concat([a, b])));
    }
  });

  it('refuses two batches for one partition and empty batches', () => {
    const b = {
      topic: 't',
      partition: 0,
      records: section(sample(1)),
      count: 1,
      firstTimestampMs: 1,
      maxTimestampMs: 1,
      baseSequence: 0,
    };
    const head = { ...IDENT, acks: -1, timeoutMs: 1 };
    assert.throws(() => encodeOpaqueProduceRequest(1, CLIENT, head, [b, b]), /two batches/);
    assert.throws(() => encodeOpaqueProduceRequest(1, CLIENT, head, [{ ...b, count: 0 }]), /no records/);
  });
});

describe('TxnOffsetCommit v3 (flexible)', () => {
  it('lays out the request as the spec says', () => {
    const buf = encodeTxnOffsetCommitRequest(9, Buffer.from('c'), {
      transactionalId: 'tx',
      producerId: 3n,
      producerEpoch: 1,
      groupId: 'g',
      generationId: 12,
      memberId: 'm-1',
      groupInstanceId: null,
      partitions: [
        { topic: 'in', partition: 0, offset: 100n },
        { topic: 'in', partition: 2, offset: 7n, leaderEpoch: 4, metadata: 'x' },
      ],
    });
    const expected = Buffer.concat([
      Buffer.from([0, 28, 0, 3, 0, 0, 0, 9, 0, 1, 0x63, 0]), // api key 28, v3, correlation 9, client 'c', header tags
      Buffer.from([3, 0x74, 0x78]), // compact 'tx'
      Buffer.from([2, 0x67]), // compact 'g'
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 3, 0, 1]), // producer id, epoch
      Buffer.from([0, 0, 0, 12]), // generation
      Buffer.from([4, 0x6d, 0x2d, 0x31]), // compact 'm-1'
      Buffer.from([0]), // group instance id null
      Buffer.from([2, 3, 0x69, 0x6e, 3]), // 1 topic, 'in', 2 partitions
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0xff, 0xff, 0xff, 0xff, 0, 0]), // p0 @100, epoch -1, null, tags
      Buffer.from([0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 4, 2, 0x78, 0]), // p2 @7, epoch 4, 'x', tags
      Buffer.from([0, 0]), // topic tags, request tags
    ]);
    assert.equal(buf.readInt32BE(0), buf.length - 4);
    assert.deepEqual(buf.subarray(4), expected);
  });

  it('decodes a response with its header tag section and per-partition errors', () => {
    const body = Buffer.from([
      0, // response header v1 tags
      0,
      0,
      0,
      0, // throttle
      2,
      3,
      0x69,
      0x6e, // 1 topic 'in'
      3,
      0,
      0,
      0,
      0,
      0,
      0,
      0, // 2 partitions: p0 ok, tags
      0,
      0,
      0,
      1,
      0,
      22,
      0, // p1 ILLEGAL_GENERATION, tags
      0, // topic tags
      0, // response tags
    ]);
    assert.deepEqual(decodeTxnOffsetCommitResponse(body), [
      { topic: 'in', partition: 0, errorCode: 0 },
      { topic: 'in', partition: 1, errorCode: 22 },
    ]);
  });
});

describe('response decoders', () => {
  it('InitProducerId, AddPartitionsToTxn and the single-error-code responses', () => {
    const init = Buffer.alloc(16);
    init.writeInt16BE(51, 4);
    init.writeBigInt64BE(77n, 6);
    init.writeInt16BE(3, 14);
    assert.deepEqual(decodeInitProducerIdTxnResponse(init), { errorCode: 51, producerId: 77n, producerEpoch: 3 });
    const add = Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0x74, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 55]);
    assert.deepEqual(decodeAddPartitionsToTxnResponse(add), [
      { topic: 't', partition: 0, errorCode: 0 },
      { topic: 't', partition: 1, errorCode: 55 },
    ]);
    assert.equal(decodeErrorCodeResponse(Buffer.from([0, 0, 0, 0, 0, 90])), 90);
    assert.throws(() => decodeErrorCodeResponse(Buffer.from([0, 0, 0])), /truncated/);
  });
});

describe('splitRecords', () => {
  it('splits into pieces under the limit with offsetDeltas renumbered from 0, records intact', () => {
    const msgs = sample(300, 100);
    const whole = section(msgs, 5);
    const pieces = splitRecords(whole, msgs.length, 4096);
    assert.ok(pieces.length > 5);
    let next = 0;
    for (const p of pieces) {
      assert.ok(p.records.length <= 4096);
      const decoded = decodeSection(Buffer.from(p.records));
      assert.equal(decoded.length, p.count);
      decoded.forEach((r, i) => {
        assert.equal(r.offset, String(i)); // offsetDelta i
        assert.equal(r.timestamp, '1005'); // timestampDelta 5 kept
        const m = msgs[next + i] as (typeof msgs)[number];
        assert.deepEqual(r.key, m.key);
        assert.deepEqual(r.value, m.value);
        assert.equal(r.headers['source-offset']?.toString(), m.headers['source-offset']);
      });
      next += p.count;
    }
    assert.equal(next, msgs.length);
  });

  it('keeps a section that fits in one piece byte-identical, and rejects a record larger than the limit', () => {
    const whole = section(sample(4));
    const [only] = splitRecords(whole, 4, 1 << 20);
    assert.deepEqual(Buffer.from(only?.records ?? []), whole);
    assert.throws(() => splitRecords(section(sample(2, 500)), 2, 200), /larger than 200/);
    assert.throws(() => splitRecords(whole, 5, 1 << 20), /overruns|truncated/);
    assert.throws(() => splitRecords(whole, 3, 1 << 20), /after 3 records/);
  });
});
