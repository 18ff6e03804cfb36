import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createJsCore, LIMITS, loadCore } from '@pep/core-native';
import { simulatedEvents } from '../sim/events.ts';
import { type EntityRecords, vectorEventFields, vectorEventJson, vectorize } from './vectorize.ts';

const records: EntityRecords[] = [
  { customer: null, merchant: null, payment_method: null },
  {
    customer: { txn_count_30d: 12, amount_sum_30d: 900.5, decline_rate_7d: 0.25, tenure_days: 40 },
    merchant: { txn_count_1h: 3, dispute_rate_30d: 0.01 },
    payment_method: { txn_count_10m: 2, distinct_customers_7d: 1 },
  },
];

test('the projected event gives the whole event vector, bit for bit (native and twin), odd events included', async () => {
  const raw = await simulatedEvents({ seed: 5, count: 3000, startMs: Date.UTC(2026, 0, 1), stepMs: 60_000 });
  const events: Record<string, unknown>[] = raw.map((e) => JSON.parse(e));
  const base = events[0] as Record<string, unknown>;
  // Fields missing, of the wrong type, null, nested, and extras the vectorizer never reads.
  events.push(
    { ...base, card_brand: undefined, customer_id: null, payment_method_type: 7 },
    { ...base, event_type: 'refund.created', status: 'failed', failure_code: 'card_expired', extra: { a: [1, 2] } },
    { ...base, provider: ['stripe'], currency: 'JPY', amount_minor: 1234 },
  );
  for (const core of [await loadCore(), createJsCore()]) {
    const fields = vectorEventFields(core.featureSpec());
    for (const f of ['amount_minor', 'currency', 'provider_created_at', 'provider', 'payment_method_type', 'status'])
      assert.ok(fields.includes(f), f);
    const rows = events.map((_, i) => records[i % records.length] as EntityRecords);
    const whole = vectorize(
      core,
      events.map((e) => JSON.stringify(e)),
      rows,
    );
    const projected = vectorize(
      core,
      events.map((e) => vectorEventJson(e, fields)),
      rows,
    );
    assert.equal(projected.length, whole.length);
    assert.deepEqual(new Uint8Array(projected.buffer), new Uint8Array(whole.buffer), core.kind);
    // And it is smaller: that is the point.
    const sizes = (f: (e: Record<string, unknown>) => string) => events.reduce((n, e) => n + f(e).length, 0);
    assert.ok(sizes((e) => vectorEventJson(e, fields)) < sizes((e) => JSON.stringify(e)) / 2);
  }
});

test('an event feature whose transform names no field, unknown here, is an error at load', () => {
  const spec = createJsCore().featureSpec();
  const odd = {
    ...spec,
    features: [
      ...spec.features,
      { ...spec.features[0], transform: 'new_one', field: null } as unknown as (typeof spec.features)[number],
    ],
  };
  assert.throws(() => vectorEventFields(odd), /event transform new_one names no field/);
});

test('more rows than one core-native call takes: sliced, and each row the vector it gets alone', async () => {
  const core = createJsCore();
  const n = LIMITS.maxVectorizeRows * 2 + 17;
  const raw = await simulatedEvents({ seed: 9, count: 64, startMs: Date.UTC(2026, 0, 1), stepMs: 60_000 });
  const events = Array.from({ length: n }, (_, i) => raw[i % raw.length] as string);
  const rows = events.map((_, i) => records[i % records.length] as EntityRecords);
  const all = vectorize(core, events, rows);
  const width = core.featureSpec().features.length;
  assert.equal(all.length, n * width);
  // Rows on both sides of each slice boundary and the last one equal the same rows vectorized on their own.
  for (const i of [0, LIMITS.maxVectorizeRows - 1, LIMITS.maxVectorizeRows, 2 * LIMITS.maxVectorizeRows, n - 1]) {
    const alone = vectorize(core, [events[i] as string], [rows[i] as EntityRecords]);
    assert.deepEqual(all.subarray(i * width, (i + 1) * width), alone, `row ${i}`);
  }
});
