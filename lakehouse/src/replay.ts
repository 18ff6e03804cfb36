/**
 * Replay: republishes raw webhook records from bronze.webhook_events into the raw topics they came from (same key,
 * same body bytes, same headers plus `replayed-from: <topic>/<partition>/<offset>`), for a received-at window and
 * optionally some providers. Downstream deduplication by event_id (workflow ids derived from event_id, the
 * PostgreSQL unique key) makes a replay safe to repeat. Records of webhooks.dlq (rejected at the edge) are not
 * replayed. Reads the lake with DuckDB page by page (bounded memory); produces with kafkajs's idempotent producer,
 * one send at a time (SerialIdempotentProducer), acks=all.
 */
import { LAKE_TABLES, PROVIDERS, REPRODUCED_HEADERS, TOPICS } from '@pep/contracts';
import { SerialIdempotentProducer } from '@pep/kafka-wire/serial-producer';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import type { LakeConfig } from './config.ts';
import { openDuckSession } from './duckdb.ts';

export interface ReplayOptions {
  readonly fromMs: number;
  readonly toMs: number;
  readonly providers?: readonly string[];
  readonly brokers: readonly string[];
  /** Rows read per page and records per send. */
  readonly pageRows?: number;
  /** Maps the recorded topic to the topic to publish to (tests use private topics). */
  readonly topicFor?: (recorded: string) => string;
  readonly dryRun?: boolean;
  readonly progress?: (m: string) => void;
}

export interface ReplaySummary {
  readonly records: number;
  readonly byTopic: Record<string, number>;
  readonly dryRun: boolean;
}

const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

export async function replay(cfg: LakeConfig, o: ReplayOptions): Promise<ReplaySummary> {
  if (!(o.fromMs < o.toMs)) throw new Error('replay: --from must be before --to');
  for (const p of o.providers ?? []) {
    if (!(PROVIDERS as readonly string[]).includes(p)) throw new Error(`replay: unknown provider ${JSON.stringify(p)}`);
  }
  const table = LAKE_TABLES.webhook_events.qualifiedName;
  const session = await openDuckSession(cfg);
  const kafka = new Kafka({ clientId: 'pep-replay', brokers: [...o.brokers], logLevel: logLevel.NOTHING });
  const producer = new SerialIdempotentProducer(() => kafka.producer({ idempotent: true, maxInFlightRequests: 1 }));
  if (!o.dryRun) await producer.connect();
  const byTopic: Record<string, number> = {};
  let records = 0;
  try {
    if (!session.tables.some((t) => `${t.namespace}.${t.name}` === table))
      return { records, byTopic, dryRun: !!o.dryRun };
    const page = o.pageRows ?? 1000;
    const providerFilter = o.providers?.length ? `AND provider IN (${o.providers.map(lit).join(', ')})` : '';
    let after = '';
    for (;;) {
      const r = await session.query(
        `SELECT kafka_topic, kafka_partition, kafka_offset, epoch_us(received_at) AS at_us, record_key, headers, body
           FROM ${table}
          WHERE received_at >= to_timestamp(${o.fromMs / 1000}) AND received_at < to_timestamp(${o.toMs / 1000})
            AND NOT is_dlq AND kafka_topic <> ${lit(TOPICS.webhooksDlq)} ${providerFilter} ${after}
          ORDER BY received_at, kafka_topic, kafka_partition, kafka_offset LIMIT ${page}`,
      );
      if (r.rows.length === 0) break;
      const groups = new Map<string, { key: string | null; value: Buffer; headers: Record<string, string> }[]>();
      for (const row of r.rows) {
        const recorded = String(row.kafka_topic);
        const topic = o.topicFor ? o.topicFor(recorded) : recorded;
        const headers = JSON.parse(String(row.headers)) as Record<string, string>;
        headers[REPRODUCED_HEADERS.replayedFrom] = `${recorded}/${row.kafka_partition}/${row.kafka_offset}`;
        const list = groups.get(topic) ?? [];
        list.push({
          key: (row.record_key as string | null) ?? null,
          value: Buffer.from(row.body as Uint8Array),
          headers,
        });
        groups.set(topic, list);
      }
      for (const [topic, messages] of groups) {
        if (!o.dryRun) await producer.send({ topic, acks: -1, messages });
        byTopic[topic] = (byTopic[topic] ?? 0) + messages.length;
        records += messages.length;
      }
      const last = r.rows[r.rows.length - 1] as Record<string, unknown>;
      after = `AND (epoch_us(received_at), kafka_topic, kafka_partition, kafka_offset) > (${last.at_us}, ${lit(String(last.kafka_topic))}, ${last.kafka_partition}, ${last.kafka_offset})`;
      o.progress?.(`${records} records replayed`);
      if (r.rows.length < page) break;
    }
    return { records, byTopic, dryRun: !!o.dryRun };
  } finally {
    session.close();
    if (!o.dryRun) await producer.disconnect().catch(() => undefined);
  }
}
