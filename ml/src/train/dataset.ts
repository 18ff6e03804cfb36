/**
 * Point-in-time-correct training sets: the logged events (offline events log) give the examples and their outcome
 * labels (labels.ts); Feast's get_historical_features gives each example's feature values as of the feature times the
 * processor logged with the event (per entity, the version of the row serving saw right after applying it: the
 * event included, nothing processed later); core-native's
 * vectorizer turns (event, values) into the model input, the same call serving makes. Examples are split by time:
 * the earlier part trains, the later window evaluates (and stands for the recent serving window in the data checks).
 * rules-v1 scores the same rows so the evaluation can put it beside the model.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CoreImpl, loadCore } from '@pep/core-native';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import type { MlConfig } from '../config.ts';
import { entityIds } from '../features/aggregate.ts';
import { ENTITY_NAMES } from '../features/spec.ts';
import { type EntityRecords, vectorize } from '../features/vectorize.ts';
import { feastHistorical } from '../py/feast.ts';
import { predictChurn, scoreFraud } from '../rules.ts';
import { churnExamples, type Example, fraudExamples, type LoggedEvent } from './labels.ts';

export type ModelName = 'fraud' | 'churn';
export const MODEL_NAMES: readonly ModelName[] = ['fraud', 'churn'];

/** Every logged event once (a redelivered batch logs its events again), oldest first. */
export async function loadLoggedEvents(offlineDir: string): Promise<LoggedEvent[]> {
  const dir = join(offlineDir, 'events');
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.parquet'));
  } catch {
    return [];
  }
  const byId = new Map<string, LoggedEvent>();
  // Timestamps stay epoch µs numbers (the feature times are µs apart; a Date would drop them).
  const parsers = { timestampFromMicroseconds: (us: bigint) => Number(us) };
  for (const f of files.sort()) {
    const rows = (await parquetReadObjects({
      file: await asyncBufferFromFile(join(dir, f)),
      parsers: parsers as never,
    })) as ({ event_id: string; event_timestamp: number; event: string } & Record<string, number | null>)[];
    for (const r of rows) {
      if (byId.has(r.event_id)) continue;
      byId.set(r.event_id, {
        event_id: r.event_id,
        atMs: Math.floor(r.event_timestamp / 1000),
        json: r.event,
        ev: JSON.parse(r.event),
        featureTimesUs: Object.fromEntries(ENTITY_NAMES.map((n) => [n, r[`${n}_ts`] ?? null])),
      });
    }
  }
  return [...byId.values()].sort((a, b) => a.atMs - b.atMs || (a.event_id < b.event_id ? -1 : 1));
}

export interface TrainingSet {
  readonly model: ModelName;
  readonly featureNames: readonly string[];
  readonly specVersion: string;
  readonly rows: number;
  readonly cols: number;
  /** Row-major Float32 matrix. */
  readonly x: Float32Array;
  readonly y: readonly (0 | 1)[];
  readonly atMs: readonly number[];
  readonly eventIds: readonly string[];
  /** 0 = training window, 1 = evaluation (later) window. */
  readonly split: readonly (0 | 1)[];
  /** rules-v1's score of each row (the baseline of the evaluation and of a first model's gate). */
  readonly rules: readonly number[];
  /** Fraud: rules-v2's score of each row (rules-v1 plus the behaviour rules over the row's records; what serving
   * answers before a promotion), reported beside the model; churn: empty. */
  readonly rulesWithFeatures: readonly number[];
  readonly window: { readonly trainFrom: string; readonly evalFrom: string; readonly evalTo: string };
}

function rulesScore(model: ModelName, ev: Record<string, unknown>, rec: EntityRecords, withFeatures = false): number {
  const s = (k: string) => (typeof ev[k] === 'string' ? (ev[k] as string) : null);
  if (model === 'fraud') {
    return scoreFraud(
      {
        event_id: s('event_id') ?? '',
        amount_minor: typeof ev.amount_minor === 'number' ? ev.amount_minor : 0,
        currency: s('currency') ?? 'USD',
        customer_id: s('customer_id'),
        merchant_id: s('merchant_id'),
        payment_method_type: s('payment_method_type'),
        card_brand: s('card_brand'),
      },
      withFeatures ? { customer: rec.customer ?? null, payment_method: rec.payment_method ?? null } : null,
    ).fraud_score;
  }
  const c = rec.customer ?? {};
  const total = Math.round(c.txn_count_30d ?? 0);
  const declineRate = c.decline_rate_7d ?? 0;
  const failed = Math.round(total * declineRate);
  const prev = c.secs_since_prev_event ?? -1;
  return predictChurn(
    {
      customer_id: s('customer_id') ?? '',
      total_payments: total,
      successful_payments: Math.max(0, total - failed),
      failed_payments: failed,
      recovered_payments: 0,
      days_since_last_payment: prev < 0 ? 0 : Math.floor(prev / 86_400),
      consecutive_failures: Math.round(c.consecutive_failures ?? 0),
      days_since_last_failure: 0,
    },
    new Date(0),
  ).churn_probability;
}

