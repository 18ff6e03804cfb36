/**
 * The windowed aggregates of the feature spec, computed once per event in TypeScript (the consumer's processor
 * stores them in Redis for serving and logs them with their event time for training). Pure functions over a small
 * per-entity state: time buckets per bucket size (counts, amount sums, declines, successes, disputes), bounded
 * distinct-member sets with last-seen times, and a few scalars. Deterministic: the same events applied in the same
 * order give the same doubles. Not the Redis or Parquet I/O (store.ts, offline.ts).
 */
import { outcomeOf } from '@pep/contracts/outcome';
import { minorUnitExponent } from '../rules.ts';
import { ENTITY_NAMES, type EntityName, type FeatureSpecFile, viewsOf } from './spec.ts';

/** The fields of a normalized event (CONTRACT section 6) the aggregates read. */
export interface FeatureEvent {
  readonly event_id: string;
  readonly event_type: string | null;
  readonly status: string | null;
  readonly customer_id: string | null;
  readonly merchant_id: string | null;
  readonly card_brand: string | null;
  readonly card_last_four: string | null;
  readonly amount_minor: number | null;
  readonly currency: string | null;
  readonly provider_created_at: string | null;
}

export type EventKind = 'success' | 'failure' | 'dispute' | 'none';

export function eventKind(e: Pick<FeatureEvent, 'event_type' | 'status'>): EventKind {
  if ((e.event_type ?? '').startsWith('dispute.')) return 'dispute';
  const o = outcomeOf(e);
  return o === 'succeeded' ? 'success' : o === 'failed' ? 'failure' : 'none';
}

/** Entity ids of an event; the payment method is the card fingerprint `<brand>:<last4>` when both are known. */
export function entityIds(e: FeatureEvent): Record<EntityName, string | null> {
  const pm = e.card_brand && e.card_last_four ? `${e.card_brand}:${e.card_last_four}` : null;
  return { customer: e.customer_id || null, merchant: e.merchant_id || null, payment_method: pm };
}

/** [bucketStartMs, attempts, amountMajorSum, declines, successes, disputes] */
type Bucket = [number, number, number, number, number, number];

export interface EntityState {
  /** Latest event time applied (ms): the time the windows of the entity's feature values are measured at. */
  asOf: number;
  /**
   * Version time of the entity's current feature row (epoch µs; -1 none): the row's `event_timestamp` offline and
   * its `_ts` in Redis. Strictly increasing per entity in processing order (see processor.ts, "row versions").
   */
  rowUs: number;
  /** Latest time (µs) the entity's row versions must stay above: rows written and event times seen (any kind). */
  clockUs: number;
  first: number;
  lastAttempt: number;
  prevAttempt: number;
  lastSuccess: number;
  consecutiveFailures: number;
  /** amount / average amount of the earlier attempts in the ratio's window, for the latest attempt. */
  lastAmountRatio: number;
  /** Buckets per bucket size (seconds, as a string key), oldest first. */
  buckets: Record<string, Bucket[]>;
  /** Distinct members per counted entity: [id, lastSeenMs], most recent last. */
  members: Record<string, [string, number][]>;
}

export const emptyState = (): EntityState => ({
  asOf: -1,
  rowUs: -1,
  clockUs: -1,
  first: -1,
  lastAttempt: -1,
  prevAttempt: -1,
  lastSuccess: -1,
  consecutiveFailures: 0,
  lastAmountRatio: 1,
  buckets: {},
  members: {},
});

/** What an entity needs from the spec: bucket sizes with their longest window, distinct sets with theirs. */
export interface EntityPlan {
  readonly entity: EntityName;
  readonly bucketWindows: ReadonlyMap<number, number>;
  readonly distinctWindows: ReadonlyMap<EntityName, number>;
  readonly ratioWindowMs: number | null;
}

export function planOf(spec: FeatureSpecFile, entity: EntityName): EntityPlan {
  const bucketWindows = new Map<number, number>();
  const distinctWindows = new Map<EntityName, number>();
  let ratioWindowMs: number | null = null;
  for (const v of viewsOf(spec, entity)) {
    for (const f of v.features) {
      if (!f.window) continue;
      const w = (spec.windows_s[f.window] as number) * 1000;
      const b = spec.bucket_s[f.window] as number;
      if (f.agg === 'distinct')
        distinctWindows.set(f.of as EntityName, Math.max(w, distinctWindows.get(f.of as EntityName) ?? 0));
      else bucketWindows.set(b, Math.max(w, bucketWindows.get(b) ?? 0));
      if (f.agg === 'amount_to_avg_ratio') ratioWindowMs = Math.max(w, ratioWindowMs ?? 0);
    }
  }
  return { entity, bucketWindows, distinctWindows, ratioWindowMs };
}

export const plansOf = (spec: FeatureSpecFile): Record<EntityName, EntityPlan> =>
  Object.fromEntries(ENTITY_NAMES.map((e) => [e, planOf(spec, e)])) as Record<EntityName, EntityPlan>;

function windowSums(buckets: readonly Bucket[] | undefined, bucketMs: number, windowMs: number, at: number): Bucket {
  const sum: Bucket = [0, 0, 0, 0, 0, 0];
  if (!buckets) return sum;
  for (const b of buckets) {
    if (b[0] + bucketMs > at - windowMs && b[0] <= at) {
      sum[1] += b[1];
      sum[2] += b[2];
      sum[3] += b[3];
      sum[4] += b[4];
      sum[5] += b[5];
    }
  }
  return sum;
}

/** The ratio's window expressed in the bucket size the spec gives that window. */
function ratioBuckets(spec: FeatureSpecFile, plan: EntityPlan): number | null {
  if (plan.ratioWindowMs === null) return null;
  for (const [w, s] of Object.entries(spec.windows_s))
    if (s * 1000 === plan.ratioWindowMs) return spec.bucket_s[w] as number;
  return null;
}

