/**
 * Provider payloads → unified events: the line-by-line twin of `crates/core/src/providers.rs`.
 * Keep both files in the same order; the differential tests compare their bytes.
 */
import { cleanText } from '@pep/contracts/redact';
import type { AmountBounds } from './currency.ts';
import { get, isNonEmptyObject, isObject, type Json, type JsonObject, path } from './json.ts';
import {
  amountMinor,
  BAD,
  byteLen,
  C,
  type Code,
  type Currency,
  cardBrand,
  checkMax,
  currency,
  decimalAmount,
  Errs,
  lastFour,
  lower,
  MAX_CODE_BYTES,
  MAX_METADATA_ENTRIES,
  MAX_METADATA_KEY_BYTES,
  MAX_TEXT_BYTES,
  NULL_TOKENS,
  ok,
  optId,
  optString,
  optText,
  orToken,
  type Read,
  reqId,
  reqType,
  token,
  validId,
  validType,
} from './rules.ts';
import { iso, parseRfc3339, unixSecondsToMs } from './time.ts';
import { attr, child, childRawText, childText, type Element } from './xml.ts';

export type ProviderName = 'stripe' | 'square' | 'adyen' | 'braintree';
export type Meta = null | boolean | string | string[];

export interface UnifiedEvent {
  provider: ProviderName;
  providerEventId: string;
  objectId: string | undefined;
  eventType: string;
  merchantId: string | undefined;
  customerId: string | undefined;
  amountMinor: number;
  currency: string;
  paymentMethodType: string | undefined;
  cardBrand: string | undefined;
  cardLastFour: string | undefined;
  status: string;
  failureCode: string | undefined;
  failureMessage: string | undefined;
  /** Sorted by key (code point order), unique keys. */
  metadata: [string, Meta][];
  providerCreatedAtMs: number;
}

export interface Rejected {
  providerEventId: string | undefined;
  errors: Errs;
}
export type Outcome = { ok: true; event: UnifiedEvent } | { ok: false; rejected: Rejected };

const reject = (id: string | undefined, e: Errs): Outcome => ({
  ok: false,
  rejected: { providerEventId: id, errors: e },
});
const accept = (event: UnifiedEvent): Outcome => ({ ok: true, event });

function optToken(v: Json | undefined, field: string, e: Errs): Read<string> {
  const s = optText(v, field, MAX_TEXT_BYTES, e);
  if (s === BAD || s === undefined) return s;
  const t = token(s);
  if (t === undefined) {
    e.push(field, C.INVALID_FIELD_VALUE, 'must be at most 64 characters');
    return BAD;
  }
  return t;
}

function optObject(v: Json | undefined, field: string, e: Errs): Read<JsonObject> {
  if (v === undefined || v === null) return undefined;
  if (isObject(v)) return v;
  e.push(field, C.INVALID_FIELD_TYPE, 'must be an object');
  return BAD;
}

function rfc3339Field(v: Json | undefined, field: string, e: Errs): Read<number> {
  const s = optText(v, field, 64, e);
  if (s === BAD || s === undefined) return s;
  const ms = parseRfc3339(s);
  if (ms === undefined) {
    e.push(field, C.INVALID_TIMESTAMP, 'must be an RFC 3339 timestamp with a time zone');
    return BAD;
  }
  return ms;
}

const missingTimestamp = (field: string, e: Errs) => e.push(field, C.MISSING_TIMESTAMP, 'is required');

/** Code point order (= UTF-8 byte order, as Rust sorts). */
function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i) as number;
    const y = b.codePointAt(i) as number;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

function stringMetadata(v: Json | undefined, field: string, e: Errs): [string, Meta][] {
  if (v === undefined || v === null) return [];
  if (!isObject(v)) {
    e.push(field, C.INVALID_METADATA, 'metadata must be an object');
    return [];
  }
  // JSON.parse already kept the last duplicate. Keys as the event carries them (cleanText); two raw keys that clean to
  // the same key: the greater raw key wins. Validated in sorted order like the Rust crate.
  const sorted = Object.keys(v)
    .map((raw) => [cleanText(raw), raw] as const)
    .sort((a, b) => compareKeys(a[0], b[0]) || compareKeys(a[1], b[1]));
  const keys: (readonly [string, string])[] = [];
  for (const kv of sorted) {
    if (keys.length > 0 && (keys[keys.length - 1] as readonly [string, string])[0] === kv[0])
      keys[keys.length - 1] = kv;
    else keys.push(kv);
  }
  if (keys.length > MAX_METADATA_ENTRIES) {
    e.push(field, C.INVALID_METADATA, `metadata must have at most ${MAX_METADATA_ENTRIES} entries`);
    return [];
  }
  const out: [string, Meta][] = [];
  for (const [k, raw] of keys) {
    if (byteLen(raw) > MAX_METADATA_KEY_BYTES) {
      e.push(field, C.INVALID_METADATA, `metadata keys must be at most ${MAX_METADATA_KEY_BYTES} bytes`);
      return [];
    }
    const val = v[raw] as Json;
    if (val === null) out.push([k, null]);
    else if (typeof val === 'string') {
      if (byteLen(val) > MAX_TEXT_BYTES) {
        e.push(field, C.INVALID_METADATA, `metadata values must be at most ${MAX_TEXT_BYTES} bytes`);
        return [];
      }
      out.push([k, val]);
    } else {
      e.push(field, C.INVALID_METADATA, 'metadata values must be strings');
      return [];
    }
  }
  return out;
}

