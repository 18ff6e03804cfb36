/**
 * Adyen standard notifications: the twin of `crates/core/src/providers/adyen.rs` (same units, same order).
 */
import type { AmountBounds } from '../currency.ts';
import { get, isObject, type Json, type JsonObject } from '../json.ts';
import {
  BAD,
  C,
  type Currency,
  Errs,
  lastFour,
  lower,
  MAX_CODE_BYTES,
  MAX_TEXT_BYTES,
  ok,
  optId,
  optText,
  orToken,
  reqId,
  reqType,
  validType,
} from '../rules.ts';
import { ADYEN_TYPES, failedByType, OTHER } from '../vocabulary.ts';
import {
  accept,
  boundedMoney,
  type Meta,
  mapLookup,
  metaStr,
  missingTimestamp,
  type Outcome,
  optObject,
  reject,
  rfc3339Field,
} from './common.ts';
export function adyenEventType(c: string, success: boolean, modificationAction: string | undefined): string {
  if (c === 'CANCEL_OR_REFUND' && success && modificationAction === 'refund') return 'refund.succeeded';
  const row = ADYEN_TYPES.find(([k]) => k === c);
  if (row === undefined) return OTHER;
  return success ? row[1] : row[2];
}

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

function adyenOperations(ops: Json | undefined, e: Errs): Meta {
  if (ops === undefined || ops === null) return null;
  if (Array.isArray(ops)) {
    const list: string[] = [];
    for (const op of ops) {
      if (typeof op === 'string' && validType(op)) list.push(op);
      else {
        e.push('operations', C.INVALID_FIELD_VALUE, 'operations must be names like CAPTURE');
        break;
      }
    }
    return list;
  }
  e.push('operations', C.INVALID_FIELD_TYPE, 'must be an array');
  return null;
}

/** The event id of an item: `<pspReference>_<eventCode>` (one payment has an item per event code). */
function adyenEventId(psp: string | undefined, ecode: string | undefined): string | undefined {
  if (psp === undefined) return undefined;
  return ecode !== undefined ? `${psp}_${ecode}` : psp;
}

/** What an item says besides its ids and money, read in the order its errors are reported. */
interface AdyenFields {
  success: boolean | undefined;
  live: boolean | undefined;
  reason: string | undefined;
  /** `paymentMethod`, lowercased. */
  method: string | undefined;
  additional: JsonObject | undefined;
  last4: string | undefined;
  customer: string | undefined;
  originalRef: string | undefined;
  merchantRef: string | undefined;
  operations: Meta;
}

/** Reads an item's flags, reason, payment method, `additionalData`, references and operations. */
function adyenFields(item: JsonObject, live: Json | undefined, e: Errs): AdyenFields {
  const success = adyenBool(get(item, 'success'), 'success', true, e);
  const liveFlag = adyenBool(live !== undefined ? live : get(item, 'live'), 'live', false, e);
  const reason = ok(optText(get(item, 'reason'), 'reason', MAX_TEXT_BYTES, e));
  const m = ok(optText(get(item, 'paymentMethod'), 'paymentMethod', MAX_CODE_BYTES, e));
  const additional = ok(optObject(get(item, 'additionalData'), 'additionalData', e));
  // cardBin is deliberately ignored: a BIN is not a brand (reference gap G14).
  const last4 =
    additional === undefined
      ? undefined
      : ok(lastFour(get(additional, 'cardSummary'), 'additionalData.cardSummary', e));
  const customer =
    additional === undefined
      ? undefined
      : ok(optId(get(additional, 'shopperReference'), 'additionalData.shopperReference', e));
  return {
    success,
    live: liveFlag,
    reason,
    method: m === undefined ? undefined : lower(m),
    additional,
    last4,
    customer,
    originalRef: ok(optText(get(item, 'originalReference'), 'originalReference', MAX_TEXT_BYTES, e)),
    merchantRef: ok(optText(get(item, 'merchantReference'), 'merchantReference', MAX_TEXT_BYTES, e)),
    operations: adyenOperations(get(item, 'operations'), e),
  };
}

/** When the event happened: `eventDate` (RFC 3339), required. */
function adyenCreated(item: JsonObject, e: Errs): number | undefined {
  const ed = rfc3339Field(get(item, 'eventDate'), 'eventDate', e);
  if (ed === undefined) missingTimestamp('eventDate', e);
  return ed === BAD ? undefined : ed;
}

/** The item's status: `failed` when it did not succeed or its type is a failed payment, else a word of its code. */
function adyenItemStatus(c: string, success: boolean, eventType: string): string {
  return !success || failedByType(eventType) ? 'failed' : (orToken(mapLookup(ADYEN_STATUS, c), c) as string);
}

/** Failure code and message of an unsuccessful item with a reason. */
function adyenFailure(success: boolean, reason: string | undefined): [string | undefined, string | undefined] {
  return !success && reason !== undefined ? [adyenFailureCode(reason), reason] : [undefined, undefined];
}

/** Payment method type and card brand of a (lowercased) `paymentMethod`. */
function adyenPaymentMethod(method: string | undefined): [string | undefined, string | undefined] {
  if (method === undefined) return [undefined, undefined];
  return [orToken(mapLookup(ADYEN_METHOD, method), method), mapLookup(ADYEN_BRAND, method)];
}

/** The item's metadata, sorted by key. */
function adyenMetadata(f: AdyenFields): [string, Meta][] {
  return [
    ['live', f.live as boolean],
    metaStr('merchant_reference', f.merchantRef),
    ['operations', f.operations],
    metaStr('original_reference', f.originalRef),
  ];
}

export function adyenItem(item: Json, live: Json | undefined, bounds: AmountBounds): Outcome {
  const e = new Errs();
  if (!isObject(item)) {
    e.push('NotificationRequestItem', C.INVALID_PAYLOAD, 'notification item must be an object');
    return reject(undefined, e);
  }
  const psp = reqId(get(item, 'pspReference'), 'pspReference', C.MISSING_PSP_REFERENCE, e);
  const ecode = reqType(get(item, 'eventCode'), 'eventCode', C.MISSING_EVENT_CODE, e);
  const rid = adyenEventId(psp, ecode);
  const merchant = reqId(get(item, 'merchantAccountCode'), 'merchantAccountCode', C.MISSING_MERCHANT_ACCOUNT, e);
  const money = ok(optObject(get(item, 'amount'), 'amount', e));
  const [amount, cur] = boundedMoney(
    money === undefined ? undefined : get(money, 'value'),
    'amount.value',
    money === undefined ? undefined : get(money, 'currency'),
    'amount.currency',
    bounds,
    e,
  );
  const f = adyenFields(item, live, e);
  const created = adyenCreated(item, e);
  if (!e.empty) return reject(rid, e);
  const c = ecode as string;
  const success = f.success as boolean;
  const av = f.additional === undefined ? undefined : get(f.additional, 'modification.action');
  const eventType = adyenEventType(c, success, typeof av === 'string' ? av : undefined);
  const [failureCode, failureMessage] = adyenFailure(success, f.reason);
  const [pm, brand] = adyenPaymentMethod(f.method);
  return accept({
    provider: 'adyen',
    providerEventId: rid as string,
    objectId: psp,
    eventType,
    providerEventType: c,
    merchantId: merchant,
    customerId: f.customer,
    amountMinor: amount as number,
    currency: (cur as Currency)[0],
    paymentMethodType: pm,
    cardBrand: brand,
    cardLastFour: f.last4,
    status: adyenItemStatus(c, success, eventType),
    failureCode,
    failureMessage,
    metadata: adyenMetadata(f),
    providerCreatedAtMs: created as number,
  });
}
