/**
 * Bulk history generator: realistic payment events (e.g. 10 million over 90 days) written into
 * bronze.payment_events through the same path as the lake sink (Arrow batches → the Rust writer → fast append with
 * a cursor claim), for the benchmarks, dbt and ML. Deterministic for a seed. Generated rows are marked
 * `kafka_topic = 'generated.<run>'` (partition 0, offsets 0…n-1) and their commits use their own summary key
 * (`pep.generator.offsets`), so they never touch the sink's Kafka cursors; a second run with the same run name
 * resumes where the first stopped (exactly once, like the sink).
 *
 * Shape: four providers (Stripe 45 %, Adyen 25 %, Square 20 %, Braintree 10 %), currencies with their minor-unit
 * exponents (USD, EUR, GBP, JPY, KWD, …), 2,000 merchants and 200,000 customers with Zipf-like activity, a payment
 * lifecycle per object (authorized → captured/succeeded or failed; refunds ~6 %, disputes ~0.6 % with outcomes),
 * log-normal amounts. Not the simulator: nothing goes through the edge or Kafka.
 */
import { randomUUID } from 'node:crypto';
import { LAKE_TABLES, type LakeTable } from '@pep/contracts';
import { type Row, TableBatchBuilder } from './arrow.ts';
import type { LakeWriter } from './writer.ts';

export interface GenerateOptions {
  readonly events: number;
  readonly days: number;
  readonly seed: number;
  /** Last day of the history (UTC); default today. */
  readonly endMs?: number;
  readonly run: string;
}

const PROVIDERS = [
  ['stripe', 0.45],
  ['adyen', 0.25],
  ['square', 0.2],
  ['braintree', 0.1],
] as const;
const CURRENCIES = [
  ['USD', 2, 0.55],
  ['EUR', 2, 0.2],
  ['GBP', 2, 0.1],
  ['JPY', 0, 0.06],
  ['CAD', 2, 0.05],
  ['AUD', 2, 0.03],
  ['KWD', 3, 0.01],
] as const;
const BRANDS = ['visa', 'mastercard', 'amex', 'discover', 'jcb'] as const;
const FAILURES = [
  ['card_declined', 'Your card was declined.'],
  ['insufficient_funds', 'Insufficient funds.'],
  ['expired_card', 'Your card has expired.'],
  ['processing_error', 'An error occurred while processing your card.'],
] as const;
const MERCHANTS = 2000;
const CUSTOMERS = 200_000;

/** mulberry32: small, fast, deterministic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T extends readonly [unknown, ...unknown[]]>(items: readonly T[], weightAt: number, r: number): T {
  let acc = 0;
  for (const it of items) {
    acc += it[weightAt] as number;
    if (r < acc) return it;
  }
  return items[items.length - 1] as T;
}

/** Zipf-like index in [0, n): a few very active, a long tail. */
const zipf = (r: number, n: number) => Math.min(n - 1, Math.floor(n * r ** 2.2));
const pad = (n: number, w: number) => String(n).padStart(w, '0');

/**
 * Yields rows of bronze.payment_events in order of their generated offset, `batchRows` at a time, starting at
 * offset `from` (so a run can resume). Every row depends only on (seed, offset).
 */
