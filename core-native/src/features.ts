/**
 * Feature vectorization twin of `crates/core/src/features.rs`: the same declared, versioned
 * feature order, transforms and defaults, and bit-identical Float32 rows.
 */
import { exponentOf } from './currency.ts';
import { get, INVALID, isObject, type Json, type JsonObject, parseBytes } from './json.ts';
import { parseRfc3339 } from './time.ts';
import { type FeatureBatch, type FeatureDef, type FeatureSpec, type FeatureValuesBatch, LIMITS } from './types.ts';

export const FEATURE_SPEC_VERSION = 'pep-features-v2';

type Src = FeatureDef['source'];
const f = (
  name: string,
  source: Src,
  transform: string,
  field: string | null,
  values: readonly string[] | null,
  dflt: number,
): FeatureDef => ({ name, source, transform, field, values, default: dflt });
const T = 'provider_created_at';

export const FEATURES: readonly FeatureDef[] = [
  f('amount_major', 'event', 'amount_major', null, null, 0),
  f('currency_exponent', 'event', 'currency_exponent', null, null, 2),
  f('provider_stripe', 'event', 'equals', 'provider', ['stripe'], 0),
  f('provider_square', 'event', 'equals', 'provider', ['square'], 0),
  f('provider_adyen', 'event', 'equals', 'provider', ['adyen'], 0),
  f('provider_braintree', 'event', 'equals', 'provider', ['braintree'], 0),
  f('method_card', 'event', 'equals', 'payment_method_type', ['card'], 0),
  f('method_wallet', 'event', 'equals', 'payment_method_type', ['wallet'], 0),
  f('has_customer', 'event', 'present', 'customer_id', null, 0),
  f('has_card_brand', 'event', 'present', 'card_brand', null, 0),
  f('status_failed', 'event', 'equals', 'status', ['failed'], 0),
  f('is_refund', 'event', 'prefix', 'event_type', ['refund.'], 0),
  f('is_dispute', 'event', 'prefix', 'event_type', ['dispute.'], 0),
  f('failure_expired_card', 'event', 'one_of', 'failure_code', ['expired_card', 'card_expired'], 0),
  f('failure_insufficient_funds', 'event', 'one_of', 'failure_code', ['insufficient_funds'], 0),
  f('hour_of_day_utc', 'event', 'hour_of_day_utc', T, null, 0),
  f('day_of_week_utc', 'event', 'day_of_week_utc', T, null, 0),
  f('customer_record_present', 'customer', 'record_present', null, null, 0),
  f('customer_txn_count_10m', 'customer', 'identity', 'txn_count_10m', null, 0),
  f('customer_amount_sum_10m', 'customer', 'identity', 'amount_sum_10m', null, 0),
  f('customer_decline_count_10m', 'customer', 'identity', 'decline_count_10m', null, 0),
  f('customer_txn_count_1h', 'customer', 'identity', 'txn_count_1h', null, 0),
  f('customer_amount_sum_1h', 'customer', 'identity', 'amount_sum_1h', null, 0),
  f('customer_decline_count_1h', 'customer', 'identity', 'decline_count_1h', null, 0),
  f('customer_distinct_merchants_1h', 'customer', 'identity', 'distinct_merchants_1h', null, 0),
  f('customer_txn_count_24h', 'customer', 'identity', 'txn_count_24h', null, 0),
  f('customer_amount_sum_24h', 'customer', 'identity', 'amount_sum_24h', null, 0),
  f('customer_decline_rate_24h', 'customer', 'identity', 'decline_rate_24h', null, 0),
  f('customer_txn_count_7d', 'customer', 'identity', 'txn_count_7d', null, 0),
  f('customer_amount_sum_7d', 'customer', 'identity', 'amount_sum_7d', null, 0),
  f('customer_decline_rate_7d', 'customer', 'identity', 'decline_rate_7d', null, 0),
  f('customer_distinct_payment_methods_7d', 'customer', 'identity', 'distinct_payment_methods_7d', null, 0),
  f('customer_txn_count_30d', 'customer', 'identity', 'txn_count_30d', null, 0),
  f('customer_amount_to_avg_ratio_30d', 'customer', 'identity', 'amount_to_avg_ratio_30d', null, 1),
  f('customer_secs_since_prev_event', 'customer', 'identity', 'secs_since_prev_event', null, -1),
  f('customer_secs_since_last_success', 'customer', 'identity', 'secs_since_last_success', null, -1),
  f('customer_consecutive_failures', 'customer', 'identity', 'consecutive_failures', null, 0),
  f('customer_tenure_days', 'customer', 'identity', 'tenure_days', null, 0),
  f('merchant_record_present', 'merchant', 'record_present', null, null, 0),
  f('merchant_txn_count_1h', 'merchant', 'identity', 'txn_count_1h', null, 0),
  f('merchant_decline_rate_1h', 'merchant', 'identity', 'decline_rate_1h', null, 0),
  f('merchant_txn_count_24h', 'merchant', 'identity', 'txn_count_24h', null, 0),
  f('merchant_amount_sum_24h', 'merchant', 'identity', 'amount_sum_24h', null, 0),
  f('merchant_decline_rate_24h', 'merchant', 'identity', 'decline_rate_24h', null, 0),
  f('merchant_txn_count_30d', 'merchant', 'identity', 'txn_count_30d', null, 0),
  f('merchant_dispute_count_30d', 'merchant', 'identity', 'dispute_count_30d', null, 0),
  f('merchant_dispute_rate_30d', 'merchant', 'identity', 'dispute_rate_30d', null, 0),
  f('payment_method_record_present', 'payment_method', 'record_present', null, null, 0),
  f('payment_method_txn_count_10m', 'payment_method', 'identity', 'txn_count_10m', null, 0),
  f('payment_method_decline_count_10m', 'payment_method', 'identity', 'decline_count_10m', null, 0),
  f('payment_method_txn_count_24h', 'payment_method', 'identity', 'txn_count_24h', null, 0),
  f('payment_method_decline_rate_24h', 'payment_method', 'identity', 'decline_rate_24h', null, 0),
  f('payment_method_distinct_merchants_24h', 'payment_method', 'identity', 'distinct_merchants_24h', null, 0),
  f('payment_method_txn_count_7d', 'payment_method', 'identity', 'txn_count_7d', null, 0),
  f('payment_method_distinct_customers_7d', 'payment_method', 'identity', 'distinct_customers_7d', null, 0),
];

