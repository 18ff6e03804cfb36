/**
 * Square events: the twin of `crates/core/src/providers/square.rs` (same units, same order).
 */
import type { AmountBounds } from '../currency.ts';
import { get, isObject, type Json, type JsonObject, path } from '../json.ts';
import {
  amountMinor,
  BAD,
  C,
  type Code,
  type Currency,
  cardBrand,
  checkMax,
  currency,
  Errs,
  lastFour,
  lower,
  MAX_CODE_BYTES,
  MAX_TEXT_BYTES,
  ok,
  optId,
  optString,
  optText,
  orToken,
  reqId,
  reqType,
  token,
} from '../rules.ts';
import { failedByType, lookup, OTHER, SQUARE_TYPES } from '../vocabulary.ts';
import {
  accept,
  type Meta,
  mapLookup,
  metaStr,
  missingTimestamp,
  type Outcome,
  optObject,
  reject,
  rfc3339Field,
  textMetadata,
} from './common.ts';

export function squareEventType(t: string, status: string | undefined): string {
  const fixed = lookup(SQUARE_TYPES, t);
  if (fixed !== undefined) return fixed;
  if (t.startsWith('payment.')) {
    switch (status) {
      case 'APPROVED':
        return 'payment.authorized';
      case 'COMPLETED':
        return 'payment.succeeded';
      case 'CANCELED':
        return 'payment.canceled';
      case 'FAILED':
        return 'payment.failed';
      case 'PENDING':
        return 'payment.pending';
      default:
        return OTHER;
    }
  }
  if (t === 'refund.updated' || t === 'terminal.refund.updated') {
    if (status === 'COMPLETED') return 'refund.succeeded';
    if (status === 'FAILED' || status === 'REJECTED' || status === 'CANCELED') return 'refund.failed';
    return OTHER;
  }
  if (t === 'dispute.state.updated' || t === 'dispute.state.changed') {
    if (status === 'WON') return 'dispute.won';
    if (status === 'LOST' || status === 'ACCEPTED') return 'dispute.lost';
    return 'dispute.updated';
  }
  return OTHER;
}

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
export type SquareKind = 'payment' | 'refund' | 'dispute' | 'invoice' | 'payout';
const SQUARE_KINDS: readonly SquareKind[] = ['payment', 'refund', 'dispute', 'invoice', 'payout'];

function missingCode(kind: SquareKind): Code {
  if (kind === 'payment') return C.MISSING_PAYMENT;
  if (kind === 'refund') return C.MISSING_REFUND;
  return C.MISSING_DATA_OBJECT;
}

function squareObject(
  data: JsonObject,
  dtype: string | undefined,
  e: Errs,
): { kind: SquareKind; obj: JsonObject } | undefined {
  const inner = (k: string): JsonObject | undefined => {
    const v = path(data, ['object', k]);
    return isObject(v) ? v : undefined;
  };
  const named = SQUARE_KINDS.find((k) => k === dtype);
  if (named !== undefined) {
    const o = inner(named);
    if (o !== undefined) return { kind: named, obj: o };
    const field = `data.object.${named}`;
    e.push(field, missingCode(named), `${field} is required`);
    return undefined;
  }
  for (const kind of SQUARE_KINDS) {
    const o = inner(kind);
    if (o !== undefined) return { kind, obj: o };
  }
  e.push('data.type', C.UNKNOWN_OBJECT_TYPE, 'data.type must be payment, refund, dispute, invoice or payout');
  return undefined;
}

type Money = [number | undefined, Currency | undefined];

function squareMoney(m: Json | undefined, field: string, e: Errs): Money {
  const money = ok(optObject(m, field, e));
  const amountErrs = new Errs();
  const amount = amountMinor(money === undefined ? undefined : get(money, 'amount'), `${field}.amount`, amountErrs);
  let cv: Json | undefined;
  let ck = 'currency';
  const c1 = money === undefined ? undefined : get(money, 'currency');
  if (c1 !== undefined && c1 !== null) cv = c1;
  else {
    const c2 = money === undefined ? undefined : get(money, 'currency_code');
    if (c2 !== undefined) {
      cv = c2;
      ck = 'currency_code';
    }
  }
  const cur = currency(cv, `${field}.${ck}`, amountErrs);
  e.list.push(...amountErrs.list);
  return [amount, cur];
}