export function* generateRows(o: GenerateOptions, from: number, batchRows: number): Generator<Row[]> {
  const end = o.endMs ?? Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  const spanMs = o.days * 86_400_000;
  const topic = `generated.${o.run}`;
  // Each payment object yields 2-4 events; offsets number the events (exactly `events` rows in all).
  let batch: Row[] = [];
  let offset = 0;
  for (let obj = 0; offset < o.events; obj++) {
    const r = prng(o.seed ^ Math.imul(obj + 1, 2654435761));
    const [provider] = pick(PROVIDERS, 1, r());
    const [currency, exp] = pick(CURRENCIES, 2, r());
    const merchant = zipf(r(), MERCHANTS);
    const customer = zipf(r(), CUSTOMERS);
    const major = Math.exp(3 + 1.2 * (r() + r() + r() - 1.5));
    const amountMinor = Math.max(1, Math.round(major * 10 ** exp));
    const failed = r() < 0.12;
    const refunded = !failed && r() < 0.06;
    const disputed = !failed && !refunded && r() < 0.006;
    const lifecycle: string[] = failed
      ? ['payment.authorized', 'payment.failed']
      : refunded
        ? ['payment.authorized', 'payment.captured', 'payment.succeeded', 'refund.succeeded']
        : disputed
          ? ['payment.authorized', 'payment.succeeded', 'dispute.opened', r() < 0.4 ? 'dispute.won' : 'dispute.lost']
          : ['payment.authorized', 'payment.succeeded'];
    const t0 = end - spanMs + Math.floor(r() * spanMs);
    const brand = BRANDS[Math.floor(r() * BRANDS.length)] as string;
    const failure = FAILURES[Math.floor(r() * FAILURES.length)] as readonly [string, string];
    const lastFour = pad(Math.floor(r() * 10000), 4);
    for (let step = 0; step < lifecycle.length && offset < o.events; step++, offset++) {
      if (offset < from) continue;
      const eventType = lifecycle[step] as string;
      const at = t0 + step * (step >= 2 ? 86_400_000 * (1 + (obj % 5)) : 2000);
      const providerEventId = `evt_${o.run}_${pad(offset, 9)}`;
      batch.push({
        kafka_topic: topic,
        kafka_partition: 0,
        kafka_offset: BigInt(offset),
        kafka_timestamp: at + 40,
        event_id: `${provider}:${providerEventId}`,
        provider,
        provider_event_id: providerEventId,
        object_id: `${eventType.startsWith('refund') ? 're' : eventType.startsWith('dispute') ? 'dp' : 'pi'}_${pad(obj, 9)}`,
        event_type: eventType,
        provider_event_type: eventType.replace('.', '_'),
        merchant_id: `mer_${pad(merchant, 5)}`,
        customer_id: `cus_${pad(customer, 6)}`,
        amount_minor: amountMinor,
        currency,
        payment_method_type: 'card',
        card_brand: brand,
        card_last_four: lastFour,
        status: eventType === 'payment.failed' ? 'failed' : (eventType.split('.')[1] ?? null),
        failure_code: eventType === 'payment.failed' ? failure[0] : null,
        failure_message: eventType === 'payment.failed' ? failure[1] : null,
        metadata: '{}',
        provider_created_at: at,
        received_at: at + 25,
        normalized_at: at + 31,
        schema_version: 1,
        source_topic: `webhooks.${provider}.generated`,
        source_partition: 0,
        source_offset: BigInt(offset),
        lake_error: null,
        raw_record: null,
      });
      if (batch.length >= batchRows) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length > 0) yield batch;
}

export const GENERATOR_KEY = 'pep.generator.offsets';

export async function writeHistory(
  writer: LakeWriter,
  o: GenerateOptions,
  opts: { batchRows?: number; table?: LakeTable; progress?: (m: string) => void } = {},
): Promise<{ rows: number; fileBytes: number; seconds: number; resumedFrom: number }> {
  const table = opts.table ?? LAKE_TABLES.payment_events;
  const info = await writer.ensureTable(table, GENERATOR_KEY);
  const cursor = `generated.${o.run}:0`;
  const from = Number(info.cursors[cursor] ?? 0);
  const started = performance.now();
  let rows = 0;
  let fileBytes = 0;
  let at = from;
  for (const batch of generateRows(o, from, opts.batchRows ?? 500_000)) {
    const b = new TableBatchBuilder(table);
    for (const r of batch) b.append(r);
    const w = await writer.write(table.qualifiedName, b.finishIpc(), `generator-${o.run}`);
    const next = at + batch.length;
    await writer.commit(w.handle, {
      cursorKey: GENERATOR_KEY,
      expected: { [cursor]: at === 0 ? null : String(at) },
      next: { [cursor]: String(next) },
      writer: `generator-${o.run}`,
      commitId: randomUUID(),
    });
    at = next;
    rows += batch.length;
    fileBytes += w.fileBytes;
    opts.progress?.(`${at} / ${o.events} events (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  return { rows, fileBytes, seconds: (performance.now() - started) / 1000, resumedFrom: from };
}
