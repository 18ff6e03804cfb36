/**
 * Shared helpers of the pipeline integration tests: private topics per test run (so suites can run repeatedly and
 * alongside others on the shared broker), a producer, polling waits, and a read-committed topic reader.
 */
// Before kafkajs (below and in the code under test): its own read_committed filter lets aborted records through.
import '@pep/contracts/kafkajs-read-committed';
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { serviceAddresses } from '@pep/contracts';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import { type Admin, Kafka, logLevel, type Message } from 'kafkajs';
import pg from 'pg';
import { migrate } from '../src/migrate.ts';

export { freePort } from '@pep/stack/ports';

export const addr = serviceAddresses();

export function testKafka(clientId = 'pipeline-test'): Kafka {
  return new Kafka({ clientId, brokers: [...addr.kafkaBrokers], logLevel: logLevel.NOTHING, retry: { retries: 8 } });
}

/** A prefix unique to this run, e.g. `t-1a2b3c4d.`; topics become `<prefix>webhooks.stripe.charge`. */
export function runPrefix(tag: string): string {
  return `t-${tag}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}.`;
}

/** A whole private pipeline for one test file: raw topics, outputs, DLQs, groups, and its clients. */
export interface PrivatePipeline {
  readonly prefix: string;
  readonly raw: readonly string[];
  readonly normalized: string;
  readonly validationDlq: string;
  readonly webhookDlq: string;
  readonly transformerGroup: string;
  readonly quarantineGroup: string;
  readonly kafka: Kafka;
  readonly admin: Admin;
  readonly pool: pg.Pool;
}

/**
 * Registers the file's before/after hooks: migrations and private topics (raw with 3 partitions) before; its
 * quarantine rows, topics and groups removed after. `rawNames` are unprefixed, e.g. `webhooks.stripe.charge`.
 */
export function privatePipeline(tag: string, rawNames: readonly string[]): PrivatePipeline {
  const prefix = runPrefix(tag);
  const kafka = testKafka();
  const p: PrivatePipeline = {
    prefix,
    raw: rawNames.map((t) => prefix + t),
    normalized: `${prefix}payments.normalized`,
    validationDlq: `${prefix}payments.validation.dlq`,
    webhookDlq: `${prefix}webhooks.dlq`,
    transformerGroup: `${prefix}transformer`,
    quarantineGroup: `${prefix}quarantine`,
    kafka,
    admin: kafka.admin(),
    pool: new pg.Pool({ connectionString: addr.databaseUrl, max: 1 }),
  };
  before(async () => {
    await migrate({ databaseUrl: addr.databaseUrl });
    await p.admin.connect();
    await createTopics(p.admin, p.raw, 3);
    await createTopics(p.admin, [p.normalized], 3);
    await createTopics(p.admin, [p.validationDlq, p.webhookDlq], 1);
  });
  after(async () => {
    await p.pool.query('DELETE FROM webhook_quarantine WHERE kafka_topic = $1', [p.webhookDlq]);
    await p.pool.query('DELETE FROM validation_quarantine WHERE kafka_topic = $1', [p.validationDlq]);
    await deleteTopics(p.admin, [...p.raw, p.normalized, p.validationDlq, p.webhookDlq]);
    await p.admin.deleteGroups([p.transformerGroup, p.quarantineGroup]).catch(() => undefined);
    await p.admin.disconnect();
    await p.pool.end();
  });
  return p;
}

export async function createTopics(admin: Admin, topics: readonly string[], partitions = 1): Promise<void> {
  await createTopicsAndWait(
    admin,
    topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
  );
}

export async function deleteTopics(admin: Admin, topics: readonly string[]): Promise<void> {
  await admin.deleteTopics({ topics: [...topics] }).catch(() => undefined);
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export interface ReadRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, string>;
}

/**
 * Every committed record of `topics` (read_committed), reading until each partition reaches its end offset.
 * `readUncommitted`: also the records of aborted transactions (to show that an abort really wrote some).
 */
export async function readAll(
  kafka: Kafka,
  topics: readonly string[],
  timeoutMs = 30_000,
  { readUncommitted = false }: { readonly readUncommitted?: boolean } = {},
): Promise<ReadRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, bigint>();
  for (const t of topics) {
    for (const o of await admin.fetchTopicOffsets(t)) ends.set(`${t}/${o.partition}`, BigInt(o.high));
  }
  await admin.disconnect();
  const out: ReadRecord[] = [];
  const pending = new Set([...ends].filter(([, end]) => end > 0n).map(([k]) => k));
  if (pending.size === 0) return out;
  const groupId = `reader-${randomBytes(6).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, readUncommitted });
  await consumer.connect();
  await consumer.subscribe({ topics: [...topics], fromBeginning: true });
  const done = new Promise<void>((resolve) => {
    // END_BATCH_PROCESS also fires for batches holding only markers or aborted records, which skip eachBatch.
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const k = `${e.payload.topic}/${e.payload.partition}`;
      if (BigInt(e.payload.lastOffset) + 1n >= (ends.get(k) ?? 0n)) pending.delete(k);
      if (pending.size === 0) resolve();
    });
    void consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const headers: Record<string, string> = {};
          for (const [h, v] of Object.entries(m.headers ?? {})) if (v !== undefined) headers[h] = v.toString();
          out.push({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key ? m.key.toString() : null,
            value: m.value,
            headers,
          });
        }
      },
    });
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      done,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`readAll timed out; pending ${[...pending].join(', ')}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
    const a = kafka.admin();
    await a.connect();
    await a.deleteGroups([groupId]).catch(() => undefined);
    await a.disconnect();
  }
  return out;
}

export async function produce(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 500) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
    }
  } finally {
    await producer.disconnect();
  }
}
