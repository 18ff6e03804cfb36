/**
 * Braintree notifications: the twin of `crates/core/src/providers/braintree.rs` (same units, same order).
 */
import type { AmountBounds } from '../currency.ts';
import {
  BAD,
  byteLen,
  C,
  type Currency,
  cardBrand,
  checkMax,
  currency,
  decimalAmount,
  type Errs,
  MAX_CODE_BYTES,
  MAX_TEXT_BYTES,
  NULL_TOKENS,
  ok,
  orToken,
  type Read,
  token,
  validId,
  validType,
} from '../rules.ts';
import { iso, parseRfc3339 } from '../time.ts';
import { BRAINTREE_TYPES, CREDIT_TYPES, failedByType, lookup, OTHER } from '../vocabulary.ts';
import { attr, child, childRawText, childText, type Element } from '../xml.ts';
import { accept, type Meta, mapLookup, metaStr, missingTimestamp, type Outcome, reject } from './common.ts';
export function braintreeEventType(kind: string, txnType: string | undefined): string {
  const t = lookup(BRAINTREE_TYPES, kind) ?? OTHER;
  if (txnType === 'credit') {
    const r = lookup(CREDIT_TYPES, t);
    if (r !== undefined) return r;
  }
  return t;
}

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
  subjectAmount?: string;
  subjectCurrency?: string;
  reviewTxnId?: string;
  reviewDecision?: string;
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
    } else if (s.name === 'transaction-review') {
      n.reviewTxnId = childText(s, 'transaction-id');
      n.reviewDecision = childText(s, 'decision');
    } else if (s.name === 'disbursement') {
      n.subjectId = childText(s, 'id');
      n.subjectAmount = childText(s, 'amount');
      const ma = child(s, 'merchant-account');
      n.subjectCurrency = ma === undefined ? undefined : childRawText(ma, 'currency-iso-code');
    } else if (s.name.startsWith('local-payment')) {
      n.subjectId = childText(s, 'payment-id');
      const t = child(s, 'transaction');
      if (t !== undefined) n.txn = btTxnFromXml(t);
    } else n.subjectId = childText(s, 'id');
  }
  void attr;
  return n;
}

