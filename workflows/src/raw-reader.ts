/**
 * Reads one record of a raw topic by its coordinates (read committed): an approved quarantined record is re-injected
 * with its ORIGINAL bytes, which only the raw topics keep (DLQ records and quarantine rows carry redacted copies,
 * issue 13). A short-lived kafkajs consumer of a throwaway group seeks to the offset; the group is deleted afterwards.
 * Not for bulk reads: one decision, one record.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { RawRecord } from './activities.ts';

/** How long one read may take before it is reported as not found (the record then counts as gone). */
export const RAW_READ_TIMEOUT_MS = 30_000;

export function createRawReader(kafka: Kafka, timeoutMs = RAW_READ_TIMEOUT_MS) {
  return async function readRaw(topic: string, partition: number, offset: string): Promise<RawRecord | null> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      // Out of range (retention removed it, or it never existed): nothing to read.
      const bounds = await admin.fetchTopicOffsets(topic);
      const p = bounds.find((b) => b.partition === partition);
      if (!p || BigInt(offset) < BigInt(p.low) || BigInt(offset) >= BigInt(p.high)) return null;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const groupId = `pep-review-reader-${randomUUID()}`;
    const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      const found = new Promise<RawRecord | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), timeoutMs);
        void consumer.run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            if (batch.partition !== partition) return;
            for (const m of batch.messages) {
              if (BigInt(m.offset) < BigInt(offset)) continue;
              clearTimeout(timer);
              if (BigInt(m.offset) !== BigInt(offset) || m.value === null) return resolve(null);
              const headers: Record<string, string> = {};
              for (const [k, v] of Object.entries(m.headers ?? {}))
                if (v !== undefined) headers[k] = Array.isArray(v) ? String(v[0]) : String(v);
              return resolve({ key: m.key, value: m.value, headers });
            }
          },
        });
        consumer.seek({ topic, partition, offset });
      });
      return await found;
    } finally {
      await consumer.disconnect().catch(() => undefined);
      const admin2 = kafka.admin();
      await admin2.connect().catch(() => undefined);
      await admin2.deleteGroups([groupId]).catch(() => undefined);
      await admin2.disconnect().catch(() => undefined);
    }
  };
}