export const MAX_SQUARE_PAYMENT_REQUESTS = 64;

function squareInvoiceAmount(inv: JsonObject, t: string, f: (s: string) => string, e: Errs): Money {
  if (t === 'invoice.scheduled_charge_failed') {
    const m = get(inv, 'next_payment_amount_money');
    if (isObject(m)) return squareMoney(m, f('next_payment_amount_money'), e);
  }
  const pr = get(inv, 'payment_requests');
  let requests: Json[];
  if (Array.isArray(pr)) {
    if (pr.length > MAX_SQUARE_PAYMENT_REQUESTS) {
      e.push(f('payment_requests'), C.INVALID_FIELD_VALUE, `at most ${MAX_SQUARE_PAYMENT_REQUESTS} payment requests`);
      return [undefined, undefined];
    }
    requests = pr;
  } else if (pr === undefined || pr === null) requests = [];
  else {
    e.push(f('payment_requests'), C.INVALID_FIELD_TYPE, 'must be an array');
    return [undefined, undefined];
  }
  const sums = { computed_amount_money: 0, total_completed_amount_money: 0 };
  let cur: Currency | undefined;
  let seen = false;
  for (const [i, r] of requests.entries()) {
    for (const key of ['computed_amount_money', 'total_completed_amount_money'] as const) {
      const m = isObject(r) ? get(r, key) : undefined;
      if (m === undefined || m === null) continue;
      const field = f(`payment_requests.${i}.${key}`);
      const [a, c] = squareMoney(m, field, e);
      if (a === undefined || c === undefined) return [undefined, undefined];
      if (cur !== undefined && cur[0] !== c[0]) {
        e.push(`${field}.currency`, C.INVALID_CURRENCY, 'payment requests must share one currency');
        return [undefined, undefined];
      }
      cur = c;
      seen = true;
      sums[key] += a;
      if (sums[key] > Number.MAX_SAFE_INTEGER) {
        e.push(`${field}.amount`, C.INVALID_AMOUNT_TOO_LARGE, 'amount exceeds 2^53-1');
        return [undefined, undefined];
      }
    }
  }
  if (!seen) {
    e.push(f('payment_requests'), C.INVALID_AMOUNT, 'amount is required (no payment request carries one)');
    return [undefined, undefined];
  }
  const requested = sums.computed_amount_money;
  const paid = sums.total_completed_amount_money;
  let amount: number;
  if (t === 'invoice.scheduled_charge_failed') amount = Math.max(0, requested - paid);
  else if (t === 'invoice.payment_made' || t === 'invoice.refunded') amount = paid;
  else amount = requested;
  return [amount, cur];
}

interface SquareParts {
  customer: string | undefined;
  pm: string | undefined;
  brand: string | undefined;
  last4: string | undefined;
  status: string;
  failureCode: string | undefined;
  failureMessage: string | undefined;
  metadata: [string, Meta][];
}

const rawStatus = (obj: JsonObject, key: string, f: (s: string) => string, e: Errs) =>
  ok(optText(get(obj, key), f(key), MAX_CODE_BYTES, e));
const tokenStatus = (s: string | undefined): string => (s === undefined ? undefined : token(s)) ?? 'unknown';

