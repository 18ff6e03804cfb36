/**
 * Stripe events: the twin of `crates/core/src/providers/stripe.rs` (same units, same order).
 */
import type { AmountBounds } from '../currency.ts';
import { get, isNonEmptyObject, isObject, type Json, type JsonObject, path } from '../json.ts';
import {
  C,
  type Currency,
  cardBrand,
  Errs,
  lastFour,
  MAX_CODE_BYTES,
  MAX_TEXT_BYTES,
  ok,
  optId,
  optText,
  reqId,
  reqType,
} from '../rules.ts';
import { unixSecondsToMs } from '../time.ts';
import { failedByType, lookup, OTHER, STRIPE_TYPES } from '../vocabulary.ts';
import {
  accept,
  boundedMoney,
  compareKeys,
  type Meta,
  missingTimestamp,
  type Outcome,
  optObject,
  optToken,
  reject,
  stringMetadata,
} from './common.ts';

export function stripeEventType(t: string, status: string | undefined, paymentStatus: string | undefined): string {
  const fixed = lookup(STRIPE_TYPES, t);
  if (fixed !== undefined) return fixed;
  switch (t) {
    case 'charge.dispute.closed':
      if (status === 'won' || status === 'warning_closed') return 'dispute.won';
      if (status === 'lost') return 'dispute.lost';
      return 'dispute.updated';
    case 'refund.updated':
    case 'charge.refund.updated':
      if (status === 'succeeded') return 'refund.succeeded';
      if (status === 'failed' || status === 'canceled') return 'refund.failed';
      return OTHER;
    case 'checkout.session.completed':
      if (paymentStatus === 'paid') return 'payment.succeeded';
      if (paymentStatus === 'unpaid') return 'payment.pending';
      return OTHER;
    default:
      return OTHER;
  }
}

export function stripeAmountField(objectKind: string | undefined, t: string): [string, string] {
  if (objectKind === 'invoice' && t === 'invoice.payment_failed') return ['amount_due', 'data.object.amount_due'];
  if (objectKind === 'invoice') return ['amount_paid', 'data.object.amount_paid'];
  if (objectKind === 'checkout.session') return ['amount_total', 'data.object.amount_total'];
  if (objectKind === 'charge' && t === 'charge.refunded') return ['amount_refunded', 'data.object.amount_refunded'];
  return ['amount', 'data.object.amount'];
}

function stripePaymentMethod(
  pmTypes: Json | undefined,
  details: JsonObject | undefined,
  isRefund: boolean,
  e: Errs,
): string | undefined {
  let pm: string | undefined;
  if (pmTypes === undefined || pmTypes === null) {
    // absent
  } else if (Array.isArray(pmTypes)) {
    if (pmTypes.length > 0) pm = ok(optToken(pmTypes[0], 'data.object.payment_method_types', e));
  } else e.push('data.object.payment_method_types', C.INVALID_FIELD_TYPE, 'must be an array');
  if (pm === undefined && details !== undefined) {
    pm = ok(optToken(get(details, 'type'), 'data.object.payment_method_details.type', e));
  }
  if (pm === undefined && isRefund) pm = 'refund';
  return pm;
}

function stripeCard(details: JsonObject | undefined, e: Errs): [string | undefined, string | undefined] {
  if (details === undefined) return [undefined, undefined];
  const card = ok(optObject(get(details, 'card'), 'data.object.payment_method_details.card', e));
  if (card === undefined) return [undefined, undefined];
  const b = ok(optText(get(card, 'brand'), 'data.object.payment_method_details.card.brand', MAX_CODE_BYTES, e));
  const brand = b === undefined ? undefined : cardBrand(b);
  const last4 = ok(lastFour(get(card, 'last4'), 'data.object.payment_method_details.card.last4', e));
  return [brand, last4];
}

function stripeStatus(eventType: string, objStatus: string | undefined, t: string): string {
  if (failedByType(eventType)) return 'failed';
  if (objStatus !== undefined) return objStatus;
  return ['succeeded', 'failed', 'canceled', 'pending', 'processing'].find((k) => t.includes(k)) ?? 'unknown';
}

function stripeFailure(obj: JsonObject, e: Errs): [string | undefined, string | undefined] {
  const fc = ok(optText(get(obj, 'failure_code'), 'data.object.failure_code', MAX_CODE_BYTES, e));
  const fm = ok(optText(get(obj, 'failure_message'), 'data.object.failure_message', MAX_TEXT_BYTES, e));
  if (fc !== undefined || fm !== undefined) return [fc, fm];
  const lpe = ok(optObject(get(obj, 'last_payment_error'), 'data.object.last_payment_error', e));
  if (lpe !== undefined && isNonEmptyObject(lpe)) {
    return [
      ok(optText(get(lpe, 'code'), 'data.object.last_payment_error.code', MAX_CODE_BYTES, e)),
      ok(optText(get(lpe, 'message'), 'data.object.last_payment_error.message', MAX_TEXT_BYTES, e)),
    ];
  }
  return [ok(optText(get(obj, 'failure_reason'), 'data.object.failure_reason', MAX_CODE_BYTES, e)), undefined];
}