const metaStr = (k: string, v: string | undefined): [string, Meta] => [k, v ?? null];

// ───────────────────────────────────────── Stripe ─────────────────────────────────────────

const STRIPE_TYPES: Readonly<Record<string, string>> = {
  'payment_intent.created': 'payment.created',
  'payment_intent.succeeded': 'payment.succeeded',
  'payment_intent.payment_failed': 'payment.failed',
  'payment_intent.canceled': 'payment.canceled',
  'payment_intent.processing': 'payment.processing',
  'payment_intent.requires_action': 'payment.requires_action',
  'payment_intent.amount_capturable_updated': 'payment.amount_capturable_updated',
  'charge.dispute.created': 'dispute.created',
  'charge.dispute.closed': 'dispute.closed',
};
const lookup = (t: Readonly<Record<string, string>>, k: string): string | undefined =>
  Object.hasOwn(t, k) ? t[k] : undefined;

function unixField(v: Json, field: string, e: Errs): number | undefined {
  const ms = typeof v === 'number' ? unixSecondsToMs(v) : undefined;
  if (ms === undefined) e.push(field, C.INVALID_TIMESTAMP, 'must be whole Unix seconds between years 1 and 9999');
  return ms;
}

export function stripe(root: Json, bounds: AmountBounds): Outcome {
  const e = new Errs();
  if (!isObject(root)) {
    e.push('payload', C.INVALID_PAYLOAD, 'payload must be a JSON object');
    return reject(undefined, e);
  }
  const id = reqId(get(root, 'id'), 'id', C.MISSING_EVENT_ID, e);
  const etype = reqType(get(root, 'type'), 'type', C.MISSING_EVENT_TYPE, e);
  const obj = path(root, ['data', 'object']);
  if (!isNonEmptyObject(obj)) {
    e.push('data.object', C.MISSING_DATA_OBJECT, 'data.object is required');
    return reject(id, e);
  }
  const objectId = reqId(get(obj, 'id'), 'data.object.id', C.MISSING_OBJECT_ID, e);
  const amountErrs = new Errs();
  const amount = amountMinor(get(obj, 'amount'), 'data.object.amount', amountErrs);
  const cur = currency(get(obj, 'currency'), 'data.object.currency', amountErrs);
  e.list.push(...amountErrs.list);
  if (amount !== undefined && cur !== undefined) checkMax(amount, cur[0], bounds, 'data.object.amount', e);
  const cv = get(obj, 'customer');
  const customer = isObject(cv)
    ? ok(optId(get(cv, 'id'), 'data.object.customer.id', e))
    : ok(optId(cv, 'data.object.customer', e));
  let metadata = stringMetadata(get(obj, 'metadata'), 'data.object.metadata', e);
  // A dispute or refund names the payment it belongs to: kept so later outcomes can be joined to the payment
  // (ml/ learns fraud from disputes of earlier payments).
  const objectKind = get(obj, 'object');
  if (objectKind === 'dispute' || objectKind === 'refund') {
    for (const [key, field] of [
      ['linked_charge', 'charge'],
      ['linked_payment_intent', 'payment_intent'],
    ] as const) {
      const v = get(obj, field);
      if (typeof v === 'string' && byteLen(v) <= MAX_TEXT_BYTES) {
        metadata = metadata.filter(([k]) => k !== key);
        metadata.push([key, v]);
      }
    }
    metadata.sort((a, b) => compareKeys(a[0], b[0]));
  }
  const mv = get(obj, 'metadata');
  const merchant = isObject(mv) ? ok(optId(get(mv, 'merchant_id'), 'data.object.metadata.merchant_id', e)) : undefined;

  let pm: string | undefined;
  const pmt = get(obj, 'payment_method_types');
  if (pmt === undefined || pmt === null) {
    // absent
  } else if (Array.isArray(pmt)) {
    if (pmt.length > 0) pm = ok(optToken(pmt[0], 'data.object.payment_method_types', e));
  } else e.push('data.object.payment_method_types', C.INVALID_FIELD_TYPE, 'must be an array');
  const details = ok(optObject(get(obj, 'payment_method_details'), 'data.object.payment_method_details', e));
  if (pm === undefined && details !== undefined) {
    pm = ok(optToken(get(details, 'type'), 'data.object.payment_method_details.type', e));
  }
  const isRefund =
    get(obj, 'object') === 'refund' ||
    (etype !== undefined && (etype.startsWith('refund.') || etype.startsWith('charge.refund.')));
  if (pm === undefined && isRefund) pm = 'refund';
  let brand: string | undefined;
  let last4: string | undefined;
  if (details !== undefined) {
    const card = ok(optObject(get(details, 'card'), 'data.object.payment_method_details.card', e));
    if (card !== undefined) {
      const b = ok(optText(get(card, 'brand'), 'data.object.payment_method_details.card.brand', MAX_CODE_BYTES, e));
      brand = b === undefined ? undefined : cardBrand(b);
      last4 = ok(lastFour(get(card, 'last4'), 'data.object.payment_method_details.card.last4', e));
    }
  }

  const unified = etype === undefined ? undefined : (lookup(STRIPE_TYPES, etype) ?? etype);
  const objStatus = ok(optToken(get(obj, 'status'), 'data.object.status', e));
  let status: string;
  if (unified === 'payment.failed') status = 'failed';
  else if (objStatus !== undefined) status = objStatus;
  else {
    const t = etype ?? '';
    status = ['succeeded', 'failed', 'canceled', 'pending', 'processing'].find((k) => t.includes(k)) ?? 'unknown';
  }

  const fc = ok(optText(get(obj, 'failure_code'), 'data.object.failure_code', MAX_CODE_BYTES, e));
  const fm = ok(optText(get(obj, 'failure_message'), 'data.object.failure_message', MAX_TEXT_BYTES, e));
  let failureCode: string | undefined;
  let failureMessage: string | undefined;
  if (fc !== undefined || fm !== undefined) {
    failureCode = fc;
    failureMessage = fm;
  } else {
    const lpe = ok(optObject(get(obj, 'last_payment_error'), 'data.object.last_payment_error', e));
    if (lpe !== undefined && isNonEmptyObject(lpe)) {
      failureCode = ok(optText(get(lpe, 'code'), 'data.object.last_payment_error.code', MAX_CODE_BYTES, e));
      failureMessage = ok(optText(get(lpe, 'message'), 'data.object.last_payment_error.message', MAX_TEXT_BYTES, e));
    } else {
      failureCode = ok(optText(get(obj, 'failure_reason'), 'data.object.failure_reason', MAX_CODE_BYTES, e));
    }
  }

  const oc = get(obj, 'created');
  const rc = get(root, 'created');
  let created: number | undefined;
  if (oc !== undefined && oc !== null) created = unixField(oc, 'data.object.created', e);
  else if (rc !== undefined && rc !== null) created = unixField(rc, 'created', e);
  else missingTimestamp('data.object.created', e);

  if (!e.empty) return reject(id, e);
  return accept({
    provider: 'stripe',
    providerEventId: id as string,
    objectId,
    eventType: unified as string,
    merchantId: merchant,
    customerId: customer,
    amountMinor: amount as number,
    currency: (cur as Currency)[0],
    paymentMethodType: pm,
    cardBrand: brand,
    cardLastFour: last4,
    status,
    failureCode,
    failureMessage,
    metadata,
    providerCreatedAtMs: created as number,
  });
}