/** Applies one event (of any kind) to an entity's state, in place. `other` holds the event's other entity ids. */
export function applyEvent(
  spec: FeatureSpecFile,
  plan: EntityPlan,
  s: EntityState,
  kind: Exclude<EventKind, 'none'>,
  atMs: number,
  amountMajor: number,
  other: Record<EntityName, string | null>,
): void {
  const attempt = kind === 'success' || kind === 'failure';
  if (attempt) {
    const rb = ratioBuckets(spec, plan);
    if (rb !== null && plan.ratioWindowMs !== null) {
      const w = windowSums(s.buckets[String(rb)], rb * 1000, plan.ratioWindowMs, atMs);
      const avg = w[1] > 0 ? w[2] / w[1] : 0;
      s.lastAmountRatio = avg > 0 ? amountMajor / avg : 1;
    }
    if (atMs >= s.lastAttempt) {
      s.prevAttempt = s.lastAttempt;
      s.lastAttempt = atMs;
    }
    if (kind === 'success') {
      s.lastSuccess = Math.max(s.lastSuccess, atMs);
      s.consecutiveFailures = 0;
    } else {
      s.consecutiveFailures += 1;
    }
  }
  s.asOf = Math.max(s.asOf, atMs);
  s.first = s.first < 0 ? atMs : Math.min(s.first, atMs);
  for (const [bucketS, windowMs] of plan.bucketWindows) {
    const bucketMs = bucketS * 1000;
    const start = Math.floor(atMs / bucketMs) * bucketMs;
    const list = s.buckets[String(bucketS)] ?? [];
    let b = list.find((x) => x[0] === start);
    if (!b) {
      b = [start, 0, 0, 0, 0, 0];
      list.push(b);
      list.sort((x, y) => x[0] - y[0]);
    }
    s.buckets[String(bucketS)] = list;
    if (attempt) {
      b[1] += 1;
      b[2] += amountMajor;
      if (kind === 'failure') b[3] += 1;
      else b[4] += 1;
    } else {
      b[5] += 1;
    }
    // Buckets that no window of this size can reach any more (as of the entity's latest time) are dropped.
    s.buckets[String(bucketS)] = list.filter((x) => x[0] + bucketMs > s.asOf - windowMs);
  }
  if (attempt) {
    for (const [of, windowMs] of plan.distinctWindows) {
      const id = other[of];
      if (!id) continue;
      const list = s.members[of] ?? [];
      const i = list.findIndex((m) => m[0] === id);
      const seen = i >= 0 ? Math.max((list[i] as [string, number])[1], atMs) : atMs;
      if (i >= 0) list.splice(i, 1);
      list.push([id, seen]);
      list.sort((x, y) => x[1] - y[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
      const kept = list.filter((m) => m[1] > s.asOf - windowMs);
      s.members[of] = kept.slice(Math.max(0, kept.length - spec.max_distinct_members));
    }
  }
}

/** Feature values of every view of the entity, as of the state's time: `{view: {feature: value}}`. */
export function featureValues(
  spec: FeatureSpecFile,
  entity: EntityName,
  s: EntityState,
): Record<string, Record<string, number>> {
  const at = s.asOf;
  const out: Record<string, Record<string, number>> = {};
  for (const v of viewsOf(spec, entity)) {
    const row: Record<string, number> = {};
    for (const f of v.features) {
      let x: number;
      const windowMs = f.window ? (spec.windows_s[f.window] as number) * 1000 : 0;
      const bucketS = f.window ? (spec.bucket_s[f.window] as number) : 0;
      const w = () => windowSums(s.buckets[String(bucketS)], bucketS * 1000, windowMs, at);
      switch (f.agg) {
        case 'count':
          x = w()[1];
          break;
        case 'amount_sum':
          x = w()[2];
          break;
        case 'decline_count':
          x = w()[3];
          break;
        case 'decline_rate': {
          const b = w();
          x = b[1] > 0 ? b[3] / b[1] : 0;
          break;
        }
        case 'dispute_count':
          x = w()[5];
          break;
        case 'dispute_rate': {
          const b = w();
          x = b[4] > 0 ? b[5] / b[4] : 0;
          break;
        }
        case 'distinct':
          x = (s.members[f.of as string] ?? []).filter((m) => m[1] > at - windowMs).length;
          break;
        case 'amount_to_avg_ratio':
          x = s.lastAmountRatio;
          break;
        case 'secs_since_prev_event':
          x = s.prevAttempt >= 0 ? (s.lastAttempt - s.prevAttempt) / 1000 : -1;
          break;
        case 'secs_since_last_success':
          x = s.lastSuccess >= 0 ? (at - s.lastSuccess) / 1000 : -1;
          break;
        case 'consecutive_failures':
          x = s.consecutiveFailures;
          break;
        case 'tenure_days':
          x = s.first >= 0 ? (at - s.first) / 86_400_000 : 0;
          break;
      }
      row[f.name] = x;
    }
    out[v.name] = row;
  }
  return out;
}

/** Amount in major units for the aggregates (never used as money). */
export const amountMajorOf = (e: FeatureEvent): number =>
  typeof e.amount_minor === 'number' && e.amount_minor >= 0
    ? e.amount_minor / 10 ** minorUnitExponent(e.currency ?? 'USD')
    : 0;

/** Event time in epoch ms, or NaN when the event has no parseable provider_created_at. */
export const eventTimeMs = (e: FeatureEvent): number =>
  e.provider_created_at ? Date.parse(e.provider_created_at) : Number.NaN;