/**
 * The model input serving computed for each logged event: Feast's point-in-time join as of the event's logged
 * feature times (the rows serving read right after the event was applied; skew.test.ts: bit for bit the online
 * vector), vectorized by core-native. Training uses it for its rows, `npm run drift` for the recent window.
 */
export async function servedVectors(
  cfg: MlConfig,
  events: readonly LoggedEvent[],
  core: CoreImpl,
): Promise<{ x: Float32Array; records: EntityRecords[] }> {
  const offline = await feastHistorical(
    cfg,
    events.map((e, row) => {
      const ids = entityIds(e.ev as never);
      const times = e.featureTimesUs ?? {};
      return {
        row,
        ts_us: e.atMs * 1000,
        customer_id: ids.customer,
        merchant_id: ids.merchant,
        payment_method_id: ids.payment_method,
        ts_by_entity_us: Object.fromEntries(ENTITY_NAMES.flatMap((n) => (times[n] ? [[n, times[n]]] : []))),
      };
    }),
  );
  const records = events.map((_, row) => offline[String(row)] as EntityRecords);
  const x = vectorize(
    core,
    events.map((e) => e.json),
    records,
  );
  return { x, records };
}

export interface BuildOptions {
  readonly model: ModelName;
  /** Share of the examples (by time) in the training window (default 0.7). */
  readonly trainShare?: number;
  readonly core?: CoreImpl;
  readonly log?: (m: string) => void;
}

export async function buildTrainingSet(
  cfg: MlConfig,
  events: readonly LoggedEvent[],
  opts: BuildOptions,
): Promise<TrainingSet> {
  const log = opts.log ?? (() => {});
  const endMs = events.length > 0 ? (events[events.length - 1] as LoggedEvent).atMs : 0;
  const examples: Example[] = opts.model === 'fraud' ? fraudExamples(events, endMs) : churnExamples(events, endMs);
  const positives = examples.filter((e) => e.label === 1).length;
  log(`${opts.model}: ${examples.length} labelled examples (${positives} positive) from ${events.length} events`);
  if (examples.length < 50 || positives < 5 || positives === examples.length) {
    throw new Error(
      `${opts.model}: not enough labelled history yet (${examples.length} examples, ${positives} positive; ` +
        'need ≥ 50 with ≥ 5 of each class)',
    );
  }
  const core = opts.core ?? (await loadCore());
  const { x, records } = await servedVectors(
    cfg,
    examples.map((e) => e.event),
    core,
  );
  const cut = examples[Math.floor(examples.length * (opts.trainShare ?? 0.7))] as Example;
  const split = examples.map((e) => (e.event.atMs < cut.event.atMs ? 0 : 1)) as (0 | 1)[];
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    model: opts.model,
    featureNames: core.featureSpec().features.map((f) => f.name),
    specVersion: core.featureSpec().version,
    rows: examples.length,
    cols: core.featureSpec().features.length,
    x,
    y: examples.map((e) => e.label),
    atMs: examples.map((e) => e.event.atMs),
    eventIds: examples.map((e) => e.event.event_id),
    split,
    rules: examples.map((e, i) => rulesScore(opts.model, e.event.ev, records[i] as EntityRecords)),
    rulesWithFeatures:
      opts.model === 'fraud'
        ? examples.map((e, i) => rulesScore(opts.model, e.event.ev, records[i] as EntityRecords, true))
        : [],
    window: {
      trainFrom: iso((examples[0] as Example).event.atMs),
      evalFrom: iso(cut.event.atMs),
      evalTo: iso((examples[examples.length - 1] as Example).event.atMs),
    },
  };
}

/** Writes the set for the Python trainer: `x.f32` (little-endian rows) and `meta.json`. */
export function writeTrainingSet(dir: string, t: TrainingSet): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'x.f32'), Buffer.from(t.x.buffer, t.x.byteOffset, t.x.byteLength));
  const { x: _x, ...meta } = t;
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
}