// ───────────────────────────────────────── Square ─────────────────────────────────────────

const SQUARE_TYPES: Readonly<Record<string, string>> = { 'payment.completed': 'payment.succeeded' };
const SQUARE_SOURCE: Readonly<Record<string, string>> = {
  CARD: 'card',
  CARD_ON_FILE: 'card',
  CASH: 'cash',
  EXTERNAL: 'external',
  WALLET: 'wallet',
  BANK_ACCOUNT: 'bank_account',
  BUY_NOW_PAY_LATER: 'buy_now_pay_later',
  SQUARE_ACCOUNT: 'square_account',
};
const SQUARE_PAYMENT_STATUS: Readonly<Record<string, string>> = {
  APPROVED: 'approved',
  COMPLETED: 'succeeded',
  CANCELED: 'canceled',
  FAILED: 'failed',
  PENDING: 'pending',
};
const SQUARE_REFUND_STATUS: Readonly<Record<string, string>> = {
  PENDING: 'pending',
  COMPLETED: 'succeeded',
  REJECTED: 'rejected',
  FAILED: 'failed',
};

export function square(root: Json, bounds: AmountBounds): Outcome {
  const e = new Errs();
  if (!isObject(root)) {
    e.push('payload', C.INVALID_PAYLOAD, 'payload must be a JSON object');
    return reject(undefined, e);
  }
  const id = reqId(get(root, 'event_id'), 'event_id', C.MISSING_EVENT_ID, e);
  const etype = reqType(get(root, 'type'), 'type', C.MISSING_EVENT_TYPE, e);
  const data = get(root, 'data');
  if (!isObject(data)) {
    e.push('data', C.MISSING_DATA, 'data is required');
    return reject(id, e);
  }
  const dtype = optString(get(data, 'type'), 'data.type', e);
  if (dtype === BAD) return reject(id, e);
  const inner = (k: string): JsonObject | undefined => {
    const v = path(data, ['object', k]);
    return isObject(v) ? v : undefined;
  };
  let isPayment: boolean;
  let obj: JsonObject;
  if (dtype === 'payment') {
    const p = inner('payment');
    if (p === undefined) {
      e.push('data.object.payment', C.MISSING_PAYMENT, 'data.object.payment is required');
      return reject(id, e);
    }
    [isPayment, obj] = [true, p];
  } else if (dtype === 'refund') {
    const r = inner('refund');
    if (r === undefined) {
      e.push('data.object.refund', C.MISSING_REFUND, 'data.object.refund is required');
      return reject(id, e);
    }
    [isPayment, obj] = [false, r];
  } else {
    const p = inner('payment');
    const r = inner('refund');
    if (p !== undefined) [isPayment, obj] = [true, p];
    else if (r !== undefined) [isPayment, obj] = [false, r];
    else {
      e.push('data.type', C.UNKNOWN_OBJECT_TYPE, 'data.type must be payment or refund');
      return reject(id, e);
    }
  }
  const p = isPayment ? 'payment' : 'refund';
  const f = (s: string) => `data.object.${p}.${s}`;
  const objectId = reqId(get(obj, 'id'), f('id'), C.MISSING_OBJECT_ID, e);
  const money = ok(optObject(get(obj, 'amount_money'), f('amount_money'), e));
  const amountErrs = new Errs();
  const amount = amountMinor(
    money === undefined ? undefined : get(money, 'amount'),
    f('amount_money.amount'),
    amountErrs,
  );
  const cur = currency(
    money === undefined ? undefined : get(money, 'currency'),
    f('amount_money.currency'),
    amountErrs,
  );
  e.list.push(...amountErrs.list);
  if (amount !== undefined && cur !== undefined) checkMax(amount, cur[0], bounds, f('amount_money.amount'), e);
  const merchant = ok(optId(get(root, 'merchant_id'), 'merchant_id', e));
  const rawStatus = ok(optText(get(obj, 'status'), f('status'), MAX_CODE_BYTES, e));

  let customer: string | undefined;
  let pm: string | undefined;
  let brand: string | undefined;
  let last4: string | undefined;
  let status: string;
  let failureCode: string | undefined;
  let failureMessage: string | undefined;
  let metadata: [string, Meta][];
  if (isPayment) {
    customer = ok(optId(get(obj, 'customer_id'), f('customer_id'), e));
    const cd = ok(optObject(get(obj, 'card_details'), f('card_details'), e));
    const card = cd === undefined ? undefined : ok(optObject(get(cd, 'card'), f('card_details.card'), e));
    const holder = card ?? cd;
    const hf = card !== undefined ? f('card_details.card') : f('card_details');
    if (holder !== undefined) {
      const b = ok(optText(get(holder, 'card_brand'), `${hf}.card_brand`, MAX_CODE_BYTES, e));
      brand = b === undefined ? undefined : cardBrand(b);
      last4 = ok(lastFour(get(holder, 'last_4'), `${hf}.last_4`, e));
    }
    const st = ok(optText(get(obj, 'source_type'), f('source_type'), MAX_CODE_BYTES, e));
    pm = st === undefined ? 'card' : orToken(lookup(SQUARE_SOURCE, st), st);
    status =
      (rawStatus === undefined ? undefined : orToken(lookup(SQUARE_PAYMENT_STATUS, rawStatus), rawStatus)) ?? 'unknown';
    if (status === 'failed' && cd !== undefined) {
      const errs = get(cd, 'errors');
      if (Array.isArray(errs) && errs.length > 0 && isObject(errs[0])) {
        const first = errs[0];
        const c = ok(optText(get(first, 'code'), f('card_details.errors.0.code'), MAX_CODE_BYTES, e));
        failureCode = c === undefined ? undefined : lower(c);
        failureMessage = ok(optText(get(first, 'detail'), f('card_details.errors.0.detail'), MAX_TEXT_BYTES, e));
      }
    }
    const loc = ok(optText(get(obj, 'location_id'), f('location_id'), MAX_TEXT_BYTES, e));
    const order = ok(optText(get(obj, 'order_id'), f('order_id'), MAX_TEXT_BYTES, e));
    const reference = ok(optText(get(obj, 'reference_id'), f('reference_id'), MAX_TEXT_BYTES, e));
    metadata = [metaStr('location_id', loc), metaStr('order_id', order), metaStr('reference_id', reference)];
  } else {
    pm = 'refund';
    status =
      (rawStatus === undefined ? undefined : orToken(lookup(SQUARE_REFUND_STATUS, rawStatus), rawStatus)) ?? 'unknown';
    const loc = ok(optText(get(obj, 'location_id'), f('location_id'), MAX_TEXT_BYTES, e));
    const pay = ok(optText(get(obj, 'payment_id'), f('payment_id'), MAX_TEXT_BYTES, e));
    const reason = ok(optText(get(obj, 'reason'), f('reason'), MAX_TEXT_BYTES, e));
    metadata = [metaStr('location_id', loc), metaStr('payment_id', pay), metaStr('reason', reason)];
  }
  let created: number | undefined;
  const oc = rfc3339Field(get(obj, 'created_at'), f('created_at'), e);
  if (oc === BAD) created = undefined;
  else if (oc !== undefined) created = oc;
  else {
    const rc = rfc3339Field(get(root, 'created_at'), 'created_at', e);
    if (rc === undefined) missingTimestamp(f('created_at'), e);
    else if (rc !== BAD) created = rc;
  }
  if (!e.empty) return reject(id, e);
  const t = etype as string;
  return accept({
    provider: 'square',
    providerEventId: id as string,
    objectId,
    eventType: lookup(SQUARE_TYPES, t) ?? t,
    merchantId: merchant,
    customerId: customer,
    amountMinor: amount as number,
    currency: (cur as Currency)[0],
    paymentMethodType: pm,
    cardBrand: brand,
    cardLastFour: last4,
    status,
    failureCode,
    failureMessage,
    metadata,
    providerCreatedAtMs: created as number,
  });
}