export const FEATURE_SPEC: FeatureSpec = Object.freeze({ version: FEATURE_SPEC_VERSION, features: FEATURES });

/** Canonical JSON of the spec (byte-identical to the addon's featureSpecJson()). */
export const featureSpecJson = (): string =>
  `{"version":${JSON.stringify(FEATURE_SPEC_VERSION)},"features":[${FEATURES.map(
    (d) =>
      `{"name":${JSON.stringify(d.name)},"source":${JSON.stringify(d.source)},"transform":${JSON.stringify(d.transform)},` +
      `"field":${JSON.stringify(d.field)},"values":${d.values === null ? 'null' : JSON.stringify(d.values)},"default":${d.default}}`,
  ).join(',')}]}`;

const POW10 = [1, 10, 100, 1000, 10000];

function record(bytes: Uint8Array, what: string, i: number): JsonObject | undefined {
  if (bytes.length === 0) return undefined;
  const v = parseBytes(bytes);
  if (v === INVALID || !isObject(v)) throw new RangeError(`row ${i}: ${what} record is not a JSON object`);
  return v;
}

const num = (rec: JsonObject | undefined, field: string): number | undefined => {
  const v = get(rec, field);
  return typeof v === 'number' ? v : undefined;
};
const str = (ev: Json, field: string): string | undefined => {
  const v = get(ev, field);
  return typeof v === 'string' ? v : undefined;
};

/** An event's values every row needs (parse_event in features.rs), or the same error. */
function parseEvent(ev: Json, i: number): { amount: number; exponent: number; created: number } {
  const amount = get(ev, 'amount_minor');
  if (typeof amount !== 'number' || amount < 0 || !Number.isInteger(amount)) {
    throw new RangeError(`row ${i}: event has no integer amount_minor`);
  }
  const cur = str(ev, 'currency');
  const exponent = cur === undefined ? undefined : exponentOf(cur);
  if (exponent === undefined) throw new RangeError(`row ${i}: event has no known currency`);
  const ts = str(ev, 'provider_created_at');
  const created = ts === undefined ? undefined : parseRfc3339(ts);
  if (created === undefined) throw new RangeError(`row ${i}: event has no provider_created_at timestamp`);
  return { amount, exponent, created };
}

function parseEventBytes(
  evBytes: Uint8Array,
  i: number,
): { ev: Json; amount: number; exponent: number; created: number } {
  const ev = parseBytes(evBytes);
  if (ev === INVALID) throw new RangeError(`row ${i}: event is not JSON`);
  if (!isObject(ev)) throw new RangeError(`row ${i}: event is not a JSON object`);
  return { ev, ...parseEvent(ev, i) };
}

/**
 * Feature `d` of a row: `has` whether the feature's record exists, `val` its field's number (undefined: absent or
 * not a number). compute() in features.rs.
 */