function squarePaymentParts(obj: JsonObject, f: (s: string) => string, e: Errs): SquareParts {
  const raw = rawStatus(obj, 'status', f, e);
  const customer = ok(optId(get(obj, 'customer_id'), f('customer_id'), e));
  const cd = ok(optObject(get(obj, 'card_details'), f('card_details'), e));
  const card = cd === undefined ? undefined : ok(optObject(get(cd, 'card'), f('card_details.card'), e));
  const holder = card ?? cd;
  const hf = card !== undefined ? f('card_details.card') : f('card_details');
  let brand: string | undefined;
  let last4: string | undefined;
  if (holder !== undefined) {
    const b = ok(optText(get(holder, 'card_brand'), `${hf}.card_brand`, MAX_CODE_BYTES, e));
    brand = b === undefined ? undefined : cardBrand(b);
  }
  if (holder !== undefined) last4 = ok(lastFour(get(holder, 'last_4'), `${hf}.last_4`, e));
  const st = ok(optText(get(obj, 'source_type'), f('source_type'), MAX_CODE_BYTES, e));
  const pm = st === undefined ? 'card' : orToken(mapLookup(SQUARE_SOURCE, st), st);
  const status = (raw === undefined ? undefined : orToken(mapLookup(SQUARE_PAYMENT_STATUS, raw), raw)) ?? 'unknown';
  let failureCode: string | undefined;
  let failureMessage: string | undefined;
  if (status === 'failed' && cd !== undefined) {
    const errs = get(cd, 'errors');
    if (Array.isArray(errs) && errs.length > 0 && isObject(errs[0])) {
      const first = errs[0];
      const c = ok(optText(get(first, 'code'), f('card_details.errors.0.code'), MAX_CODE_BYTES, e));
      failureCode = c === undefined ? undefined : lower(c);
      failureMessage = ok(optText(get(first, 'detail'), f('card_details.errors.0.detail'), MAX_TEXT_BYTES, e));
    }
  }
  const metadata = textMetadata(obj, f, ['location_id', 'order_id', 'reference_id'], e);
  return { customer, pm, brand, last4, status, failureCode, failureMessage, metadata };
}

function squareRefundParts(obj: JsonObject, f: (s: string) => string, e: Errs): SquareParts {
  const raw = rawStatus(obj, 'status', f, e);
  return {
    customer: undefined,
    pm: 'refund',
    brand: undefined,
    last4: undefined,
    status: (raw === undefined ? undefined : orToken(mapLookup(SQUARE_REFUND_STATUS, raw), raw)) ?? 'unknown',
    failureCode: undefined,
    failureMessage: undefined,
    metadata: textMetadata(obj, f, ['location_id', 'payment_id', 'reason'], e),
  };
}

function squareDisputeParts(obj: JsonObject, f: (s: string) => string, e: Errs): SquareParts {
  const raw = rawStatus(obj, 'state', f, e);
  const b = ok(optText(get(obj, 'card_brand'), f('card_brand'), MAX_CODE_BYTES, e));
  const brand = b === undefined ? undefined : cardBrand(b);
  const disputed = ok(optObject(get(obj, 'disputed_payment'), f('disputed_payment'), e));
  const paymentId =
    disputed === undefined
      ? undefined
      : ok(optText(get(disputed, 'payment_id'), f('disputed_payment.payment_id'), MAX_TEXT_BYTES, e));
  const location = ok(optText(get(obj, 'location_id'), f('location_id'), MAX_TEXT_BYTES, e));
  const reason = ok(optText(get(obj, 'reason'), f('reason'), MAX_TEXT_BYTES, e));
  return {
    customer: undefined,
    pm: undefined,
    brand,
    last4: undefined,
    status: tokenStatus(raw),
    failureCode: undefined,
    failureMessage: undefined,
    metadata: [metaStr('location_id', location), metaStr('payment_id', paymentId), metaStr('reason', reason)],
  };
}

function squareInvoiceParts(obj: JsonObject, f: (s: string) => string, e: Errs): SquareParts {
  const raw = rawStatus(obj, 'status', f, e);
  const recipient = ok(optObject(get(obj, 'primary_recipient'), f('primary_recipient'), e));
  const customer =
    recipient === undefined
      ? undefined
      : ok(optId(get(recipient, 'customer_id'), f('primary_recipient.customer_id'), e));
  return {
    customer,
    pm: undefined,
    brand: undefined,
    last4: undefined,
    status: tokenStatus(raw),
    failureCode: undefined,
    failureMessage: undefined,
    metadata: textMetadata(obj, f, ['invoice_number', 'location_id', 'order_id'], e),
  };
}