// ───────────────────────────────────────── Adyen ──────────────────────────────────────────

const ADYEN_TYPES: Readonly<Record<string, string>> = {
  AUTHORISATION: 'payment.authorized',
  CAPTURE: 'payment.captured',
  CANCELLATION: 'payment.canceled',
  REFUND: 'refund.created',
  REFUND_FAILED: 'refund.failed',
  CHARGEBACK: 'dispute.created',
  CHARGEBACK_REVERSED: 'dispute.reversed',
  NOTIFICATION_OF_CHARGEBACK: 'dispute.notification',
  SECOND_CHARGEBACK: 'dispute.second_chargeback',
  PENDING: 'payment.pending',
  REPORT_AVAILABLE: 'report.available',
  PAYOUT_DECLINE: 'payout.declined',
  PAYOUT_EXPIRE: 'payout.expired',
  PAYOUT_THIRDPARTY: 'payout.third_party',
};
const ADYEN_STATUS: Readonly<Record<string, string>> = {
  AUTHORISATION: 'authorized',
  CAPTURE: 'captured',
  CANCELLATION: 'canceled',
  REFUND: 'refunded',
  REFUND_FAILED: 'refund_failed',
  CHARGEBACK: 'disputed',
  CHARGEBACK_REVERSED: 'dispute_reversed',
  PENDING: 'pending',
};
const ADYEN_METHOD: Readonly<Record<string, string>> = {
  visa: 'card',
  mc: 'card',
  amex: 'card',
  discover: 'card',
  jcb: 'card',
  diners: 'card',
  cup: 'card',
  maestro: 'card',
  cartebancaire: 'card',
  bcmc: 'card',
  ideal: 'bank_transfer',
  sepadirectdebit: 'bank_account',
  paypal: 'paypal',
  applepay: 'wallet',
  googlepay: 'wallet',
  paywithgoogle: 'wallet',
  klarna: 'buy_now_pay_later',
  afterpay: 'buy_now_pay_later',
  affirm: 'buy_now_pay_later',
};
const ADYEN_BRAND: Readonly<Record<string, string>> = {
  visa: 'visa',
  mc: 'mastercard',
  amex: 'amex',
  discover: 'discover',
  jcb: 'jcb',
  diners: 'diners',
  cup: 'unionpay',
  maestro: 'maestro',
  cartebancaire: 'cartes_bancaires',
  bcmc: 'bancontact',
};
const FAILURE_RULES: readonly [readonly string[], string][] = [
  [['declined', 'refused'], 'declined'],
  [['fraud'], 'fraud'],
  [['expired'], 'expired_card'],
  [['insufficient'], 'insufficient_funds'],
  [['invalid'], 'invalid_card'],
  [['blocked'], 'blocked'],
  [['cancelled', 'canceled'], 'canceled'],
];

