/**
 * kafkajs plumbing shared by the consumers: a client whose log lines go through our structured logger, and a
 * poller that publishes consumer lag per partition (log-end offset minus the group's committed offset) as a gauge.
 * Lag is read from the broker, not from fetched batches, so idle and stalled partitions are reported too.
 */
// First: kafkajs's own read_committed filter delivers records of some aborted transactions (see the module).
import '@pep/contracts/kafkajs-read-committed';
import { type KafkaConnectionConfig, kafkajsConnection } from '@pep/contracts/kafka-security';

import type { Logger } from '@pep/contracts/log';
import type { Gauge } from '@pep/contracts/metrics';
import { type Admin, Kafka, type LogEntry, logLevel } from 'kafkajs';

/** `security`: TLS and SASL from `loadKafkaConnection()` (the service config's `kafka`); absent: plaintext. */
export function createKafka(opts: {
  brokers: readonly string[];
  security?: KafkaConnectionConfig;
  clientId: string;
  log: Logger;
}): Kafka {
  const log = opts.log.child({ component: 'kafkajs' });
  return new Kafka({
    ...(opts.security ? kafkajsConnection(opts.security) : {}),
    clientId: opts.clientId,
    brokers: [...opts.brokers],
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 5000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log: entry }: LogEntry) => {
        const { message, timestamp: _ts, logger: _l, ...rest } = entry as LogEntry['log'] & { logger?: string };
        if (message?.startsWith('KafkaJS v2.0.0 switched default partitioner')) return;
        // Bounded producer retries are deliberate: a failed transaction is aborted and the producer re-initialised,
        // so exactly-once does not depend on unbounded retries.
        if (message?.startsWith('Limiting retries for the idempotent producer')) return;
        const fields = { namespace, ...rest };
        // CONCURRENT_TRANSACTIONS right after a commit (markers still being written) is retried by kafkajs: routine.
        const text = `${message ?? ''} ${String((rest as { error?: unknown }).error ?? '')}`;
        if (text.includes('another concurrent operation on the same transaction')) {
          log.debug('transaction still completing, retried', fields);
          return;
        }
        if (level <= logLevel.ERROR) log.error(message ?? 'kafkajs', fields);
        else log.warn(message ?? 'kafkajs', fields);
      },
  });
}

export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  readonly endOffset: bigint;
  /** -1 when the group has not committed on this partition yet. */
  readonly committedOffset: bigint;
  readonly lag: bigint;
}

/** Lag of `groupId` on every partition of `topics`; a partition with no commit counts from its low watermark. */
export async function groupLag(admin: Admin, groupId: string, topics: readonly string[]): Promise<PartitionLag[]> {
  const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
  const out: PartitionLag[] = [];
  for (const t of committed) {
    const ends = await admin.fetchTopicOffsets(t.topic);
    for (const e of ends) {
      const c = t.partitions.find((p) => p.partition === e.partition);
      const committedOffset = BigInt(c?.offset ?? '-1');
      const end = BigInt(e.high);
      const from = committedOffset >= 0n ? committedOffset : BigInt(e.low);
      out.push({
        topic: t.topic,
        partition: e.partition,
        endOffset: end,
        committedOffset,
        lag: end > from ? end - from : 0n,
      });
    }
  }
  return out;
}

/** Polls `groupLag` every `intervalMs` into `gauge{topic,partition}`; returns a stop function. */
export function startLagPoller(opts: {
  admin: Admin;
  groupId: string;
  topics: readonly string[];
  gauge: Gauge;
  intervalMs: number;
  log: Logger;
}): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      const lags = await groupLag(opts.admin, opts.groupId, opts.topics);
      for (const l of lags) opts.gauge.set({ topic: l.topic, partition: String(l.partition) }, Number(l.lag));
    } catch (err) {
      opts.log.warn('lag poll failed', { err });
    }
    if (!stopped) timer = setTimeout(tick, opts.intervalMs);
  };
  timer = setTimeout(tick, 0);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
