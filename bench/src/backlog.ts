/**
 * A benchmark's backlog writer: kafka-wire's idempotent producer (acks=all), one session, connected with retries
 * (a broker started a moment ago may answer COORDINATOR_LOAD_IN_PROGRESS for a while), closed after use.
 */
import { IdempotentProducer, type OutRecord } from '@pep/kafka-wire/idempotent-producer';

export type { OutRecord };

/** Produces `batches` in order, each one produce call; returns when all were acknowledged. */
export async function produceBacklog(
  brokers: readonly string[],
  clientId: string,
  batches: Iterable<OutRecord[]>,
  log: { debug: (msg: string, fields?: Record<string, unknown>) => void } = { debug: () => undefined },
): Promise<void> {
  const producer = new IdempotentProducer({ brokers, clientId, requestTimeoutMs: 30_000, producers: 1, log });
  for (let attempt = 1; ; attempt++) {
    try {
      await producer.connect();
      break;
    } catch (err) {
      if (attempt >= 30) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    for (const batch of batches) await producer.send(batch);
  } finally {
    await producer.close();
  }
}