export function adyenFailureCode(reason: string): string {
  const r = lower(reason);
  for (const [needles, c] of FAILURE_RULES) if (needles.some((n) => r.includes(n))) return c;
  return 'unknown';
}

function adyenBool(v: Json | undefined, field: string, required: boolean, e: Errs): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v === undefined || v === null) {
    if (!required) return false;
    e.push(field, C.INVALID_FIELD_VALUE, 'is required (true or false)');
    return undefined;
  }
  e.push(field, C.INVALID_FIELD_VALUE, 'must be true or false');
  return undefined;
}

export const MAX_ADYEN_ITEMS = 100;

export function adyenItems(root: Json): { items: Json[]; live: Json | undefined } | Errs {
  const e = new Errs();
  if (!isObject(root)) {
    e.push('payload', C.INVALID_PAYLOAD, 'payload must be a JSON object');
    return e;
  }
  const items = get(root, 'notificationItems');
  if (items !== undefined) {
    if (!Array.isArray(items)) {
      e.push('notificationItems', C.INVALID_PAYLOAD, 'notificationItems must be an array');
      return e;
    }
    if (items.length === 0) {
      e.push('notificationItems', C.INVALID_PAYLOAD, 'notificationItems is empty');
      return e;
    }
    if (items.length > MAX_ADYEN_ITEMS) {
      e.push('notificationItems', C.TOO_MANY_ITEMS, `at most ${MAX_ADYEN_ITEMS} items per message`);
      return e;
    }
    // An explicit `"NotificationRequestItem": null` is a null item (rejected below), not the wrapper itself: `??`
    // would fall back on null too, where the Rust twin's `unwrap_or` does not.
    const unwrap = (w: Json) => {
      const inner = get(w, 'NotificationRequestItem');
      return inner === undefined ? w : inner;
    };
    return { items: items.map(unwrap), live: get(root, 'live') };
  }
  const one = get(root, 'NotificationRequestItem');
  if (one !== undefined) return { items: [one], live: get(root, 'live') };
  return { items: [root], live: undefined };
}

