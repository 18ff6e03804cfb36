/**
 * Shared setup for kafka-wire's integration tests against the local broker (KAFKA_BROKERS, default 127.0.0.1:9092):
 * the broker list, unique names per run, and topic creation through kafkajs's admin (an independent client).
 */

import { Kafka, logLevel } from 'kafkajs';

export const BROKERS: readonly string[] = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

const RUN = `${Date.now().toString(36)}-${process.pid}`;
let seq = 0;
/** A name unique to this test run (topics, groups, transactional ids). */
export const unique = (prefix: string): string => `${prefix}-${RUN}-${seq++}`;

export const kafkajs = (): Kafka =>
  new Kafka({ brokers: [...BROKERS], clientId: 'kafka-wire-test', logLevel: logLevel.NOTHING });

export async function createTopics(topics: readonly { topic: string; partitions: number }[]): Promise<void> {
  const admin = kafkajs().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((t) => ({ topic: t.topic, numPartitions: t.partitions, replicationFactor: 1 })),
    });
  } finally {
    await admin.disconnect();
  }
}
