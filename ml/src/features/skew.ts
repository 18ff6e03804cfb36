/**
 * Training/serving skew check shared by the skew test and `npm run bench -- ml`: the feature times an event was
 * served at (per entity, what training asks Feast for), the historical rows asking for them, and a bit-for-bit
 * comparison of the online and offline model inputs through core-native's vectorizer.
 */
import type { CoreImpl } from '@pep/core-native';
import type { HistoricalRow } from '../py/feast.ts';
import { entityIds, eventTimeMs, type FeatureEvent } from './aggregate.ts';
import { featureTimeUs, type RowFeatures } from './online.ts';
import { ENTITY_NAMES, type EntityName } from './spec.ts';
import { type EntityRecords, vectorize } from './vectorize.ts';

export type FeatureTimesUs = Partial<Record<EntityName, number>>;

/** Per entity of `e`, the time (µs) at which the point-in-time join returns the row served in `r`. */
export function servedFeatureTimes(e: FeatureEvent, r: RowFeatures): FeatureTimesUs {
  const at = eventTimeMs(e);
  const ids = entityIds(e);
  const t: FeatureTimesUs = {};
  for (const n of ENTITY_NAMES) if (ids[n] !== null) t[n] = featureTimeUs(at, r[n]);
  return t;
}

export const recordsOf = (r: RowFeatures): EntityRecords => ({
  customer: r.customer.record,
  merchant: r.merchant.record,
  payment_method: r.payment_method.record,
});

/** The rows asking Feast for `events` as of their feature times. */
export function historicalRows(events: readonly FeatureEvent[], times: readonly FeatureTimesUs[]): HistoricalRow[] {
  return events.map((e, row) => {
    const ids = entityIds(e);
    return {
      row,
      ts_us: eventTimeMs(e) * 1000,
      customer_id: ids.customer,
      merchant_id: ids.merchant,
      payment_method_id: ids.payment_method,
      ts_by_entity_us: times[row] ?? {},
    };
  });
}

export interface SkewReport {
  /** Rows whose vectors differ in at least one bit. */
  readonly mismatches: number;
  /** The first few differences, for the error message. */
  readonly examples: readonly string[];
  /** The online vectors (row-major). */
  readonly online: Float32Array;
  readonly width: number;
}

/** Vectorizes both sides and compares them bit for bit (Float32 as Uint32, so -0/+0 and NaNs count too). */
export function compareVectors(
  core: CoreImpl,
  raw: readonly string[],
  served: readonly EntityRecords[],
  offline: readonly EntityRecords[],
): SkewReport {
  const a = vectorize(core, raw, served);
  const b = vectorize(core, raw, offline);
  const features = core.featureSpec().features;
  const width = features.length;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let mismatches = 0;
  const examples: string[] = [];
  for (let r = 0; r < raw.length; r++) {
    for (let c = 0; c < width; c++) {
      if (ua[r * width + c] === ub[r * width + c]) continue;
      mismatches++;
      if (examples.length < 5)
        examples.push(`row ${r} ${features[c]?.name}: online ${a[r * width + c]} offline ${b[r * width + c]}`);
      break;
    }
  }
  return { mismatches, examples, online: a, width };
}