export function adyenItem(item: Json, live: Json | undefined, bounds: AmountBounds): Outcome {
  const e = new Errs();
  if (!isObject(item)) {
    e.push('NotificationRequestItem', C.INVALID_PAYLOAD, 'notification item must be an object');
    return reject(undefined, e);
  }
  const psp = reqId(get(item, 'pspReference'), 'pspReference', C.MISSING_PSP_REFERENCE, e);
  const ecode = reqType(get(item, 'eventCode'), 'eventCode', C.MISSING_EVENT_CODE, e);
  const rid = psp !== undefined ? (ecode !== undefined ? `${psp}_${ecode}` : psp) : undefined;
  const merchant = reqId(get(item, 'merchantAccountCode'), 'merchantAccountCode', C.MISSING_MERCHANT_ACCOUNT, e);
  const money = ok(optObject(get(item, 'amount'), 'amount', e));
  const amountErrs = new Errs();
  const amount = amountMinor(money === undefined ? undefined : get(money, 'value'), 'amount.value', amountErrs);
  const cur = currency(money === undefined ? undefined : get(money, 'currency'), 'amount.currency', amountErrs);
  e.list.push(...amountErrs.list);
  if (amount !== undefined && cur !== undefined) checkMax(amount, cur[0], bounds, 'amount.value', e);
  const success = adyenBool(get(item, 'success'), 'success', true, e);
  const liveFlag = adyenBool(live !== undefined ? live : get(item, 'live'), 'live', false, e);
  const reason = ok(optText(get(item, 'reason'), 'reason', MAX_TEXT_BYTES, e));
  const m = ok(optText(get(item, 'paymentMethod'), 'paymentMethod', MAX_CODE_BYTES, e));
  const method = m === undefined ? undefined : lower(m);
  const additional = ok(optObject(get(item, 'additionalData'), 'additionalData', e));
  const last4 =
    additional === undefined
      ? undefined
      : ok(lastFour(get(additional, 'cardSummary'), 'additionalData.cardSummary', e));
  const customer =
    additional === undefined
      ? undefined
      : ok(optId(get(additional, 'shopperReference'), 'additionalData.shopperReference', e));
  const originalRef = ok(optText(get(item, 'originalReference'), 'originalReference', MAX_TEXT_BYTES, e));
  const merchantRef = ok(optText(get(item, 'merchantReference'), 'merchantReference', MAX_TEXT_BYTES, e));
  let operations: Meta = null;
  const ops = get(item, 'operations');
  if (ops === undefined || ops === null) operations = null;
  else if (Array.isArray(ops)) {
    const list: string[] = [];
    for (const op of ops) {
      if (typeof op === 'string' && validType(op)) list.push(op);
      else {
        e.push('operations', C.INVALID_FIELD_VALUE, 'operations must be names like CAPTURE');
        break;
      }
    }
    operations = list;
  } else {
    e.push('operations', C.INVALID_FIELD_TYPE, 'must be an array');
  }
  let created: number | undefined;
  const ed = rfc3339Field(get(item, 'eventDate'), 'eventDate', e);
  if (ed === undefined) missingTimestamp('eventDate', e);
  else if (ed !== BAD) created = ed;
  if (!e.empty) return reject(rid, e);
  const c = ecode as string;
  const status = !success ? 'failed' : (orToken(lookup(ADYEN_STATUS, c), c) as string);
  const failed = !success && reason !== undefined;
  return accept({
    provider: 'adyen',
    providerEventId: rid as string,
    objectId: psp,
    eventType: lookup(ADYEN_TYPES, c) ?? lower(c),
    merchantId: merchant,
    customerId: customer,
    amountMinor: amount as number,
    currency: (cur as Currency)[0],
    paymentMethodType: method === undefined ? undefined : orToken(lookup(ADYEN_METHOD, method), method),
    cardBrand: method === undefined ? undefined : lookup(ADYEN_BRAND, method),
    cardLastFour: last4,
    status,
    failureCode: failed ? adyenFailureCode(reason) : undefined,
    failureMessage: failed ? reason : undefined,
    metadata: [
      ['live', liveFlag as boolean],
      metaStr('merchant_reference', merchantRef),
      ['operations', operations],
      metaStr('original_reference', originalRef),
    ],
    providerCreatedAtMs: created as number,
  });
}

// ──────────────────────────────────────── Braintree ───────────────────────────────────────

const BT_TYPES: Readonly<Record<string, string>> = {
  transaction_settled: 'payment.settled',
  transaction_settlement_declined: 'payment.settlement_declined',
  transaction_disbursed: 'payment.disbursed',
  subscription_charged_successfully: 'subscription.charged',
  subscription_charged_unsuccessfully: 'subscription.charge_failed',
  subscription_canceled: 'subscription.canceled',
  subscription_expired: 'subscription.expired',
  subscription_trial_ended: 'subscription.trial_ended',
  subscription_went_active: 'subscription.activated',
  subscription_went_past_due: 'subscription.past_due',
  dispute_opened: 'dispute.created',
  dispute_won: 'dispute.won',
  dispute_lost: 'dispute.lost',
  dispute_accepted: 'dispute.accepted',
  dispute_expired: 'dispute.expired',
  disbursement: 'disbursement.created',
  disbursement_exception: 'disbursement.exception',
  sub_merchant_account_approved: 'merchant.approved',
  sub_merchant_account_declined: 'merchant.declined',
  check: 'check.verified',
};
const BT_KIND_STATUS: Readonly<Record<string, string>> = {
  transaction_settled: 'settled',
  transaction_settlement_declined: 'settlement_declined',
  transaction_disbursed: 'disbursed',
  subscription_charged_successfully: 'succeeded',
  subscription_charged_unsuccessfully: 'failed',
  subscription_canceled: 'canceled',
  dispute_opened: 'disputed',
  dispute_won: 'dispute_won',
  dispute_lost: 'dispute_lost',
  disbursement: 'disbursed',
};
const BT_TXN_STATUS: Readonly<Record<string, string>> = {
  authorized: 'authorized',
  submitted_for_settlement: 'pending',
  settling: 'pending',
  settled: 'settled',
  voided: 'canceled',
  processor_declined: 'failed',
  gateway_rejected: 'failed',
  failed: 'failed',
  settlement_declined: 'settlement_declined',
};
const BT_INSTRUMENT: Readonly<Record<string, string>> = {
  credit_card: 'card',
  paypal_account: 'paypal',
  venmo_account: 'venmo',
  apple_pay_card: 'wallet',
  google_pay_card: 'wallet',
  android_pay_card: 'wallet',
  samsung_pay_card: 'wallet',
  visa_checkout_card: 'wallet',
  masterpass_card: 'wallet',
  us_bank_account: 'bank_account',
  sepa_debit_account: 'bank_account',
  local_payment: 'local_payment',
};

