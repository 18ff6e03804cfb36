/**
 * Model input: core-native's vectorizer over (normalized event, customer / merchant / payment-method feature
 * records). Training (offline records from Feast's point-in-time join) and serving (online records from Redis) both
 * come through here, so the two cannot compute a row differently.
 */
import { type CoreImpl, type FeatureSpec, LIMITS, packFeatureRows } from '@pep/core-native';
import type { EntityName } from './spec.ts';

export type EntityRecords = Readonly<Record<EntityName, Readonly<Record<string, number>> | null>>;

const json = (r: Readonly<Record<string, number>> | null): string | null => (r ? JSON.stringify(r) : null);

/**
 * Row-major `events.length × featureCount` Float32 matrix. Any number of rows: core-native takes at most
 * LIMITS.maxVectorizeRows per call (a bounded allocation per call), so a training set goes through in slices of that
 * size; a scoring micro-batch is one call.
 */
export function vectorize(core: CoreImpl, events: readonly string[], records: readonly EntityRecords[]): Float32Array {
  if (events.length !== records.length) throw new RangeError(`${events.length} events but ${records.length} records`);
  const slice = (from: number, to: number): Float32Array =>
    core.vectorizeBatch(
      packFeatureRows(
        events.slice(from, to).map((event, i) => {
          const r = records[from + i] as EntityRecords;
          return {
            event,
            customer: json(r.customer),
            merchant: json(r.merchant),
            paymentMethod: json(r.payment_method),
          };
        }),
      ),
    );
  const step = LIMITS.maxVectorizeRows;
  if (events.length <= step) return slice(0, events.length);
  const width = core.featureSpec().features.length;
  const out = new Float32Array(events.length * width);
  for (let from = 0; from < events.length; from += step)
    out.set(slice(from, Math.min(events.length, from + step)), from * width);
  return out;
}

/**
 * The top-level fields of the normalized event that the vectorizer reads: every event feature's field, plus what it
 * parses for every row (amount_minor, currency, provider_created_at). From the spec itself, so a feature added there
 * is read here too; a transform on the event that names no field and is not one of the two known here is an error at
 * load, never a silently different vector.
 */
export function vectorEventFields(spec: FeatureSpec): readonly string[] {
  const fields = new Set(['amount_minor', 'currency', 'provider_created_at']);
  for (const f of spec.features) {
    if (f.source !== 'event') continue;
    if (f.field !== null) fields.add(f.field);
    else if (f.transform !== 'amount_major' && f.transform !== 'currency_exponent')
      throw new Error(`feature ${f.name}: event transform ${f.transform} names no field (vectorEventFields)`);
  }
  return Object.freeze([...fields]);
}

/**
 * The event as the vectorizer needs it: JSON of only `fields` (vectorEventFields), in the event's own values. The
 * vector is the one of the whole event (ml/src/features/vectorize.test.ts), for a fraction of the JSON work: serving
 * used to serialize the whole normalized event per row and the addon to parse it again.
 */
export function vectorEventJson(event: Readonly<Record<string, unknown>>, fields: readonly string[]): string {
  const out: Record<string, unknown> = {};
  for (const k of fields) if (Object.hasOwn(event, k)) out[k] = event[k];
  return JSON.stringify(out);
}