function featureValue(
  d: FeatureDef,
  e: { ev: Json; amount: number; exponent: number; created: number },
  has: boolean,
  val: number | undefined,
): number {
  const { ev, amount, exponent, created } = e;
  const fld = d.field as string;
  const vals = d.values as readonly string[];
  switch (d.transform) {
    case 'amount_major':
      return amount / (POW10[exponent] as number);
    case 'currency_exponent':
      return exponent;
    case 'equals':
      return str(ev, fld) === vals[0] ? 1 : 0;
    case 'one_of': {
      const v = str(ev, fld);
      return v !== undefined && vals.includes(v) ? 1 : 0;
    }
    case 'other_than': {
      const v = str(ev, fld);
      return v !== undefined && !vals.includes(v) ? 1 : 0;
    }
    case 'present': {
      const v = get(ev, fld);
      return v === undefined || v === null ? 0 : 1;
    }
    case 'prefix':
      return str(ev, fld)?.startsWith(vals[0] as string) ? 1 : 0;
    case 'hour_of_day_utc':
      return ((Math.floor(created / 3_600_000) % 24) + 24) % 24;
    case 'day_of_week_utc':
      return (((Math.floor(created / 86_400_000) + 3) % 7) + 7) % 7;
    case 'record_present':
      return has ? 1 : 0;
    case 'identity':
      return val ?? d.default;
    case 'clip01':
      return val === undefined ? d.default : Math.min(1, Math.max(0, val));
    case 'amount_ratio':
      return val !== undefined && val > 0 ? amount / val : d.default;
    default:
      throw new Error(`unknown transform ${d.transform}`);
  }
}

const sliceOf = (d: Uint8Array, o: Uint32Array, l: Uint32Array, i: number, what: string) => {
  const start = o[i] as number;
  const len = l[i] as number;
  if (len > 0 && start + len > d.length) throw new RangeError(`row ${i}: ${what} is outside its buffer`);
  return d.subarray(start, start + len);
};

const SOURCE_INDEX: Readonly<Record<Src, number>> = { event: -1, customer: 0, merchant: 1, payment_method: 2 };

export function vectorizeBatchJs(b: FeatureBatch): Float32Array {
  const rows = b.eventOffsets.length;
  for (const [name, arr] of [
    ['eventLengths', b.eventLengths],
    ['customerOffsets', b.customerOffsets],
    ['customerLengths', b.customerLengths],
    ['merchantOffsets', b.merchantOffsets],
    ['merchantLengths', b.merchantLengths],
    ['paymentMethodOffsets', b.paymentMethodOffsets],
    ['paymentMethodLengths', b.paymentMethodLengths],
  ] as const) {
    if (arr.length !== rows) throw new RangeError(`${name} has ${arr.length} entries, eventOffsets has ${rows}`);
  }
  if (rows > LIMITS.maxVectorizeRows) throw new RangeError(`${rows} rows; the maximum is ${LIMITS.maxVectorizeRows}`);
  const cols = FEATURES.length;
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const evBytes = sliceOf(b.events, b.eventOffsets, b.eventLengths, i, 'event');
    const cBytes = sliceOf(b.customers, b.customerOffsets, b.customerLengths, i, 'customer');
    const mBytes = sliceOf(b.merchants, b.merchantOffsets, b.merchantLengths, i, 'merchant');
    const pBytes = sliceOf(b.paymentMethods, b.paymentMethodOffsets, b.paymentMethodLengths, i, 'payment_method');
    const e = parseEventBytes(evBytes, i);
    const recs = [record(cBytes, 'customer', i), record(mBytes, 'merchant', i), record(pBytes, 'payment_method', i)];
    for (let k = 0; k < cols; k++) {
      const d = FEATURES[k] as FeatureDef;
      const rec = d.source === 'event' ? undefined : recs[SOURCE_INDEX[d.source]];
      out[i * cols + k] = featureValue(d, e, rec !== undefined, d.field === null ? undefined : num(rec, d.field));
    }
  }
  return out;
}

/** What a record's number is in the JSON path: JSON.stringify writes a non-finite number as null, -0 as 0. */
const jsonNumber = (x: number): number | undefined => (Number.isFinite(x) ? (x === 0 ? 0 : x) : undefined);

/** vectorize_values in features.rs: vectorizeBatchJs with the records as numbers (FeatureValuesBatch). */
export function vectorizeValuesJs(b: FeatureValuesBatch): Float32Array {
  const rows = b.eventOffsets.length;
  if (b.eventLengths.length !== rows)
    throw new RangeError(`eventLengths has ${b.eventLengths.length} entries, eventOffsets has ${rows}`);
  if (rows > LIMITS.maxVectorizeRows) throw new RangeError(`${rows} rows; the maximum is ${LIMITS.maxVectorizeRows}`);
  const cols = FEATURES.length;
  if (b.values.length !== rows * cols)
    throw new RangeError(`values has ${b.values.length} entries; ${rows} rows need ${rows * cols}`);
  if (b.present.length !== rows * 3)
    throw new RangeError(`present has ${b.present.length} entries; ${rows} rows need ${rows * 3}`);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const e = parseEventBytes(sliceOf(b.events, b.eventOffsets, b.eventLengths, i, 'event'), i);
    for (let k = 0; k < cols; k++) {
      const d = FEATURES[k] as FeatureDef;
      const has = d.source !== 'event' && b.present[i * 3 + SOURCE_INDEX[d.source]] !== 0;
      const val = has && d.field !== null ? jsonNumber(b.values[i * cols + k] as number) : undefined;
      out[i * cols + k] = featureValue(d, e, has, val);
    }
  }
  return out;
}
