/**
 * Model input: core-native's vectorizer over (normalized event, customer / merchant / payment-method feature
 * records). Training (offline records from Feast's point-in-time join) and serving (online records from Redis) both
 * come through here, so the two cannot compute a row differently.
 */
import { type CoreImpl, packFeatureRows } from '@pep/core-native';
import type { EntityName } from './spec.ts';

export type EntityRecords = Readonly<Record<EntityName, Readonly<Record<string, number>> | null>>;

const json = (r: Readonly<Record<string, number>> | null): string | null => (r ? JSON.stringify(r) : null);

/** Row-major `events.length × featureCount` Float32 matrix. */
export function vectorize(core: CoreImpl, events: readonly string[], records: readonly EntityRecords[]): Float32Array {
  if (events.length !== records.length) throw new RangeError(`${events.length} events but ${records.length} records`);
  return core.vectorizeBatch(
    packFeatureRows(
      events.map((event, i) => {
        const r = records[i] as EntityRecords;
        return { event, customer: json(r.customer), merchant: json(r.merchant), paymentMethod: json(r.payment_method) };
      }),
    ),
  );
}
