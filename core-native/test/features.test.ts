/**
 * Feature vectorization: the versioned spec is the same in both implementations, a row has the
 * documented values and defaults, and malformed rows are refused with the same message.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packFeatureEvents, packFeatureRows } from '../src/index.ts';
import { impls } from './helpers.ts';

const { native, js } = await impls();

const EVENT = JSON.stringify({
  event_id: 'stripe:evt_1',
  provider: 'stripe',
  amount_minor: 2050,
  currency: 'USD',
  payment_method_type: 'card',
  customer_id: 'cus_1',
  card_brand: null,
  status: 'failed',
  event_type: 'refund.created',
  provider_created_at: '2024-01-15T13:00:00.000Z',
});

test('the feature spec is versioned and identical in both implementations', () => {
  const spec = js.featureSpec();
  assert.equal(spec.version, 'pep-features-v2');
  assert.deepEqual(native.featureSpec(), JSON.parse(JSON.stringify(spec)));
  assert.equal(new Set(spec.features.map((f) => f.name)).size, spec.features.length);
});

test('a row carries event values, record values and declared defaults', () => {
  for (const impl of [native, js]) {
    const row = impl.vectorizeOne(
      EVENT,
      JSON.stringify({ txn_count_10m: 3, amount_to_avg_ratio_30d: 2.05, decline_rate_7d: 'x' }),
      null,
      JSON.stringify({ distinct_customers_7d: 4 }),
    );
    const names = impl.featureSpec().features.map((f) => f.name);
    const get = (n: string) => row[names.indexOf(n)];
    assert.equal(get('amount_major'), 20.5);
    assert.equal(get('provider_stripe'), 1);
    assert.equal(get('status_failed'), 1);
    assert.equal(get('hour_of_day_utc'), 13);
    assert.equal(get('day_of_week_utc'), 0);
    assert.equal(get('customer_record_present'), 1);
    assert.equal(get('customer_txn_count_10m'), 3);
    assert.equal(get('customer_amount_to_avg_ratio_30d'), Math.fround(2.05));
    assert.equal(get('customer_decline_rate_7d'), 0, 'not a number: the default');
    assert.equal(get('customer_secs_since_prev_event'), -1);
    assert.equal(get('merchant_record_present'), 0);
    assert.equal(get('payment_method_record_present'), 1);
    assert.equal(get('payment_method_distinct_customers_7d'), 4);
  }
});

test('a batch returns one row-major Float32Array', () => {
  const rows = packFeatureRows([
    { event: EVENT },
    { event: EVENT, merchant: '{"dispute_rate_30d":0.25}', paymentMethod: '{"txn_count_10m":7}' },
  ]);
  const a = native.vectorizeBatch(rows);
  const b = js.vectorizeBatch(rows);
  assert.ok(a instanceof Float32Array);
  assert.equal(a.length, 2 * js.featureSpec().features.length);
  assert.deepEqual(Array.from(a), Array.from(b));
});

test('malformed rows are refused with the same message by both implementations', () => {
  const bad = [
    { event: '{"amount_minor":1}' },
    { event: 'not json' },
    { event: EVENT, customer: '[1]' },
    { event: EVENT.replace('"USD"', '"XYZ"') },
  ];
  for (const row of bad) {
    const messages = [native, js].map((impl) => {
      try {
        impl.vectorizeBatch(packFeatureRows([row]));
        return 'no error';
      } catch (e) {
        return (e as Error).message;
      }
    });
    assert.notEqual(messages[0], 'no error');
    assert.equal(messages[0], messages[1]);
  }
});

test('packFeatureRows packs ASCII text in one pass to the bytes it packs item by item', () => {
  const ascii = [
    { event: '{"amount_minor":1200,"currency":"USD"}', customer: '{"a":1}', merchant: null, paymentMethod: '{}' },
    { event: '{"amount_minor":5}', customer: null, merchant: '{"m":0.5}', paymentMethod: null },
    { event: '', customer: '', merchant: '{"x":1e-7}', paymentMethod: '{"p":2}' },
  ];
  const nonAscii = [
    ...ascii,
    { event: '{"status":"réussi €"}', customer: '{"a":1}', merchant: null, paymentMethod: null },
  ];
  const lone = [{ event: '{"s":"\ud800"}', customer: null, merchant: null, paymentMethod: null }];
  const enc = new TextEncoder();
  const asBytes = (x: string | null) => (x === null ? null : enc.encode(x));
  for (const rows of [ascii, nonAscii, lone, []]) {
    const got = packFeatureRows(rows);
    // bytes in: the item-by-item path
    const want = packFeatureRows(
      rows.map((r) => ({
        event: enc.encode(r.event),
        customer: asBytes(r.customer),
        merchant: asBytes(r.merchant),
        paymentMethod: asBytes(r.paymentMethod),
      })),
    );
    for (const k of Object.keys(want) as (keyof typeof want)[])
      assert.deepEqual([...got[k]], [...want[k]], `${k} of ${JSON.stringify(rows).slice(0, 80)}`);
  }
});

/** A row of records both as JSON objects (the vectorizeBatch path) and as numbers (the vectorizeValues path). */
function randomRecords(seed: number, rows: number, cols: number) {
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
  const spec = js.featureSpec().features;
  const entities = ['customer', 'merchant', 'payment_method'] as const;
  const specials = [0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-310, 1e21, 0.1 + 0.2];
  const values = new Float64Array(rows * cols).fill(Number.NaN);
  const present = new Uint8Array(rows * 3);
  const json: { customer: string | null; merchant: string | null; paymentMethod: string | null }[] = [];
  for (let r = 0; r < rows; r++) {
    const recs: (Record<string, number> | null)[] = entities.map((_, e) => {
      const on = rnd() < 0.8;
      present[r * 3 + e] = on ? 1 : 0;
      // A record with a field the vectorizer does not read (serving's records carry every view's feature).
      const rec: Record<string, number> = rnd() < 0.2 ? {} : { unread_feature: rnd() };
      return on ? rec : null;
    });
    spec.forEach((f, k) => {
      if (f.source === 'event' || f.field === null) return;
      const e = entities.indexOf(f.source as (typeof entities)[number]);
      const p = rnd();
      if (p < 0.2) return; // absent: NaN here, left out of the JSON
      const x =
        p < 0.4
          ? (specials[Math.floor(rnd() * specials.length)] as number)
          : p < 0.7
            ? Math.floor(rnd() * 1000)
            : (rnd() - 0.3) * 10 ** Math.floor(rnd() * 12 - 4);
      // Also when the record is not present: such values must not be read.
      values[r * cols + k] = x;
      // NaN in a record is written null: the default, as for an absent field.
      const rec = recs[e];
      if (rec) rec[f.field] = x;
    });
    const j = (x: Record<string, number> | null) => (x ? JSON.stringify(x) : null);
    json.push({ customer: j(recs[0] ?? null), merchant: j(recs[1] ?? null), paymentMethod: j(recs[2] ?? null) });
  }
  return { values, present, json };
}

