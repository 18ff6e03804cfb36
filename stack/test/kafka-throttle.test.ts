/**
 * Throttling against the real broker (KIP-219): a producer byte-rate quota is set for one client id with Kafka's own
 * ConfigCommand; kafka-wire's producer then reads throttle_time_ms from the Produce answers, reports it, and holds its
 * next requests back, so its rate falls to about the quota instead of the broker muting the connection. Needs the
 * local stack (`npm run stack:up`).
 */

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KafkaCluster } from '@pep/kafka-wire/cluster';
import { BROKERS, createTopics, deleteCreatedTopics, kafkajs, recordsSection, unique } from '@pep/kafka-wire/testing';
import { TransactionalProducer } from '@pep/kafka-wire/transaction';
import { kafkaBootstrap, kafkaTool } from '../src/index.ts';

const CLIENT_ID = unique('kw-throttled');
const BYTES_PER_S = 64 * 1024;

function quota(op: '--add-config' | '--delete-config', value: string): void {
  kafkaTool('kafka.admin.ConfigCommand', [
    '--bootstrap-server',
    kafkaBootstrap(1)[0] as string,
    '--alter',
    '--entity-type',
    'clients',
    '--entity-name',
    CLIENT_ID,
    op,
    value,
  ]);
}

let topic: string;
before(async () => {
  topic = unique('kw-throttle');
  await createTopics([{ topic, partitions: 1 }]);
  quota('--add-config', `producer_byte_rate=${BYTES_PER_S}`);
});
after(async () => {
  quota('--delete-config', 'producer_byte_rate');
  await deleteCreatedTopics();
});

test('a producer over its quota is told to wait, waits, and loses nothing', async () => {
  const throttles: number[] = [];
  const cluster = new KafkaCluster({
    brokers: BROKERS,
    clientId: CLIENT_ID,
    onThrottle: (ms, apiKey) => {
      if (apiKey === 0) throttles.push(ms);
    },
  });
  const producer = new TransactionalProducer({ cluster, transactionalId: null });
  try {
    await producer.init();
    const value = 'x'.repeat(8 * 1024);
    const batches = 24; // 24 × 8 records × 8 KiB = 1.5 MiB at 64 KiB/s: the quota must bite
    const started = Date.now();
    for (let i = 0; i < batches; i++) {
      const recs = Array.from({ length: 8 }, (_, j) => ({ key: `k${i}-${j}`, value }));
      await producer.send([{ topic, partition: 0, ...recordsSection(recs) }]);
    }
    const elapsedMs = Date.now() - started;
    assert.ok(throttles.length > 0, 'the broker sent throttle_time_ms > 0 and the client saw it');
    // Honouring the throttle spreads the 1.5 MiB over roughly bytes/quota seconds (the first bytes are free: Kafka
    // measures over a window), so well over a second rather than the ~100 ms an unthrottled loop takes here.
    assert.ok(elapsedMs > 2000, `sent in ${elapsedMs} ms despite ${throttles.length} throttles`);
    const admin = kafkajs().admin();
    await admin.connect();
    try {
      const [o] = await admin.fetchTopicOffsets(topic);
      assert.equal(o?.high, String(batches * 8), 'every record is on the topic once');
    } finally {
      await admin.disconnect();
    }
  } finally {
    producer.close();
    cluster.close();
  }
});