function squarePayoutParts(obj: JsonObject, f: (s: string) => string, e: Errs): SquareParts {
  const raw = rawStatus(obj, 'status', f, e);
  return {
    customer: undefined,
    pm: undefined,
    brand: undefined,
    last4: undefined,
    status: tokenStatus(raw),
    failureCode: undefined,
    failureMessage: undefined,
    metadata: textMetadata(obj, f, ['arrival_date', 'location_id'], e),
  };
}

function squareCreated(obj: JsonObject, root: JsonObject, f: (s: string) => string, e: Errs): number | undefined {
  const oc = rfc3339Field(get(obj, 'created_at'), f('created_at'), e);
  if (oc === BAD) return undefined;
  if (oc !== undefined) return oc;
  const rc = rfc3339Field(get(root, 'created_at'), 'created_at', e);
  if (rc === BAD) return undefined;
  if (rc === undefined) missingTimestamp(f('created_at'), e);
  return rc;
}

/** The object's id (disputes of older versions name it `dispute_id`). */
function squareObjectId(kind: SquareKind, obj: JsonObject, f: (s: string) => string, e: Errs): string | undefined {
  const idv = get(obj, 'id');
  const v = kind === 'dispute' && (idv === undefined || idv === null) ? get(obj, 'dispute_id') : idv;
  return reqId(v, f('id'), C.MISSING_OBJECT_ID, e);
}

/** The event's money: an invoice's amount for this event, else the object's `amount_money`; checked against the currency's maximum. */
function squareAmount(
  kind: SquareKind,
  obj: JsonObject,
  t: string,
  bounds: AmountBounds,
  f: (s: string) => string,
  e: Errs,
): Money {
  const [amount, cur] =
    kind === 'invoice'
      ? squareInvoiceAmount(obj, t, f, e)
      : squareMoney(get(obj, 'amount_money'), f('amount_money'), e);
  if (amount !== undefined && cur !== undefined) {
    checkMax(amount, cur[0], bounds, kind === 'invoice' ? f('payment_requests') : f('amount_money.amount'), e);
  }
  return [amount, cur];
}

const PARTS: Readonly<Record<SquareKind, (obj: JsonObject, f: (s: string) => string, e: Errs) => SquareParts>> = {
  payment: squarePaymentParts,
  refund: squareRefundParts,
  dispute: squareDisputeParts,
  invoice: squareInvoiceParts,
  payout: squarePayoutParts,
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
  const found = squareObject(data, dtype, e);
  if (found === undefined) return reject(id, e);
  const { kind, obj } = found;
  const f = (s: string) => `data.object.${kind}.${s}`;
  const objectId = squareObjectId(kind, obj, f, e);
  const [amount, cur] = squareAmount(kind, obj, etype ?? '', bounds, f, e);
  const merchant = ok(optId(get(root, 'merchant_id'), 'merchant_id', e));
  const parts = PARTS[kind](obj, f, e);
  const created = squareCreated(obj, root, f, e);
  if (!e.empty) return reject(id, e);
  const t = etype as string;
  const sv = get(obj, kind === 'dispute' ? 'state' : 'status');
  const eventType = squareEventType(t, typeof sv === 'string' ? sv : undefined);
  return accept({
    provider: 'square',
    providerEventId: id as string,
    objectId,
    eventType,
    providerEventType: t,
    merchantId: merchant,
    customerId: parts.customer,
    amountMinor: amount as number,
    currency: (cur as Currency)[0],
    paymentMethodType: parts.pm,
    cardBrand: parts.brand,
    cardLastFour: parts.last4,
    status: failedByType(eventType) ? 'failed' : parts.status,
    failureCode: parts.failureCode,
    failureMessage: parts.failureMessage,
    metadata: parts.metadata,
    providerCreatedAtMs: created as number,
  });
}
