/**
 * Kafka smoke test with the client the platform uses (kafkajs 2.2.4) against the local Kafka 4 broker:
 * `admin.createTopics`, an idempotent acks=all producer, a consumer group that reads back exactly what was
 * produced and commits it, the contract topics with their partition counts, and broker-side auto-creation off.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TOPIC_SPECS } from '@pep/contracts';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import '@pep/contracts/kafkajs-read-committed';
import { type Admin, type Consumer, Partitioners, type Producer } from 'kafkajs';
import { partitionsFor } from '../src/index.ts';
import { ensureServices, kafkaClient, uniqueName, withTimeout } from './support.ts';

const PARTITIONS = 3;
const MESSAGE_COUNT = 300;
const BATCH_SIZE = 50;

describe('kafka', { timeout: 180_000 }, () => {
  const topic = uniqueName('stack-test.kafka');
  const groupId = uniqueName('stack-test-group');
  const kafka = kafkaClient('stack-test-kafka');
  let admin: Admin;

  before(async () => {
    await ensureServices(['kafka']);
    admin = kafka.admin();
    await admin.connect();
  });

  after(async () => {
    if (!admin) return;
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.deleteTopics({ topics: [topic], timeout: 15_000 }).catch(() => {});
    await admin.disconnect();
  });

  test('createTopicsAndWait creates a topic with the requested partitions, usable at once', async () => {
    const created = await createTopicsAndWait(admin, [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }]);
    assert.equal(created, true);
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    assert.equal(meta.topics[0]?.partitions.length, PARTITIONS);
    // A second create of the same topic reports "already there" instead of failing or duplicating.
    assert.equal(await createTopicsAndWait(admin, [{ topic, numPartitions: PARTITIONS }]), false);
  });

  test('an idempotent acks=all producer is acknowledged for every message', async () => {
    const producer: Producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    try {
      let acknowledged = 0;
      for (let start = 0; start < MESSAGE_COUNT; start += BATCH_SIZE) {
        const messages = Array.from({ length: BATCH_SIZE }, (_, j) => {
          const i = start + j;
          return { key: `key-${i % 17}`, value: `value-${i}`, headers: { seq: String(i) } };
        });
        const records = await producer.send({ topic, acks: -1, messages });
        // One record per partition written to, each with the offset its first message got.
        for (const r of records) {
          assert.equal(r.errorCode, 0);
          assert.equal(r.topicName, topic);
        }
        acknowledged += messages.length;
      }
      assert.equal(acknowledged, MESSAGE_COUNT);
    } finally {
      await producer.disconnect();
    }
    const offsets = await admin.fetchTopicOffsets(topic);
    const total = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    assert.equal(total, MESSAGE_COUNT, 'the log holds exactly the produced messages (no duplicates)');
    assert.ok(offsets.filter((p) => Number(p.high) > 0).length > 1, 'keys spread over more than one partition');
  });

  test('a consumer group reads back exactly what was produced and commits its offsets', async () => {
    const consumer: Consumer = kafka.consumer({ groupId, sessionTimeout: 30_000, heartbeatInterval: 3000 });
    const seen = new Map<number, { key: string; value: string; partition: number; offset: number }>();
    let duplicates = 0;
    const lastSeqByKey = new Map<string, number>();
    let orderViolations = 0;
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      let resolveAll: () => void = () => {};
      const allSeen = new Promise<void>((r) => {
        resolveAll = r;
      });
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          const seq = Number(message.headers?.seq?.toString());
          const key = message.key?.toString() ?? '';
          if (seen.has(seq)) duplicates++;
          seen.set(seq, { key, value: message.value?.toString() ?? '', partition, offset: Number(message.offset) });
          // Same key, same partition: order within a key is the order of production.
          if ((lastSeqByKey.get(key) ?? -1) > seq) orderViolations++;
          lastSeqByKey.set(key, seq);
          if (seen.size === MESSAGE_COUNT) resolveAll();
        },
      });
      await withTimeout('consuming every produced message', 90_000, allSeen);
      // Give a stray extra message the chance to show up before asserting "exactly".
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await consumer.disconnect(); // commits the resolved offsets on the way out
    }
    assert.equal(seen.size, MESSAGE_COUNT);
    assert.equal(duplicates, 0);
    assert.equal(orderViolations, 0);
    for (let i = 0; i < MESSAGE_COUNT; i++) {
      const m = seen.get(i);
      assert.ok(m, `message ${i} not consumed`);
      assert.equal(m.value, `value-${i}`);
      assert.equal(m.key, `key-${i % 17}`);
    }
    const keyPartitions = new Map<string, Set<number>>();
    for (const m of seen.values()) keyPartitions.set(m.key, (keyPartitions.get(m.key) ?? new Set()).add(m.partition));
    for (const [key, parts] of keyPartitions) assert.equal(parts.size, 1, `key ${key} spread over partitions`);

    const high = await admin.fetchTopicOffsets(topic);
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committedByPartition = new Map(committed[0]?.partitions.map((p) => [p.partition, p.offset]));
    for (const p of high) {
      assert.equal(committedByPartition.get(p.partition), p.high, `committed offset of partition ${p.partition}`);
    }
  });

  test('every contract topic exists with its configured partition count and replication 1', async () => {
    const names = TOPIC_SPECS.map((t) => t.name);
    const existing = new Set(await admin.listTopics());
    for (const name of names) assert.ok(existing.has(name), `topic ${name} missing`);
    const meta = await admin.fetchTopicMetadata({ topics: names });
    for (const spec of TOPIC_SPECS) {
      const t = meta.topics.find((m) => m.name === spec.name);
      assert.ok(t, `no metadata for ${spec.name}`);
      assert.equal(t.partitions.length, partitionsFor(spec.kind), `partitions of ${spec.name}`);
      for (const p of t.partitions) assert.equal(p.replicas.length, 1, `replicas of ${spec.name}/${p.partitionId}`);
    }
  });

  test('producing to an unknown topic fails and does not create it (auto-creation is off)', async () => {
    const unknown = uniqueName('stack-test.no-such-topic');
    // The client asks for auto-creation (kafkajs' default); only the broker setting can refuse it.
    const producer = kafka.producer({
      allowAutoTopicCreation: true,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 500 },
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    try {
      await assert.rejects(
        withTimeout(
          'producing to an unknown topic',
          30_000,
          producer.send({ topic: unknown, acks: -1, messages: [{ value: 'x' }] }),
        ),
        (err: Error) =>
          /does not host this topic-partition|UNKNOWN_TOPIC|not exist/i.test(
            `${err.message} ${(err as { cause?: Error }).cause?.message ?? ''}`,
          ),
      );
    } finally {
      await producer.disconnect();
    }
    assert.equal((await admin.listTopics()).includes(unknown), false, 'the unknown topic was created');
  });
});