export interface BtTxn {
  id?: string;
  status?: string;
  kind?: string;
  amount?: string;
  currency?: string;
  merchantAccountId?: string;
  customerId?: string;
  instrument?: string;
  cardType?: string;
  last4?: string;
}
export interface BtNote {
  kind?: string;
  timestamp?: string;
  txn?: BtTxn;
  subscriptionId?: string;
  subscriptionStatus?: string;
  planId?: string;
  disputeId?: string;
  disputeStatus?: string;
  disputeReason?: string;
  disputeAmount?: string;
  disputeCurrency?: string;
  subjectId?: string;
}

function btTxnFromXml(t: Element): BtTxn {
  const card = child(t, 'credit-card');
  const cust = child(t, 'customer');
  return {
    id: childText(t, 'id'),
    status: childText(t, 'status'),
    kind: childText(t, 'type'),
    amount: childText(t, 'amount'),
    currency: childRawText(t, 'currency-iso-code'),
    merchantAccountId: childText(t, 'merchant-account-id'),
    customerId: (cust === undefined ? undefined : childText(cust, 'id')) ?? childText(t, 'customer-id'),
    instrument: childText(t, 'payment-instrument-type'),
    cardType: card === undefined ? undefined : childText(card, 'card-type'),
    last4: card === undefined ? undefined : childText(card, 'last-4'),
  };
}

export function btFromXml(root: Element): BtNote | undefined {
  if (root.name !== 'notification') return undefined;
  const n: BtNote = { kind: childText(root, 'kind'), timestamp: childText(root, 'timestamp') };
  const subject = child(root, 'subject');
  const s = subject?.children[0];
  if (s !== undefined) {
    if (s.name === 'transaction') n.txn = btTxnFromXml(s);
    else if (s.name === 'subscription') {
      n.subscriptionId = childText(s, 'id');
      n.subscriptionStatus = childText(s, 'status');
      n.planId = childText(s, 'plan-id');
      const first = child(s, 'transactions')?.children[0];
      if (first !== undefined) n.txn = btTxnFromXml(first);
    } else if (s.name === 'dispute') {
      n.disputeId = childText(s, 'id');
      n.disputeStatus = childText(s, 'status');
      n.disputeReason = childText(s, 'reason');
      n.disputeAmount = childText(s, 'amount');
      n.disputeCurrency = childRawText(s, 'currency-iso-code');
      const t = child(s, 'transaction');
      if (t !== undefined) n.txn = btTxnFromXml(t);
    } else n.subjectId = childText(s, 'id');
  }
  void attr;
  return n;
}

const BAD_CUR = Symbol('bad currency');
/** A Braintree currency as sent: absent is undefined; present must be exactly three uppercase ASCII letters. */
function btCurrency(v: string | undefined, field: string, e: Errs): string | undefined | typeof BAD_CUR {
  if (v === undefined) return undefined;
  if (v === '') {
    e.push(field, C.INVALID_CURRENCY, 'currency cannot be empty');
    return BAD_CUR;
  }
  if (/^[A-Z]{3}$/.test(v)) return v;
  e.push(field, C.INVALID_CURRENCY, 'currency must be exactly 3 uppercase letters (ISO 4217), without spaces');
  return BAD_CUR;
}

function btText(v: string | undefined, field: string, max: number, e: Errs): string | undefined {
  if (v === undefined || NULL_TOKENS.has(v)) return undefined;
  if (byteLen(v) > max) {
    e.push(field, C.FIELD_TOO_LONG, `must be at most ${max} bytes`);
    return undefined;
  }
  return v;
}

function btId(v: string | undefined, field: string, e: Errs): Read<string> {
  const before = e.list.length;
  const s = btText(v, field, MAX_TEXT_BYTES, e);
  if (s !== undefined) {
    if (validId(s)) return s;
    e.push(field, C.INVALID_FIELD_VALUE, 'must be 1 to 255 printable ASCII characters without quotes or backslashes');
    return BAD;
  }
  return e.list.length > before ? BAD : undefined;
}

