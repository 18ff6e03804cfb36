/**
 * No training/serving skew, bit for bit: 10,000 simulated events (redeliveries, same-second events and late events
 * included) go through the streaming processor (real Redis, real Parquet offline log) one at a time; right after
 * each, the event is served from Redis as the workflow's scoring call sees it. Then Feast's point-in-time join
 * (DuckDB offline store) builds the same rows as of each event's feature times, the times the processor logged for
 * training. Both go through core-native's vectorizer; every Float32 of every row must be identical.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LIMITS, loadCore, packFeatureEvents } from '@pep/core-native';
import type { Redis } from 'ioredis';
import { entityIds, eventTimeMs } from '../src/features/aggregate.ts';
import { OnlineFeatures } from '../src/features/online.ts';
import {
  compareVectors,
  type FeatureTimesUs,
  historicalRows,
  recordsOf,
  servedFeatureTimes,
} from '../src/features/skew.ts';
import { ENTITY_NAMES, FEATURE_SPEC } from '../src/features/spec.ts';
import type { EntityRecords } from '../src/features/vectorize.ts';
import { feastApply, feastHistorical } from '../src/py/feast.ts';
import { simulatedEvents } from '../src/sim/events.ts';
import { loadLoggedEvents } from '../src/train/dataset.ts';
import { freshRedis, processorFor, testConfig } from './helpers.ts';

const N = Number(process.env.ML_SKEW_EVENTS ?? 10_000);
const cfg = testConfig(9, 'skew');
let redis: Redis;
before(async () => {
  redis = await freshRedis(cfg);
});
after(() => redis.disconnect());

test(`the vector served online equals the offline point-in-time vector for ${N} events`, async () => {
  const raw = await simulatedEvents({
    seed: 12,
    count: N,
    startMs: Date.UTC(2026, 2, 2),
    stepMs: 30_000,
    customers: 400,
    duplicateRate: 0.02,
  });
  const events = raw.map((e) => JSON.parse(e));
  // One event per batch, as scoring sees them: 40,000 small files, not fsynced (not what this test is about).
  const processor = processorFor(redis, cfg, true, false);
  const online = new OnlineFeatures(redis, FEATURE_SPEC);
  const core = await loadCore();
  const cols = core.featureSpec().features.length;
  const columns = online.valueColumns(core.featureSpec().features);
  // Serving's numbers path (readValues + vectorizeValues) on the same reads: its rows must be the JSON path's.
  const values = new Float64Array(N * cols);
  const presentAt = new Uint8Array(N * 3);
  let staleRows = 0;
  const served: EntityRecords[] = [];
  const times: FeatureTimesUs[] = [];
  let late = 0;
  let sameSecond = 0;
  const lastSecond = new Map<string, number>();
  for (let i = 0; i < events.length; i++) {
    const batch = events.slice(i, i + 1);
    await processor.applyBatch(batch, raw.slice(i, i + 1));
    const [r] = await online.read(batch);
    if (!r) throw new Error('no row read');
    const v = await online.readValues(batch, columns, cols);
    values.set(v.values, i * cols);
    presentAt.set(v.present, i * 3);
    assert.equal(v.stale[0] === 1, r.stale, `row ${i}: stale`);
    assert.deepEqual(v.row(0), r, `row ${i}: the records of readValues`);
    if (r.stale) staleRows++;
    const t = servedFeatureTimes(batch[0], r);
    const at = eventTimeMs(batch[0]);
    if (Object.values(t).some((x) => x >= (at + 1000) * 1000)) late++;
    const cid = entityIds(batch[0]).customer;
    if (cid && lastSecond.get(cid) === at) sameSecond++;
    if (cid) lastSecond.set(cid, at);
    times.push(t);
    served.push(recordsOf(r));
  }
  // Training asks as of the times the processor logged with each event: they are the times serving saw.
  const logged = new Map((await loadLoggedEvents(cfg.offlineDir)).map((e) => [e.event_id, e]));
  const firstRow = new Map<string, number>();
  events.forEach((e, row) => {
    if (!firstRow.has(e.event_id)) firstRow.set(e.event_id, row);
  });
  for (const [id, row] of firstRow) {
    const l = logged.get(id);
    if (!l) continue;
    for (const n of ENTITY_NAMES) {
      assert.equal(l.featureTimesUs?.[n] ?? undefined, times[row]?.[n], `${id}: logged ${n} feature time`);
    }
  }
  assert.ok(logged.size > N * 0.9, `only ${logged.size} events logged`);
  await feastApply(cfg);
  const offline = await feastHistorical(cfg, historicalRows(events, times));
  console.log(
    `skew: ${late} of ${N} events served a row of a later second than their own (late events), ` +
      `${sameSecond} shared their second with the customer's previous event`,
  );
  const trained: EntityRecords[] = events.map((_, row) => offline[String(row)] as EntityRecords);
  const { mismatches, examples, online: a, width } = compareVectors(core, raw, served, trained);
  assert.equal(mismatches, 0, `differing vectors:\n${examples.join('\n')}`);
  // The numbers path: the same bits as the JSON path's served vectors (those are the offline vectors, above).
  const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);
  let numbersDiffer = 0;
  for (let from = 0; from < N; from += LIMITS.maxVectorizeRows) {
    const to = Math.min(N, from + LIMITS.maxVectorizeRows);
    const got = bits(
      core.vectorizeValues({
        ...packFeatureEvents(raw.slice(from, to)),
        values: values.subarray(from * cols, to * cols),
        present: presentAt.subarray(from * 3, to * 3),
      }),
    );
    const want = bits(a.subarray(from * width, to * width));
    for (let r = 0; r < to - from; r++)
      for (let c = 0; c < width; c++)
        if (got[r * width + c] !== want[r * width + c]) {
          numbersDiffer++;
          break;
        }
  }
  assert.equal(numbersDiffer, 0, `${numbersDiffer} rows of the numbers path differ from the JSON path's`);
  console.log(`skew: numbers path = JSON path on ${N} rows (${staleRows} stale)`);
  // Not vacuous: most rows have entity features, windows really aggregate, and the hard cases occur.
  assert.ok(late > 0 && sameSecond > 0, `late ${late}, same-second ${sameSecond}: the hard cases did not occur`);
  const col = (name: string) => core.featureSpec().features.findIndex((f) => f.name === name);
  const present = events.filter((_, r) => a[r * width + col('customer_record_present')] === 1).length;
  const busy = events.filter((_, r) => (a[r * width + col('merchant_txn_count_24h')] as number) > 5).length;
  assert.ok(present > N * 0.5, `only ${present} rows with customer features`);
  assert.ok(busy > N * 0.3, `only ${busy} rows with a merchant's 24 h count above 5`);
});
