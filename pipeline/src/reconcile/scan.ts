/**
 * Reads every committed record of some topics from the beginning to the end offsets taken at the start
 * (read_committed, so aborted transactional writes are not counted: with @pep/contracts/kafkajs-read-committed's filter,
 * which the process must have loaded before kafkajs), calling `onRecord` for each. Uses a throwaway
 * consumer group that is deleted afterwards. For reconciliation and tests, not for serving traffic.
 */
import { randomBytes } from 'node:crypto';
import { assertKafkajsReadCommitted } from '@pep/contracts/kafkajs-read-committed';
import type { IHeaders, Kafka, KafkaMessage } from 'kafkajs';

export interface PartitionRange {
  readonly topic: string;
  readonly partition: number;
  readonly low: bigint;
  readonly high: bigint;
}

export async function partitionRanges(kafka: Kafka, topics: readonly string[]): Promise<PartitionRange[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const out: PartitionRange[] = [];
    for (const topic of topics) {
      for (const o of await admin.fetchTopicOffsets(topic)) {
        out.push({ topic, partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) });
      }
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

export function headerText(h: IHeaders | undefined, name: string): string | undefined {
  const v = h?.[name];
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : one.toString();
}

export async function scanTopics(
  kafka: Kafka,
  ranges: readonly PartitionRange[],
  onRecord: (topic: string, partition: number, m: KafkaMessage) => void,
  timeoutMs: number,
): Promise<void> {
  // kafkajs's own filter counts records of some aborted transactions as committed (duplicates, phantom outputs).
  assertKafkajsReadCommitted();
  const end = new Map(ranges.map((r) => [`${r.topic}/${r.partition}`, r.high]));
  const pending = new Set(ranges.filter((r) => r.high > r.low).map((r) => `${r.topic}/${r.partition}`));
  if (pending.size === 0) return;
  const topics = [...new Set(ranges.map((r) => r.topic))];
  const groupId = `pep-reconcile-${randomBytes(6).toString('hex')}`;
  const consumer = kafka.consumer({
    groupId,
    readUncommitted: false,
    maxBytes: 8 << 20,
    allowAutoTopicCreation: false,
  });
  await consumer.connect();
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`scan timed out after ${timeoutMs} ms; unfinished: ${[...pending].join(', ')}`)),
        timeoutMs,
      );
      const progress = (topic: string, partition: number, lastOffset: string) => {
        const k = `${topic}/${partition}`;
        if (BigInt(lastOffset) + 1n >= (end.get(k) ?? 0n)) pending.delete(k);
        if (pending.size === 0) resolve();
      };
      // Also fires for batches of only transaction markers or aborted records, which never reach eachBatch.
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) =>
        progress(e.payload.topic, e.payload.partition, e.payload.lastOffset),
      );
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const limit = end.get(`${batch.topic}/${batch.partition}`) ?? 0n;
            for (const m of batch.messages) {
              if (BigInt(m.offset) < limit) onRecord(batch.topic, batch.partition, m);
            }
          },
        })
        .catch(reject);
    });
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