export function braintree(n: BtNote, bounds: AmountBounds, e: Errs): Outcome {
  let kind: string | undefined;
  const k0 = btText(n.kind, 'kind', MAX_TEXT_BYTES, e);
  if (k0 !== undefined) {
    if (validType(k0)) kind = k0;
    else e.push('kind', C.INVALID_FIELD_VALUE, 'must be 1 to 128 characters of [A-Za-z0-9_.]');
  } else e.push('kind', C.MISSING_KIND, 'is required');
  const txn = n.txn;
  const t: BtTxn = txn ?? {};
  const txnIdR = btId(t.id, 'transaction.id', e);
  if (kind?.startsWith('transaction_') && txnIdR === undefined) {
    e.push('transaction.id', C.MISSING_TRANSACTION_ID, 'is required for transaction notifications');
  }
  const txnId = ok(txnIdR);
  const disputeId = ok(btId(n.disputeId, 'dispute.id', e));
  const subscriptionId = ok(btId(n.subscriptionId, 'subscription.id', e));
  const subjectId = ok(btId(n.subjectId, 'subject.id', e));
  let created: number | undefined;
  const ts = btText(n.timestamp, 'timestamp', 64, e);
  if (ts !== undefined) {
    created = parseRfc3339(ts);
    if (created === undefined)
      e.push('timestamp', C.INVALID_TIMESTAMP, 'must be an RFC 3339 timestamp with a time zone');
  } else missingTimestamp('timestamp', e);
  const tAmount = btText(t.amount, 'transaction.amount', 64, e);
  const dAmount = btText(n.disputeAmount, 'dispute.amount', 64, e);
  const [amountS, af] =
    tAmount !== undefined
      ? [tAmount, 'transaction.amount']
      : dAmount !== undefined
        ? [dAmount, 'dispute.amount']
        : [undefined, 'transaction.amount'];
  // No default currency for money (issue 13): a currency Braintree sends is exactly its 3 uppercase letters, and an
  // amount without one is refused; only a notification with no amount at all gets USD (amount 0, no money stated).
  const tCur = btCurrency(t.currency, 'transaction.currency_iso_code', e);
  const dCur = btCurrency(n.disputeCurrency, 'dispute.currency_iso_code', e);
  let cur: Currency | undefined;
  if (tCur === BAD_CUR || dCur === BAD_CUR) cur = undefined;
  else if (tCur !== undefined) cur = currency(tCur, 'transaction.currency_iso_code', e);
  else if (dCur !== undefined) cur = currency(dCur, 'dispute.currency_iso_code', e);
  else if (amountS !== undefined || txn !== undefined) {
    e.push(
      'transaction.currency_iso_code',
      C.INVALID_CURRENCY,
      'currency is required with an amount (no default currency is assumed)',
    );
  } else cur = currency('USD', 'transaction.currency_iso_code', e);
  let amount: number | undefined;
  if (amountS !== undefined) amount = cur !== undefined ? decimalAmount(amountS, cur[1], af, e) : undefined;
  else if (txn !== undefined) e.push(af, C.INVALID_AMOUNT, 'amount is required');
  else amount = 0;
  if (amount !== undefined && cur !== undefined) checkMax(amount, cur[0], bounds, af, e);
  const merchant = ok(btId(t.merchantAccountId, 'transaction.merchant_account_id', e));
  const customer = ok(btId(t.customerId, 'transaction.customer_id', e));
  const txnStatus = btText(t.status, 'transaction.status', MAX_CODE_BYTES, e);
  const txnType = btText(t.kind, 'transaction.type', MAX_CODE_BYTES, e);
  const instrument = btText(t.instrument, 'transaction.payment_instrument_type', MAX_CODE_BYTES, e);
  const cardType = btText(t.cardType, 'transaction.card_details.card_type', MAX_CODE_BYTES, e);
  let last4 = btText(t.last4, 'transaction.card_details.last_4', MAX_TEXT_BYTES, e);
  if (last4 !== undefined && !/^[0-9]{4}$/.test(last4)) {
    e.push('transaction.card_details.last_4', C.INVALID_CARD_LAST_FOUR, 'must be exactly 4 digits');
    last4 = undefined;
  }
  const subStatus = btText(n.subscriptionStatus, 'subscription.status', MAX_CODE_BYTES, e);
  const planId = btText(n.planId, 'subscription.plan_id', MAX_TEXT_BYTES, e);
  const disputeStatus = btText(n.disputeStatus, 'dispute.status', MAX_CODE_BYTES, e);
  const disputeReason = btText(n.disputeReason, 'dispute.reason', MAX_TEXT_BYTES, e);

  const subject = txnId ?? disputeId ?? subscriptionId ?? subjectId;
  let rid: string | undefined;
  if (kind !== undefined) {
    if (subject !== undefined) rid = `${kind}_${subject}`;
    else if (created !== undefined) rid = `${kind}_${iso(created)}`;
  }
  if (!e.empty) return reject(rid, e);
  const k = kind as string;
  const ks = lookup(BT_KIND_STATUS, k);
  const status =
    ks ??
    (txnStatus !== undefined
      ? (orToken(lookup(BT_TXN_STATUS, txnStatus), txnStatus) ?? 'unknown')
      : (token(k) ?? 'unknown'));
  const failed = status === 'failed';
  const fcode = txnStatus ?? 'unknown';
  let eventType = lookup(BT_TYPES, k) ?? k.replaceAll('_', '.');
  if (txnType === 'credit' && eventType.startsWith('payment.'))
    eventType = `refund.${eventType.slice('payment.'.length)}`;
  const objectId =
    (k.startsWith('dispute') ? (disputeId ?? txnId) : (txnId ?? disputeId)) ?? subscriptionId ?? subjectId;
  return accept({
    provider: 'braintree',
    providerEventId: rid as string,
    objectId,
    eventType,
    merchantId: merchant,
    customerId: customer,
    amountMinor: amount as number,
    currency: (cur as Currency)[0],
    paymentMethodType: instrument === undefined ? undefined : orToken(lookup(BT_INSTRUMENT, instrument), instrument),
    cardBrand: cardType === undefined ? undefined : cardBrand(cardType),
    cardLastFour: last4,
    status,
    failureCode: failed ? fcode : undefined,
    failureMessage: failed ? `Transaction ${fcode}` : undefined,
    metadata: [
      metaStr('dispute_id', disputeId),
      metaStr('dispute_reason', disputeReason),
      metaStr('dispute_status', disputeStatus),
      // The disputed payment's transaction id (the dispute's own id is the object id).
      metaStr('dispute_transaction_id', k.startsWith('dispute') ? txnId : undefined),
      metaStr('kind', k),
      metaStr('plan_id', planId),
      metaStr('subscription_id', subscriptionId),
      metaStr('subscription_status', subStatus),
      metaStr('transaction_type', txnType),
    ],
    providerCreatedAtMs: created as number,
  });
}

export type { Code };
