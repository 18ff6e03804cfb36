/**
 * Conformance against maintained clients, on the real broker, for every codec: what kafka-wire writes (the
 * transactional/idempotent producer, and the edge's Produce encoder with compressProduceRequest) is read back by kafkajs
 * and by @platformatic/kafka with identical keys, values, headers, partitions and offsets; and kafka-wire reads what
 * they write (kafkajs: none and gzip; @platformatic/kafka: none, gzip, snappy, lz4 and zstd with its own wasm codecs)
 * through its own Fetch and decompression. Needs `npm run stack:up`.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Consumer as PConsumer, Producer as PProducer } from '@platformatic/kafka';
import '@pep/contracts/kafkajs-read-committed';
import { CompressionTypes } from 'kafkajs';
import { KafkaCluster } from '../src/cluster.ts';
import type { ProducerCodec } from '../src/compression.ts';
import {
  compressProduceRequest,
  decodeInitProducerIdResponse,
  decodeProduceResponse,
  encodeInitProducerIdRequest,
  encodeProduceRequest,
} from '../src/protocol.ts';
import { COMPRESSION_CODECS as CODEC_NAMES } from '../src/record-batch.ts';
import { TransactionalProducer } from '../src/transaction.ts';
import {
  BROKERS,
  createTopics,
  type DecodedRecord,
  deleteCreatedTopics,
  fetchAll,
  kafkajs,
  recordsSection,
  type TestRecord,
  unique,
} from './helpers.ts';

const PARTITIONS = 3;

/** The workload: keys (some null, some unicode), values (binary, empty, 20 KiB), headers (none, several, unicode). */
function workload(tag: string): (TestRecord & { partition: number })[] {
  return Array.from({ length: 45 }, (_, i) => ({
    partition: i % PARTITIONS,
    key: i % 7 === 3 ? null : `key-${tag}-${i}${i % 5 === 0 ? '-ключ-🔑' : ''}`,
    value:
      i % 11 === 4
        ? ''
        : i % 13 === 6
          ? `big-${'payment '.repeat(2560)}`
          : JSON.stringify({ id: `evt_${tag}_${i}`, amount_minor: i * 125, note: i % 3 ? 'café ☕' : 'plain' }),
    headers: (i % 4 === 0 ? {} : { 'x-request-id': `req-${i}`, 'x-provider': i % 2 ? 'stripe' : 'адьен' }) as Record<
      string,
      string
    >,
  }));
}

interface Seen {
  partition: number;
  offset: string;
  key: string | null;
  value: string;
  headers: Record<string, string>;
}

const sortSeen = (a: Seen[]) =>
  [...a].sort((x, y) => x.partition - y.partition || Number(BigInt(x.offset) - BigInt(y.offset)));

/** What a reader must see: per partition, the records in order from offset 0. */
function expected(records: ReturnType<typeof workload>): Seen[] {
  const next = new Map<number, number>();
  return records.map((r) => {
    const o = next.get(r.partition) ?? 0;
    next.set(r.partition, o + 1);
    return { partition: r.partition, offset: String(o), key: r.key, value: r.value, headers: { ...r.headers } };
  });
}

const fromDecoded = (d: DecodedRecord[]): Seen[] =>
  d.map((r) => ({
    partition: r.partition,
    offset: String(r.offset),
    key: r.key === null ? null : r.key.toString('utf8'),
    value: r.value?.toString('utf8') ?? '',
    headers: Object.fromEntries(r.headers.map(([k, v]) => [k, v.toString('utf8')])),
  }));

async function readWithKafkajs(topic: string, n: number): Promise<Seen[]> {
  const consumer = kafkajs().consumer({ groupId: unique('conf-kafkajs') });
  await consumer.connect();
  const seen: Seen[] = [];
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`kafkajs read ${seen.length} of ${n}`)), 30_000);
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          seen.push({
            partition,
            offset: message.offset,
            key: message.key?.toString('utf8') ?? null,
            value: message.value?.toString('utf8') ?? '',
            headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
          });
          if (seen.length >= n) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

async function readWithPlatformatic(topic: string, n: number): Promise<Seen[]> {
  const consumer = new PConsumer({
    clientId: 'conf-platformatic',
    groupId: unique('conf-pk'),
    bootstrapBrokers: [...BROKERS],
  });
  const seen: Seen[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`@platformatic/kafka read ${seen.length} of ${n}`)), 30_000);
      stream.on('data', (m) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of m.headers) headers[k.toString('utf8')] = v.toString('utf8');
        seen.push({
          partition: m.partition,
          offset: String(m.offset),
          // @platformatic/kafka gives an empty Buffer for a null key
          key: m.key && m.key.length > 0 ? m.key.toString('utf8') : null,
          value: m.value?.toString('utf8') ?? '',
          headers,
        });
        if (seen.length >= n) {
          clearTimeout(timer);
          resolve();
        }
      });
      stream.on('error', reject);
    });
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return seen;
}

/** @platformatic/kafka turns a null key into an empty one: compare keys with that one normalisation. */
const nullKeysAsEmpty = (a: Seen[]) => a.map((s) => ({ ...s, key: s.key === '' ? null : s.key }));

let cluster: KafkaCluster;
before(() => {
  cluster = new KafkaCluster({ brokers: BROKERS, clientId: 'kw-conformance' });
});
after(async () => {
  cluster.close();
  await deleteCreatedTopics();
});