test('vectorizeValues gives the rows of vectorizeBatch with the same records as JSON, bit for bit', () => {
  const cols = js.featureSpec().features.length;
  const events = [
    EVENT,
    JSON.stringify({ amount_minor: 123_456, currency: 'JPY', provider_created_at: '2026-03-01T23:59:59Z' }),
    JSON.stringify({
      amount_minor: 7,
      currency: 'BHD',
      provider: 'adyen',
      provider_created_at: '2025-12-31T00:00:00Z',
    }),
  ];
  for (const seed of [1, 2, 3, 4, 5]) {
    const rows = 400;
    const { values, present, json } = randomRecords(seed, rows, cols);
    const evs = Array.from({ length: rows }, (_, r) => events[r % events.length] as string);
    const want = native.vectorizeBatch(packFeatureRows(evs.map((event, r) => ({ event, ...json[r] }))));
    const batch = { ...packFeatureEvents(evs), values, present };
    for (const impl of [native, js]) {
      const got = impl.vectorizeValues(batch);
      const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
      assert.deepEqual(bits(got), bits(want), `${impl.kind}, seed ${seed}`);
    }
    assert.ok(
      want.some((x, i) => i % cols > 16 && x !== 0 && x !== -1 && x !== 1),
      'the records reach the vector (not all defaults)',
    );
  }
});

test('vectorizeValues refuses bad shapes and rows with the same message in both implementations', () => {
  const cols = js.featureSpec().features.length;
  const ok = { ...packFeatureEvents([EVENT]), values: new Float64Array(cols), present: new Uint8Array(3) };
  const bad = [
    { ...ok, values: new Float64Array(cols - 1) },
    { ...ok, present: new Uint8Array(2) },
    { ...ok, ...packFeatureEvents(['{"amount_minor":1}']) },
    { ...ok, ...packFeatureEvents(['not json']) },
    { ...ok, eventLengths: new Uint32Array(0) },
  ];
  for (const b of bad) {
    const messages = [native, js].map((impl) => {
      try {
        impl.vectorizeValues(b);
        return 'no error';
      } catch (e) {
        return (e as Error).message;
      }
    });
    assert.notEqual(messages[0], 'no error');
    assert.equal(messages[0], messages[1]);
  }
});