function stripeCreated(objCreated: Json | undefined, eventCreated: Json | undefined, e: Errs): number | undefined {
  if (objCreated !== undefined && objCreated !== null) return unixField(objCreated, 'data.object.created', e);
  if (eventCreated !== undefined && eventCreated !== null) return unixField(eventCreated, 'created', e);
  missingTimestamp('data.object.created', e);
  return undefined;
}

/** The customer id: a string, or an expanded customer object's `id`. */
function stripeCustomer(v: Json | undefined, e: Errs): string | undefined {
  return isObject(v) ? ok(optId(get(v, 'id'), 'data.object.customer.id', e)) : ok(optId(v, 'data.object.customer', e));
}

/**
 * The object's metadata; a dispute or refund adds the payment it belongs to (`linked_charge`, `linked_payment_intent`),
 * so later outcomes can be joined to the payment (ml/ learns fraud from disputes of earlier payments).
 */
function stripeMetadata(obj: JsonObject, kind: string | undefined, v: Json | undefined, e: Errs): [string, Meta][] {
  let metadata = stringMetadata(v, 'data.object.metadata', e);
  if (kind === 'dispute' || kind === 'refund') {
    for (const [key, field] of [
      ['linked_charge', 'charge'],
      ['linked_payment_intent', 'payment_intent'],
    ] as const) {
      const s = get(obj, field);
      if (typeof s === 'string' && new TextEncoder().encode(s).length <= MAX_TEXT_BYTES) {
        metadata = metadata.filter(([k]) => k !== key);
        metadata.push([key, s]);
      }
    }
    metadata.sort((a, b) => compareKeys(a[0], b[0]));
  }
  return metadata;
}

/** The merchant id, from `metadata.merchant_id`. */
function stripeMerchant(metadata: Json | undefined, e: Errs): string | undefined {
  return isObject(metadata)
    ? ok(optId(get(metadata, 'merchant_id'), 'data.object.metadata.merchant_id', e))
    : undefined;
}

/** A refund object, or an event about one. */
function stripeIsRefund(kind: string | undefined, t: string | undefined): boolean {
  return kind === 'refund' || (t !== undefined && (t.startsWith('refund.') || t.startsWith('charge.refund.')));
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
  const kv = get(obj, 'object');
  const kind = typeof kv === 'string' ? kv : undefined;
  const [amountKey, amountPath] = stripeAmountField(kind, etype ?? '');
  const [amount, cur] = boundedMoney(
    get(obj, amountKey),
    amountPath,
    get(obj, 'currency'),
    'data.object.currency',
    bounds,
    e,
  );
  const customer = stripeCustomer(get(obj, 'customer'), e);
  const metadata = stripeMetadata(obj as JsonObject, kind, get(obj, 'metadata'), e);
  const merchant = stripeMerchant(get(obj, 'metadata'), e);
  const details = ok(optObject(get(obj, 'payment_method_details'), 'data.object.payment_method_details', e));
  const pm = stripePaymentMethod(get(obj, 'payment_method_types'), details, stripeIsRefund(kind, etype), e);
  const [brand, last4] = stripeCard(details, e);
  const sv = get(obj, 'status');
  const psv = get(obj, 'payment_status');
  const eventType =
    etype === undefined
      ? undefined
      : stripeEventType(etype, typeof sv === 'string' ? sv : undefined, typeof psv === 'string' ? psv : undefined);
  const objStatus = ok(optToken(sv, 'data.object.status', e));
  const [failureCode, failureMessage] = stripeFailure(obj as JsonObject, e);
  const created = stripeCreated(get(obj, 'created'), get(root, 'created'), e);

  if (!e.empty) return reject(id, e);
  const t = etype as string;
  const et = eventType as string;
  return accept({
    provider: 'stripe',
    providerEventId: id as string,
    objectId,
    eventType: et,
    providerEventType: t,
    merchantId: merchant,
    customerId: customer,
    amountMinor: amount as number,
    currency: (cur as Currency)[0],
    paymentMethodType: pm,
    cardBrand: brand,
    cardLastFour: last4,
    status: stripeStatus(et, objStatus, t),
    failureCode,
    failureMessage,
    metadata,
    providerCreatedAtMs: created as number,
  });
}

function unixField(v: Json, field: string, e: Errs): number | undefined {
  const ms = typeof v === 'number' ? unixSecondsToMs(v) : undefined;
  if (ms === undefined) e.push(field, C.INVALID_TIMESTAMP, 'must be whole Unix seconds between years 1 and 9999');
  return ms;
}