describe('kafka-wire writes, kafkajs and @platformatic/kafka read identically', () => {
  for (const codec of ['none', 'gzip', 'lz4', 'zstd'] as ProducerCodec[]) {
    test(`transactional-producer path, compression ${codec}`, async () => {
      const topic = unique(`conf-kw-${codec}`);
      await createTopics([{ topic, partitions: PARTITIONS }]);
      const records = workload(codec);
      const producer = new TransactionalProducer({ cluster, transactionalId: null, compression: codec });
      await producer.init();
      // Two sends, so every partition holds two batches (offsets continue across batches).
      for (const half of [records.slice(0, 20), records.slice(20)]) {
        const batches = Array.from({ length: PARTITIONS }, (_, p) => ({
          topic,
          partition: p,
          ...recordsSection(half.filter((r) => r.partition === p)),
        }));
        await producer.send(batches);
      }
      producer.close();
      const want = expected([...records.slice(0, 20), ...records.slice(20)]);
      const raw = await fetchAll(cluster, topic, PARTITIONS);
      assert.deepEqual(
        [...new Set(raw.map((r) => CODEC_NAMES[r.codec]))],
        [codec],
        'every batch on the broker has the codec',
      );
      assert.deepEqual(sortSeen(fromDecoded(raw)), sortSeen(want), 'kafka-wire reads back its own');
      if (codec === 'none' || codec === 'gzip')
        assert.deepEqual(sortSeen(await readWithKafkajs(topic, want.length)), sortSeen(want), 'kafkajs');
      assert.deepEqual(
        sortSeen(await readWithPlatformatic(topic, want.length)),
        nullKeysAsEmpty(sortSeen(want)),
        '@platformatic/kafka',
      );
    });
  }

  test('edge Produce encoder with compressProduceRequest (lz4, zstd): read by @platformatic/kafka', async () => {
    for (const codec of ['lz4', 'zstd'] as ProducerCodec[]) {
      const topic = unique(`conf-edge-${codec}`);
      await createTopics([{ topic, partitions: 1 }]);
      const records = workload(`edge-${codec}`).map((r) => ({ ...r, partition: 0 }));
      const node = await cluster.leaderFor(topic, 0);
      const identity = await cluster.send(
        node,
        (id) => encodeInitProducerIdRequest(id, cluster.clientId),
        decodeInitProducerIdResponse,
      );
      const res = await cluster.send(
        node,
        (id) =>
          compressProduceRequest(
            encodeProduceRequest(
              id,
              cluster.clientId,
              -1,
              10_000,
              identity,
              [
                {
                  topic,
                  partitions: [
                    {
                      partition: 0,
                      baseSequence: 0,
                      records: records.map((r) => ({
                        key: r.key,
                        value: Buffer.from(r.value),
                        headers: r.headers ?? {},
                      })),
                    },
                  ],
                },
              ],
              Date.now(),
            ),
            codec,
          ),
        decodeProduceResponse,
      );
      assert.deepEqual(
        res.map((r) => r.errorCode),
        [0],
      );
      const want = expected(records);
      const raw = await fetchAll(cluster, topic, 1);
      assert.equal(CODEC_NAMES[raw[0]?.codec ?? 0], codec);
      assert.deepEqual(fromDecoded(raw), want);
      assert.deepEqual(sortSeen(await readWithPlatformatic(topic, want.length)), nullKeysAsEmpty(want));
    }
  });
});

describe('kafka-wire reads what maintained clients write', () => {
  test('kafkajs (none, gzip)', async () => {
    for (const compression of [CompressionTypes.None, CompressionTypes.GZIP]) {
      const topic = unique('conf-from-kafkajs');
      await createTopics([{ topic, partitions: PARTITIONS }]);
      const records = workload(`kjs${compression}`);
      const producer = kafkajs().producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      try {
        await producer.send({
          topic,
          compression,
          acks: -1,
          messages: records.map((r) => ({ partition: r.partition, key: r.key, value: r.value, headers: r.headers })),
        });
      } finally {
        await producer.disconnect();
      }
      const raw = await fetchAll(cluster, topic, PARTITIONS);
      assert.equal(raw[0]?.codec, compression);
      assert.deepEqual(sortSeen(fromDecoded(raw)), sortSeen(expected(records)));
    }
  });

  test('@platformatic/kafka (none, gzip, snappy, lz4, zstd)', async () => {
    for (const compression of ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const) {
      const topic = unique(`conf-from-pk-${compression}`);
      await createTopics([{ topic, partitions: PARTITIONS }]);
      const records = workload(`pk-${compression}`);
      const producer = new PProducer({ clientId: 'conf-pk-producer', bootstrapBrokers: [...BROKERS], acks: -1 });
      try {
        await producer.send({
          compression,
          messages: records.map((r) => ({
            topic,
            partition: r.partition,
            ...(r.key === null ? {} : { key: Buffer.from(r.key) }),
            value: Buffer.from(r.value),
            headers: new Map(Object.entries(r.headers ?? {}).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])),
          })),
        });
      } finally {
        await producer.close();
      }
      const raw = await fetchAll(cluster, topic, PARTITIONS);
      assert.equal(CODEC_NAMES[raw[0]?.codec ?? -1], compression, 'the batches carry the codec');
      assert.deepEqual(sortSeen(fromDecoded(raw)), sortSeen(expected(records)));
    }
  });
});