function btText(v: string | undefined, field: string, max: number, e: Errs): string | undefined {
  if (v === undefined || NULL_TOKENS.has(v)) return undefined;
  if (byteLen(v) > max) {
    e.push(field, C.FIELD_TOO_LONG, `must be at most ${max} bytes`);
    return undefined;
  }
  return v;
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

function btAmount(
  n: BtNote,
  t: BtTxn,
  hasTxn: boolean,
  bounds: AmountBounds,
  e: Errs,
): [number | undefined, Currency | undefined] {
  const tAmount = btText(t.amount, 'transaction.amount', 64, e);
  const dAmount = btText(n.disputeAmount, 'dispute.amount', 64, e);
  const sAmount = btText(n.subjectAmount, 'subject.amount', 64, e);
  const [amountS, af] =
    tAmount !== undefined
      ? [tAmount, 'transaction.amount']
      : dAmount !== undefined
        ? [dAmount, 'dispute.amount']
        : sAmount !== undefined
          ? [sAmount, 'subject.amount']
          : [undefined, 'transaction.amount'];
  // No default currency for money (issue 13): a currency Braintree sends is exactly its 3 uppercase letters, and an
  // amount without one is refused; only a notification with no amount at all gets USD (amount 0, no money stated).
  const tCur = btCurrency(t.currency, 'transaction.currency_iso_code', e);
  const dCur = btCurrency(n.disputeCurrency, 'dispute.currency_iso_code', e);
  const sCur = btCurrency(n.subjectCurrency, 'subject.currency_iso_code', e);
  let cur: Currency | undefined;
  if (tCur === BAD_CUR || dCur === BAD_CUR || sCur === BAD_CUR) cur = undefined;
  else if (tCur !== undefined) cur = currency(tCur, 'transaction.currency_iso_code', e);
  else if (dCur !== undefined) cur = currency(dCur, 'dispute.currency_iso_code', e);
  else if (sCur !== undefined) cur = currency(sCur, 'subject.currency_iso_code', e);
  else if (amountS !== undefined || hasTxn) {
    e.push(
      'transaction.currency_iso_code',
      C.INVALID_CURRENCY,
      'currency is required with an amount (no default currency is assumed)',
    );
  } else cur = currency('USD', 'transaction.currency_iso_code', e);
  let amount: number | undefined;
  if (amountS !== undefined) amount = cur !== undefined ? decimalAmount(amountS, cur[1], af, e) : undefined;
  else if (hasTxn) e.push(af, C.INVALID_AMOUNT, 'amount is required');
  else amount = 0;
  if (amount !== undefined && cur !== undefined) checkMax(amount, cur[0], bounds, af, e);
  return [amount, cur];
}

function braintreeStatus(k: string, txnStatus: string | undefined, eventType: string): string {
  if (failedByType(eventType)) return 'failed';
  const ks = mapLookup(BT_KIND_STATUS, k);
  if (ks !== undefined) return ks;
  if (txnStatus !== undefined) return orToken(mapLookup(BT_TXN_STATUS, txnStatus), txnStatus) ?? 'unknown';
  return token(k) ?? 'unknown';
}

/** The notification's kind: required, and a valid type. */
function braintreeKind(n: BtNote, e: Errs): string | undefined {
  const k = btText(n.kind, 'kind', MAX_TEXT_BYTES, e);
  if (k === undefined) e.push('kind', C.MISSING_KIND, 'is required');
  else if (validType(k)) return k;
  else e.push('kind', C.INVALID_FIELD_VALUE, 'must be 1 to 128 characters of [A-Za-z0-9_.]');
  return undefined;
}

/** The ids a notification can carry. */
interface BtIds {
  /** The transaction's, else the reviewed transaction's. */
  txn: string | undefined;
  dispute: string | undefined;
  subscription: string | undefined;
  /** Any other subject's (a disbursement, an account updater report, a local payment). */
  subject: string | undefined;
}

/** Reads the ids; a `transaction_*` notification needs a transaction id. */
function btIds(n: BtNote, t: BtTxn, kind: string | undefined, e: Errs): BtIds {
  const txnId = btId(t.id, 'transaction.id', e);
  const reviewId = ok(btId(n.reviewTxnId, 'transaction_review.transaction_id', e));
  if (kind?.startsWith('transaction_') && txnId === undefined && reviewId === undefined) {
    e.push('transaction.id', C.MISSING_TRANSACTION_ID, 'is required for transaction notifications');
  }
  return {
    txn: ok(txnId) ?? reviewId,
    dispute: ok(btId(n.disputeId, 'dispute.id', e)),
    subscription: ok(btId(n.subscriptionId, 'subscription.id', e)),
    subject: ok(btId(n.subjectId, 'subject.id', e)),
  };
}

/** When the notification was sent: `timestamp` (RFC 3339), required. */
function btCreated(n: BtNote, e: Errs): number | undefined {
  const ts = btText(n.timestamp, 'timestamp', 64, e);
  if (ts === undefined) {
    missingTimestamp('timestamp', e);
    return undefined;
  }
  const ms = parseRfc3339(ts);
  if (ms === undefined) e.push('timestamp', C.INVALID_TIMESTAMP, 'must be an RFC 3339 timestamp with a time zone');
  return ms;
}

/** The card's last four digits: exactly 4 digits when present. */
function btLastFour(t: BtTxn, e: Errs): string | undefined {
  const last4 = btText(t.last4, 'transaction.card_details.last_4', MAX_TEXT_BYTES, e);
  if (last4 === undefined || /^[0-9]{4}$/.test(last4)) return last4;
  e.push('transaction.card_details.last_4', C.INVALID_CARD_LAST_FOUR, 'must be exactly 4 digits');
  return undefined;
}

/** The transaction's and the subject's other fields. */
interface BtFields {
  merchant: string | undefined;
  customer: string | undefined;
  txnStatus: string | undefined;
  txnType: string | undefined;
  instrument: string | undefined;
  cardType: string | undefined;
  last4: string | undefined;
  subStatus: string | undefined;
  planId: string | undefined;
  disputeStatus: string | undefined;
  disputeReason: string | undefined;
  reviewDecision: string | undefined;
}

/** Reads the other fields, in the order their errors are reported. */
function btFields(n: BtNote, t: BtTxn, e: Errs): BtFields {
  return {
    merchant: ok(btId(t.merchantAccountId, 'transaction.merchant_account_id', e)),
    customer: ok(btId(t.customerId, 'transaction.customer_id', e)),
    txnStatus: btText(t.status, 'transaction.status', MAX_CODE_BYTES, e),
    txnType: btText(t.kind, 'transaction.type', MAX_CODE_BYTES, e),
    instrument: btText(t.instrument, 'transaction.payment_instrument_type', MAX_CODE_BYTES, e),
    cardType: btText(t.cardType, 'transaction.card_details.card_type', MAX_CODE_BYTES, e),
    last4: btLastFour(t, e),
    subStatus: btText(n.subscriptionStatus, 'subscription.status', MAX_CODE_BYTES, e),
    planId: btText(n.planId, 'subscription.plan_id', MAX_TEXT_BYTES, e),
    disputeStatus: btText(n.disputeStatus, 'dispute.status', MAX_CODE_BYTES, e),
    disputeReason: btText(n.disputeReason, 'dispute.reason', MAX_TEXT_BYTES, e),
    reviewDecision: btText(n.reviewDecision, 'transaction_review.decision', MAX_TEXT_BYTES, e),
  };
}

/** The event id: `<kind>_<subject id>`, else `<kind>_<timestamp>` for a notification without one. */
function braintreeEventId(kind: string | undefined, ids: BtIds, created: number | undefined): string | undefined {
  if (kind === undefined) return undefined;
  const subject = ids.txn ?? ids.dispute ?? ids.subscription ?? ids.subject;
  if (subject !== undefined) return `${kind}_${subject}`;
  return created !== undefined ? `${kind}_${iso(created)}` : undefined;
}

/** Failure code and message of a failed event: the transaction's status. */
function braintreeFailure(status: string, txnStatus: string | undefined): [string | undefined, string | undefined] {
  if (status !== 'failed') return [undefined, undefined];
  const c = txnStatus ?? 'unknown';
  return [c, `Transaction ${c}`];
}

/**
 * A dispute is its own object; a subscription charge belongs to the subscription (the retry strategy counts a
 * subscription's failed charges); else the transaction.
 */
function btObjectId(k: string, ids: BtIds): string | undefined {
  const own = k.startsWith('dispute')
    ? (ids.dispute ?? ids.txn)
    : k.startsWith('subscription')
      ? (ids.subscription ?? ids.txn)
      : (ids.txn ?? ids.dispute);
  return own ?? ids.subscription ?? ids.subject;
}

/** The notification's metadata, sorted by key. */
function braintreeMetadata(k: string, ids: BtIds, f: BtFields): [string, Meta][] {
  return [
    metaStr('dispute_id', ids.dispute),
    metaStr('dispute_reason', f.disputeReason),
    metaStr('dispute_status', f.disputeStatus),
    // The disputed payment's transaction id (the dispute's own id is the object id).
    metaStr('dispute_transaction_id', k.startsWith('dispute') ? ids.txn : undefined),
    metaStr('kind', k),
    metaStr('plan_id', f.planId),
    metaStr('review_decision', f.reviewDecision),
    metaStr('subscription_id', ids.subscription),
    metaStr('subscription_status', f.subStatus),
    metaStr('transaction_type', f.txnType),
  ];
}

export function braintree(n: BtNote, bounds: AmountBounds, e: Errs): Outcome {
  const kind = braintreeKind(n, e);
  const txn = n.txn;
  const t: BtTxn = txn ?? {};
  const ids = btIds(n, t, kind, e);
  const created = btCreated(n, e);
  const [amount, cur] = btAmount(n, t, txn !== undefined, bounds, e);
  const f = btFields(n, t, e);
  const rid = braintreeEventId(kind, ids, created);
  if (!e.empty) return reject(rid, e);
  const k = kind as string;
  const eventType = braintreeEventType(k, f.txnType);
  const status = braintreeStatus(k, f.txnStatus, eventType);
  const [failureCode, failureMessage] = braintreeFailure(status, f.txnStatus);
  return accept({
    provider: 'braintree',
    providerEventId: rid as string,
    objectId: btObjectId(k, ids),
    eventType,
    providerEventType: k,
    merchantId: f.merchant,
    customerId: f.customer,
    amountMinor: amount as number,
    currency: (cur as Currency)[0],
    paymentMethodType:
      f.instrument === undefined ? undefined : orToken(mapLookup(BT_INSTRUMENT, f.instrument), f.instrument),
    cardBrand: f.cardType === undefined ? undefined : cardBrand(f.cardType),
    cardLastFour: f.last4,
    status,
    failureCode,
    failureMessage,
    metadata: braintreeMetadata(k, ids, f),
    providerCreatedAtMs: created as number,
  });
}
