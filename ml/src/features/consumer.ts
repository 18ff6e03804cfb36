/**
 * The streaming features consumer: reads `payments.normalized` (kafkajs, consumer group `pep-features`), applies
 * each fetched batch to the windowed aggregates (processor.ts) and only then commits its offsets, so a crash
 * replays at most the uncommitted tail, which the per-event_id idempotency absorbs. Any byte string is survived: a
 * record that is not a JSON object with an event_id is counted and skipped (it cannot change a feature). Redis
 * errors are retried with a bounded backoff while the offsets stay uncommitted. Not the computation itself.
 */
import { TOPICS } from '@pep/contracts';
import { Registry } from '@pep/contracts/metrics';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import type { FeatureEvent } from './aggregate.ts';
import type { FeatureProcessor } from './processor.ts';

export interface FeaturesConsumerConfig {
  readonly brokers: readonly string[];
  readonly topic?: string;
  readonly groupId?: string;
  /** Events per processor call (default 500). */
  readonly maxBatchEvents?: number;
  readonly fromBeginning?: boolean;
}

export class FeaturesMetrics {
  readonly registry = new Registry();
  readonly events = this.registry.counter(
    'features_events_total',
    'Records read from payments.normalized, by result (applied, duplicate, ignored, invalid, unparseable)',
  );
  readonly batchSeconds = this.registry.histogram(
    'features_batch_seconds',
    'Time to apply one batch (Redis and the offline log included)',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  );
  readonly roundTrips = this.registry.counter(
    'features_redis_round_trips_total',
    'Redis round trips of the applied batches',
  );
  readonly errors = this.registry.counter(
    'features_batch_errors_total',
    'Failed batch applications (retried; offsets stay uncommitted)',
  );
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** A normalized event's feature fields from untrusted bytes, or null when it is not an event object. */
export function parseFeatureEvent(bytes: Buffer | null): FeatureEvent | null {
  if (!bytes) return null;
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.event_id !== 'string' || o.event_id === '') return null;
  return {
    event_id: o.event_id,
    event_type: str(o.event_type),
    status: str(o.status),
    customer_id: str(o.customer_id),
    merchant_id: str(o.merchant_id),
    card_brand: str(o.card_brand),
    card_last_four: str(o.card_last_four),
    amount_minor: typeof o.amount_minor === 'number' && Number.isFinite(o.amount_minor) ? o.amount_minor : null,
    currency: str(o.currency),
    provider_created_at: str(o.provider_created_at),
  };
}

export class FeaturesConsumer {
  readonly metrics = new FeaturesMetrics();
  private consumer: Consumer | null = null;

  constructor(
    private readonly cfg: FeaturesConsumerConfig,
    private readonly processor: FeatureProcessor,
    private readonly log: (msg: string, fields?: Record<string, unknown>) => void = () => {},
  ) {}

  async start(): Promise<void> {
    const kafka = new Kafka({
      clientId: 'pep-features',
      brokers: [...this.cfg.brokers],
      logLevel: logLevel.WARN,
      retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 5000 },
    });
    const consumer = kafka.consumer({ groupId: this.cfg.groupId ?? 'pep-features', readUncommitted: false });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({
      topic: this.cfg.topic ?? TOPICS.normalized,
      fromBeginning: this.cfg.fromBeginning ?? true,
    });
    await consumer.run({ eachBatchAutoResolve: false, autoCommit: true, eachBatch: (p) => this.onBatch(p) });
  }

  private async onBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
    commitOffsetsIfNecessary,
  }: EachBatchPayload) {
    const max = this.cfg.maxBatchEvents ?? 500;
    for (let i = 0; i < batch.messages.length && isRunning() && !isStale(); i += max) {
      const chunk = batch.messages.slice(i, i + max);
      const events: FeatureEvent[] = [];
      const raw: string[] = [];
      for (const m of chunk) {
        const e = parseFeatureEvent(m.value);
        if (e) {
          events.push(e);
          raw.push((m.value as Buffer).toString('utf8'));
        } else this.metrics.events.inc({ result: 'unparseable' });
      }
      for (let attempt = 0; ; attempt++) {
        const started = performance.now();
        try {
          const s = await this.processor.applyBatch(events, raw);
          this.metrics.batchSeconds.observe((performance.now() - started) / 1000);
          this.metrics.events.inc({ result: 'applied' }, s.applied);
          this.metrics.events.inc({ result: 'duplicate' }, s.duplicates);
          this.metrics.events.inc({ result: 'ignored' }, s.ignored);
          this.metrics.events.inc({ result: 'invalid' }, s.invalid);
          this.metrics.roundTrips.inc({}, s.roundTrips);
          break;
        } catch (err) {
          this.metrics.errors.inc();
          this.log('features batch failed; retrying', { error: String(err), attempt, partition: batch.partition });
          if (!isRunning() || isStale()) return;
          await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(attempt, 6))));
          await heartbeat();
        }
      }
      resolveOffset((chunk[chunk.length - 1] as { offset: string }).offset);
      await commitOffsetsIfNecessary();
      await heartbeat();
    }
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
    this.consumer = null;
  }
}
