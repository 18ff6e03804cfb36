/**
 * The TypeScript twin as a CoreImpl. Configuration is validated with valibot; the per-event rules
 * are hand-written (`providers.ts`) to mirror the Rust crate's error order exactly.
 */

import { crc32c } from '@pep/kafka-wire/protocol';
import * as v from 'valibot';
import { packBatch, packFeatureRows, recordStrings } from './batch.ts';
import { AmountBounds } from './currency.ts';
import { FEATURE_SPEC, vectorizeBatchJs, vectorizeValuesJs } from './features.ts';
import { transformRecordSetsJs } from './records.ts';
import { normalizeBatchJs } from './twin.ts';
import type { CoreConfig, CoreImpl } from './types.ts';

export const CoreConfigSchema = v.strictObject({
  amountMaxMinor: v.optional(
    v.record(
      v.pipe(v.string(), v.regex(/^[A-Z]{3}$/)),
      v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER)),
    ),
  ),
});

export function createJsCore(config: CoreConfig = {}): CoreImpl {
  const parsed = v.parse(CoreConfigSchema, config);
  const bounds = new AmountBounds(parsed.amountMaxMinor ?? {});
  const impl: CoreImpl = {
    kind: 'js',
    normalizeBatch: (batch, opts) => normalizeBatchJs(batch, opts.normalizedAtMs, bounds),
    normalizeOne(msg, opts) {
      const r = normalizeBatchJs(packBatch([msg]), opts.normalizedAtMs, bounds);
      return { events: recordStrings(r.events), dlq: recordStrings(r.dlq) };
    },
    vectorizeBatch: vectorizeBatchJs,
    vectorizeValues: vectorizeValuesJs,
    vectorizeOne: (event, customer, merchant, paymentMethod) =>
      vectorizeBatchJs(packFeatureRows([{ event, customer, merchant, paymentMethod }])),
    featureSpec: () => FEATURE_SPEC,
    transformRecordSets: (sets, opts) => transformRecordSetsJs(sets, opts, (b, ms) => normalizeBatchJs(b, ms, bounds)),
    crc32c: (bytes) => crc32c(bytes),
  };
  return impl;
}
