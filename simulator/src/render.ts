/**
 * Renders business events into the HTTP requests the four providers send: payload shapes of
 * original-system section 1 and 7, signatures of CONTRACT section 4 (implemented here independently of the edge,
 * so the simulator also cross-checks the edge's verification), and the injected faults: invalid payloads
 * (bad JSON, null tokens, unknown currencies, bad amounts, missing fields) and bad, expired or missing signatures.
 * Each delivery carries the HTTP status the edge must answer.
 */

import { createHash, createHmac } from 'node:crypto';
import { currencyExponent, LOCAL_SQUARE_NOTIFICATION_URL, LOCAL_WEBHOOK_SECRETS, type Provider } from '@pep/contracts';
import type { BusinessEvent, FailureCode, Payment } from './model.ts';
import type { Rng } from './random.ts';

export interface Secrets {
  readonly stripe: string;
  readonly square: string;
  readonly squareNotificationUrl: string;
  readonly adyenHex: string;
  readonly braintreePublic: string;
  readonly braintreePrivate: string;
}

/**
 * The secrets to sign with: the first of each configured (comma-separated, rotating) secret, else the local defaults
 * the edge also uses (contracts), so that simulated traffic verifies against an edge with the same environment.
 */
export function signingSecrets(env: Readonly<Record<string, string | undefined>> = {}): Secrets {
  const first = (name: keyof typeof LOCAL_WEBHOOK_SECRETS) =>
    env[name]?.split(',')[0]?.trim() || LOCAL_WEBHOOK_SECRETS[name];
  return {
    stripe: first('STRIPE_WEBHOOK_SECRET'),
    square: first('SQUARE_WEBHOOK_SIGNATURE_KEY'),
    squareNotificationUrl: env.SQUARE_NOTIFICATION_URL?.trim() || LOCAL_SQUARE_NOTIFICATION_URL,
    adyenHex: first('ADYEN_HMAC_KEY'),
    braintreePublic: first('BRAINTREE_PUBLIC_KEY'),
    braintreePrivate: first('BRAINTREE_PRIVATE_KEY'),
  };
}

export type InvalidKind = 'bad_json' | 'null_token' | 'unknown_currency' | 'bad_amount' | 'missing_field';
export type SignatureFault = 'bad_signature' | 'expired_signature' | 'missing_signature';
export const INVALID_KINDS: readonly InvalidKind[] = [
  'bad_json',
  'null_token',
  'unknown_currency',
  'bad_amount',
  'missing_field',
];
export const SIGNATURE_FAULTS: readonly SignatureFault[] = ['bad_signature', 'expired_signature', 'missing_signature'];

export interface Delivery {
  readonly provider: Provider;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Provider event id (Stripe evt_, Square event_id, Adyen psp_code, Braintree kind_id). */
  readonly eventId: string;
  /** The payment/refund/dispute object id. */
  readonly objectId: string;
  readonly expectedStatus: number;
  /** `valid`, `invalid:<kind>` or `signature:<fault>`. */
  readonly label: string;
}

export const NULL_TOKENS = ['', 'null', 'NULL', 'Null', 'none', 'None', 'NONE'] as const;

/** Deterministic provider-style id: prefix + hex of a hash of the run seed and the event sequence. */
export function idFor(prefix: string, seed: number, seq: number, kind: string, chars = 24): string {
  return prefix + createHash('sha1').update(`${seed}:${seq}:${kind}`).digest('hex').slice(0, chars);
}

const STRIPE_DECLINES: Record<FailureCode, { code: string; decline_code?: string; message: string }> = {
  card_declined: { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' },
  insufficient_funds: {
    code: 'card_declined',
    decline_code: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
  },
  expired_card: { code: 'expired_card', message: 'Your card has expired.' },
  incorrect_cvc: { code: 'incorrect_cvc', message: "Your card's security code is incorrect." },
  processing_error: {
    code: 'processing_error',
    message: 'An error occurred while processing your card. Try again in a little bit.',
  },
  lost_card: { code: 'card_declined', decline_code: 'lost_card', message: 'Your card was declined.' },
  stolen_card: { code: 'card_declined', decline_code: 'stolen_card', message: 'Your card was declined.' },
  fraudulent: { code: 'card_declined', decline_code: 'fraudulent', message: 'Your card was declined.' },
};
const SQUARE_ERRORS: Record<FailureCode, string> = {
  card_declined: 'GENERIC_DECLINE',
  insufficient_funds: 'INSUFFICIENT_FUNDS',
  expired_card: 'CARD_EXPIRED',
  incorrect_cvc: 'CVV_FAILURE',
  processing_error: 'TEMPORARY_ERROR',
  lost_card: 'CARD_DECLINED_CALL_ISSUER',
  stolen_card: 'CARD_DECLINED_CALL_ISSUER',
  fraudulent: 'CARD_DECLINED_VERIFICATION_REQUIRED',
};
const ADYEN_REASONS: Record<FailureCode, string> = {
  card_declined: 'Refused',
  insufficient_funds: 'Not enough balance',
  expired_card: 'Expired Card',
  incorrect_cvc: 'CVC Declined',
  processing_error: 'Acquirer Error',
  lost_card: 'Blocked Card',
  stolen_card: 'Blocked Card',
  fraudulent: 'FRAUD',
};
const BRAINTREE_CODES: Record<FailureCode, [string, string]> = {
  card_declined: ['2000', 'Do Not Honor'],
  insufficient_funds: ['2001', 'Insufficient Funds'],
  expired_card: ['2004', 'Expired Card'],
  incorrect_cvc: ['2010', 'Card Issuer Declined CVV'],
  processing_error: ['3000', 'Processor Network Unavailable - Try Again'],
  lost_card: ['2012', 'Processor Declined - Possible Lost Card'],
  stolen_card: ['2013', 'Processor Declined - Possible Stolen Card'],
  fraudulent: ['2014', 'Processor Declined - Fraud Suspected'],
};
const ADYEN_METHOD: Record<string, string> = { visa: 'visa', mastercard: 'mc', amex: 'amex', discover: 'discover' };
const ADYEN_BIN: Record<string, string> = { visa: '411111', mastercard: '510000', amex: '340000', discover: '601100' };
const BRAINTREE_CARD: Record<string, string> = {
  visa: 'Visa',
  mastercard: 'MasterCard',
  amex: 'American Express',
  discover: 'Discover',
};

const unix = (d: Date) => Math.floor(d.getTime() / 1000);
/** Decimal major-unit string of a minor amount (Braintree), exact for any exponent. */
export function decimalAmount(minor: number, currency: string): string {
  const exp = currencyExponent(currency) ?? 2;
  if (exp === 0) return String(minor);
  const s = String(minor).padStart(exp + 1, '0');
  return `${s.slice(0, -exp)}.${s.slice(-exp)}`;
}

type Json = Record<string, unknown>;

interface Rendered {
  payload: Json;
  eventId: string;
  objectId: string;
  /** Dotted paths used by the fault injectors. */
  amountPath: string;
  currencyPath: string;
  customerPath: string;
  /** A field the edge needs to key the event: removing it must give 400. */
  requiredPath: string;
  /** A field only the transformer needs: removing it still gives 200 at the edge. */
  optionalPath: string;
}

// ---------- Stripe ----------

function renderStripe(ev: BusinessEvent, seed: number): Rendered {
  const p = ev.kind === 'payment' ? ev : ev.payment;
  const pi = idFor('pi_', seed, p.seq, 'pi');
  const ch = idFor('ch_', seed, p.seq, 'ch');
  const customer = `cus_${p.customer.base}`;
  const evtId = idFor('evt_', seed, ev.seq, `evt-${ev.kind}`);
  let type: string;
  let object: Json;
  if (ev.kind === 'payment') {
    const failed = ev.outcome === 'failed';
    const asCharge = (ev.seq & 3) === 0; // about a quarter of payments arrive as charge.* events
    const decline = ev.failureCode ? STRIPE_DECLINES[ev.failureCode] : null;
    const card = {
      brand: p.customer.brand,
      last4: p.customer.last4,
      exp_month: p.customer.expMonth,
      exp_year: p.customer.expYear,
      funding: 'credit',
      country: 'US',
    };
    if (asCharge) {
      type = failed ? 'charge.failed' : 'charge.succeeded';
      object = {
        id: ch,
        object: 'charge',
        amount: ev.amountMinor,
        amount_captured: failed ? 0 : ev.amountMinor,
        amount_refunded: 0,
        currency: ev.currency.toLowerCase(),
        customer,
        payment_intent: pi,
        payment_method: idFor('pm_', seed, p.seq, 'pm'),
        payment_method_details:
          ev.method === 'wallet'
            ? { type: 'card', card: { ...card, wallet: { type: 'apple_pay' } } }
            : { type: 'card', card },
        status: failed ? 'failed' : 'succeeded',
        paid: !failed,
        captured: !failed,
        refunded: false,
        disputed: false,
        failure_code: decline?.code ?? null,
        failure_message: decline?.message ?? null,
        outcome: failed
          ? { type: 'issuer_declined', reason: decline?.decline_code ?? decline?.code }
          : { type: 'authorized', risk_level: 'normal' },
        metadata: { merchant_id: p.merchant.base, order_id: `ord_${ev.seq}` },
        created: unix(ev.at),
      };
    } else {
      type = failed ? 'payment_intent.payment_failed' : 'payment_intent.succeeded';
      object = {
        id: pi,
        object: 'payment_intent',
        amount: ev.amountMinor,
        amount_capturable: 0,
        amount_received: failed ? 0 : ev.amountMinor,
        currency: ev.currency.toLowerCase(),
        customer,
        payment_method: idFor('pm_', seed, p.seq, 'pm'),
        payment_method_types: ['card'],
        latest_charge: ch,
        status: failed ? 'requires_payment_method' : 'succeeded',
        last_payment_error: failed ? { type: 'card_error', ...decline, charge: ch, payment_method: { card } } : null,
        metadata: { merchant_id: p.merchant.base, order_id: `ord_${ev.seq}` },
        created: unix(ev.at),
      };
    }
  } else if (ev.kind === 'refund') {
    type = 'refund.created';
    object = {
      id: idFor('re_', seed, ev.seq, 're'),
      object: 'refund',
      amount: ev.amountMinor,
      currency: p.currency.toLowerCase(),
      charge: ch,
      payment_intent: pi,
      reason: 'requested_by_customer',
      status: 'succeeded',
      metadata: { merchant_id: p.merchant.base },
      created: unix(ev.at),
    };
  } else {
    type = 'charge.dispute.created';
    object = {
      id: idFor('dp_', seed, ev.seq, 'dp'),
      object: 'dispute',
      amount: p.amountMinor,
      currency: p.currency.toLowerCase(),
      charge: ch,
      payment_intent: pi,
      reason: ev.reason,
      status: 'needs_response',
      metadata: { merchant_id: p.merchant.base },
      created: unix(ev.at),
    };
  }
  const payload = {
    id: evtId,
    object: 'event',
    api_version: '2024-09-30.acacia',
    created: unix(ev.at),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: idFor('req_', seed, ev.seq, 'req', 14), idempotency_key: null },
    type,
  };
  return {
    payload,
    eventId: evtId,
    objectId: object.id as string,
    amountPath: 'data.object.amount',
    currencyPath: 'data.object.currency',
    customerPath: ev.kind === 'payment' ? 'data.object.customer' : 'data.object.metadata.merchant_id',
    requiredPath: 'id',
    optionalPath: 'data.object.amount',
  };
}

// ---------- Square ----------

function renderSquare(ev: BusinessEvent, seed: number): Rendered {
  const p = ev.kind === 'payment' ? ev : ev.payment;
  const paymentId = idFor('', seed, p.seq, 'sqpay', 26).toUpperCase();
  const eventId = idFor('', seed, ev.seq, 'sqevt', 32).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
  const iso = ev.at.toISOString();
  let type: string;
  let data: Json;
  let paths: Pick<Rendered, 'amountPath' | 'currencyPath' | 'customerPath'>;
  if (ev.kind === 'payment' || ev.kind === 'dispute') {
    // Square has no dispute topic on our side: a dispute shows up as the payment update Square also sends.
    const failed = ev.kind === 'payment' && ev.outcome === 'failed';
    type = ev.kind === 'payment' && (ev.seq & 1) === 0 ? 'payment.created' : 'payment.updated';
    const card = p.method === 'card';
    const payment: Json = {
      id: paymentId,
      created_at: p.at.toISOString(),
      updated_at: iso,
      amount_money: { amount: p.amountMinor, currency: p.currency },
      total_money: { amount: p.amountMinor, currency: p.currency },
      status: failed ? 'FAILED' : 'COMPLETED',
      source_type: card ? 'CARD' : 'WALLET',
      card_details: card
        ? {
            status: failed ? 'FAILED' : 'CAPTURED',
            card: {
              card_brand: p.customer.brand.toUpperCase().replace('AMEX', 'AMERICAN_EXPRESS'),
              last_4: p.customer.last4,
              exp_month: p.customer.expMonth,
              exp_year: p.customer.expYear,
            },
            entry_method: 'KEYED',
            errors:
              failed && p.failureCode
                ? [
                    {
                      code: SQUARE_ERRORS[p.failureCode],
                      detail: 'Authorization error',
                      category: 'PAYMENT_METHOD_ERROR',
                    },
                  ]
                : undefined,
          }
        : undefined,
      wallet_details: card ? undefined : { status: failed ? 'FAILED' : 'CAPTURED', brand: 'APPLE_PAY' },
      customer_id: `CUS${p.customer.base.toUpperCase()}`,
      location_id: `L${p.merchant.base}`,
      order_id: idFor('', seed, p.seq, 'sqord', 24).toUpperCase(),
      reference_id: `ref-${p.seq}`,
      version: ev.kind === 'dispute' ? 3 : 1,
    };
    data = { type: 'payment', id: paymentId, object: { payment } };
    paths = {
      amountPath: 'data.object.payment.amount_money.amount',
      currencyPath: 'data.object.payment.amount_money.currency',
      customerPath: 'data.object.payment.customer_id',
    };
  } else {
    type = 'refund.created';
    const refundId = `${paymentId}_${idFor('', seed, ev.seq, 'sqref', 20).toUpperCase()}`;
    data = {
      type: 'refund',
      id: refundId,
      object: {
        refund: {
          id: refundId,
          status: 'PENDING',
          amount_money: { amount: ev.amountMinor, currency: p.currency },
          payment_id: paymentId,
          location_id: `L${p.merchant.base}`,
          reason: 'Requested by customer',
          created_at: iso,
          updated_at: iso,
        },
      },
    };
    paths = {
      amountPath: 'data.object.refund.amount_money.amount',
      currencyPath: 'data.object.refund.amount_money.currency',
      customerPath: 'data.object.refund.reason',
    };
  }
  const payload = { merchant_id: `M${p.merchant.base}`, type, event_id: eventId, created_at: iso, data };
  return {
    payload,
    eventId,
    objectId: data.id as string,
    ...paths,
    requiredPath: 'event_id',
    optionalPath: paths.amountPath,
  };
}

// ---------- Adyen ----------

function renderAdyen(ev: BusinessEvent, seed: number): Rendered {
  const p = ev.kind === 'payment' ? ev : ev.payment;
  const paymentPsp = String(BigInt(`0x${idFor('', seed, p.seq, 'psp', 15)}`) % 10n ** 16n).padStart(16, '8');
  const ownPsp =
    ev.kind === 'payment'
      ? paymentPsp
      : String(BigInt(`0x${idFor('', seed, ev.seq, 'psp2', 15)}`) % 10n ** 16n).padStart(16, '9');
  const eventCode = ev.kind === 'payment' ? 'AUTHORISATION' : ev.kind === 'refund' ? 'REFUND' : 'CHARGEBACK';
  const success = ev.kind === 'payment' ? ev.outcome === 'succeeded' : true;
  const amountMinor = ev.kind === 'refund' ? ev.amountMinor : p.amountMinor;
  const item: Json = {
    pspReference: ownPsp,
    originalReference: ev.kind === 'payment' ? undefined : paymentPsp,
    merchantAccountCode: `${p.merchant.name.replace(/\W/g, '')}ECOM`,
    merchantReference: `order_${p.seq}`,
    amount: { value: amountMinor, currency: p.currency },
    eventCode,
    eventDate: ev.at.toISOString().replace(/\.\d{3}Z$/, '+00:00'),
    success: String(success),
    paymentMethod: p.method === 'wallet' ? 'applepay' : ADYEN_METHOD[p.customer.brand],
    reason:
      ev.kind === 'payment' && !success && ev.failureCode
        ? ADYEN_REASONS[ev.failureCode]
        : ev.kind === 'dispute'
          ? ev.reason
          : '',
    operations: ev.kind === 'payment' && success ? ['CANCEL', 'CAPTURE', 'REFUND'] : undefined,
    additionalData: {
      cardBin: ADYEN_BIN[p.customer.brand],
      cardSummary: p.customer.last4,
      expiryDate: `${p.customer.expMonth}/${p.customer.expYear}`,
      shopperReference: `shopper_${p.customer.base}`,
      ...(ev.kind === 'dispute' ? { chargebackReasonCode: ev.reason === 'fraudulent' ? '10.4' : '13.1' } : {}),
    },
  };
  const base = 'notificationItems.0.NotificationRequestItem';
  return {
    payload: { live: 'false', notificationItems: [{ NotificationRequestItem: item }] },
    eventId: `${ownPsp}_${eventCode}`,
    objectId: ownPsp,
    amountPath: `${base}.amount.value`,
    currencyPath: `${base}.amount.currency`,
    customerPath: `${base}.additionalData.shopperReference`,
    requiredPath: `${base}.pspReference`,
    optionalPath: `${base}.amount.value`,
  };
}

// ---------- Braintree ----------

function renderBraintree(ev: BusinessEvent, seed: number): Rendered {
  const p = ev.kind === 'payment' ? ev : ev.payment;
  const txnId = idFor('', seed, p.seq, 'bttxn', 8);
  const card = {
    'card-type': BRAINTREE_CARD[p.customer.brand],
    'last-4': p.customer.last4,
    bin: ADYEN_BIN[p.customer.brand],
    'expiration-month': String(p.customer.expMonth).padStart(2, '0'),
    'expiration-year': String(p.customer.expYear),
  };
  const transaction = (
    id: string,
    type: 'sale' | 'credit',
    amountMinor: number,
    status: string,
    extra: Json = {},
  ): Json => ({
    id,
    status,
    type,
    'currency-iso-code': p.currency,
    amount: decimalAmount(amountMinor, p.currency),
    'merchant-account-id': p.merchant.base.toLowerCase(),
    'created-at': ev.at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    customer: { id: p.customer.base },
    'payment-instrument-type': p.method === 'wallet' ? 'apple_pay_card' : 'credit_card',
    ...(p.method === 'wallet'
      ? {
          'apple-pay-details': {
            'card-type': `Apple Pay - ${BRAINTREE_CARD[p.customer.brand]}`,
            'last-4': p.customer.last4,
          },
        }
      : { 'credit-card': card }),
    ...extra,
  });
  let kind: string;
  let subject: Json;
  let objectId: string;
  let sub: string;
  if (ev.kind === 'payment') {
    const failed = ev.outcome === 'failed';
    kind = failed ? 'transaction_settlement_declined' : 'transaction_settled';
    const code = failed && ev.failureCode ? BRAINTREE_CODES[ev.failureCode] : ['1000', 'Approved'];
    subject = {
      transaction: transaction(txnId, 'sale', ev.amountMinor, failed ? 'settlement_declined' : 'settled', {
        'processor-response-code': code[0],
        'processor-response-text': code[1],
      }),
    };
    objectId = txnId;
    sub = 'notification.subject.transaction';
  } else if (ev.kind === 'refund') {
    kind = 'transaction_settled';
    objectId = idFor('', seed, ev.seq, 'btref', 8);
    subject = {
      transaction: transaction(objectId, 'credit', ev.amountMinor, 'settled', { 'refunded-transaction-id': txnId }),
    };
    sub = 'notification.subject.transaction';
  } else {
    kind = 'dispute_opened';
    objectId = idFor('', seed, ev.seq, 'btdsp', 12);
    subject = {
      dispute: {
        id: objectId,
        amount: decimalAmount(p.amountMinor, p.currency),
        'currency-iso-code': p.currency,
        kind: 'chargeback',
        status: 'open',
        reason:
          ev.reason === 'fraudulent'
            ? 'fraud'
            : ev.reason === 'product_not_received'
              ? 'product_not_received'
              : ev.reason,
        'received-date': ev.at.toISOString().slice(0, 10),
        transaction: { id: txnId, amount: decimalAmount(p.amountMinor, p.currency) },
      },
    };
    sub = 'notification.subject.dispute';
  }
  const payload = { notification: { timestamp: ev.at.toISOString().replace(/\.\d{3}Z$/, 'Z'), kind, subject } };
  return {
    payload,
    eventId: `${kind}_${objectId}`,
    objectId,
    amountPath: `${sub}.amount`,
    currencyPath: `${sub}.currency-iso-code`,
    customerPath: ev.kind === 'dispute' ? `${sub}.reason` : `${sub}.customer.id`,
    requiredPath: 'notification.kind',
    optionalPath: `${sub}.amount`,
  };
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const DATETIME_FIELDS = new Set(['timestamp', 'created-at']);

/** Serializes the notification object as Braintree-style XML (hyphenated elements, typed datetimes). */
export function toXml(name: string, value: unknown, indent = ''): string {
  if (value === undefined) return '';
  if (value === null) return `${indent}<${name} nil="true"/>\n`;
  if (typeof value === 'object') {
    const inner = Object.entries(value as Json)
      .map(([k, v]) => toXml(k, v, `${indent}  `))
      .join('');
    return `${indent}<${name}>\n${inner}${indent}</${name}>\n`;
  }
  const attr = DATETIME_FIELDS.has(name) ? ' type="datetime"' : '';
  return `${indent}<${name}${attr}>${xmlEscape(String(value))}</${name}>\n`;
}

// ---------- faults and signing ----------

function getParent(obj: Json, path: string): [Record<string, unknown>, string] | null {
  const parts = path.split('.');
  let cur: unknown = obj;
  for (const part of parts.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return null;
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === null || typeof cur !== 'object') return null;
  return [cur as Record<string, unknown>, parts[parts.length - 1] as string];
}

function setPath(obj: Json, path: string, value: unknown): void {
  const pp = getParent(obj, path);
  if (pp) pp[0][pp[1]] = value;
}

function deletePath(obj: Json, path: string): void {
  const pp = getParent(obj, path);
  if (pp) delete pp[0][pp[1]];
}

/** Applies an invalid-payload fault; returns the status the edge must answer (400 when the edge cannot route). */
function injectInvalid(r: Rendered, kind: InvalidKind, rng: Rng): number {
  switch (kind) {
    case 'null_token':
      setPath(r.payload, r.customerPath, rng.pick(NULL_TOKENS));
      return 200;
    case 'unknown_currency':
      setPath(r.payload, r.currencyPath, rng.pick(['XYZ', 'ABC', 'US', 'EURO', 'usdd', '']));
      return 200;
    case 'bad_amount':
      setPath(r.payload, r.amountPath, rng.pick([-500, '12.50abc', 10.5, 1e15, 'NaN', null, true]));
      return 200;
    case 'missing_field':
      if (rng.chance(0.5)) {
        deletePath(r.payload, r.requiredPath);
        return 400;
      }
      deletePath(r.payload, r.optionalPath);
      return 200;
    case 'bad_json':
      return 400;
  }
}

export interface RenderRequest {
  readonly event: BusinessEvent;
  readonly seed: number;
  readonly secrets: Secrets;
  readonly rng: Rng;
  readonly invalid: InvalidKind | null;
  readonly signatureFault: SignatureFault | null;
  readonly nowSeconds: number;
}

export function renderDelivery(req: RenderRequest): Delivery {
  const { event, seed, secrets, rng, invalid, signatureFault, nowSeconds } = req;
  const provider = event.provider;
  const r =
    provider === 'stripe'
      ? renderStripe(event, seed)
      : provider === 'square'
        ? renderSquare(event, seed)
        : provider === 'adyen'
          ? renderAdyen(event, seed)
          : renderBraintree(event, seed);
  let expectedStatus = invalid ? injectInvalid(r, invalid, rng) : 200;
  const label = signatureFault ? `signature:${signatureFault}` : invalid ? `invalid:${invalid}` : 'valid';
  const headers: Record<string, string> = {};
  let body: string;
  const truncate = (s: string) => s.slice(0, Math.max(1, Math.floor(s.length * (0.3 + 0.5 * rng.next()))));

  if (provider === 'stripe') {
    body = JSON.stringify(r.payload);
    if (invalid === 'bad_json') body = truncate(body);
    const t = signatureFault === 'expired_signature' ? nowSeconds - 3600 - rng.int(0, 86_400) : nowSeconds;
    const secret = signatureFault === 'bad_signature' ? `${secrets.stripe}_forged` : secrets.stripe;
    headers['content-type'] = 'application/json; charset=utf-8';
    if (signatureFault !== 'missing_signature') {
      headers['stripe-signature'] = `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
    }
  } else if (provider === 'square') {
    body = JSON.stringify(r.payload);
    if (invalid === 'bad_json') body = truncate(body);
    // Square signatures carry no timestamp: an "expired" Square delivery is a replay signed for another URL.
    const url =
      signatureFault === 'expired_signature' ? `${secrets.squareNotificationUrl}/old` : secrets.squareNotificationUrl;
    const key = signatureFault === 'bad_signature' ? `${secrets.square}x` : secrets.square;
    headers['content-type'] = 'application/json';
    if (signatureFault !== 'missing_signature') {
      headers['x-square-hmacsha256-signature'] = createHmac('sha256', key)
        .update(url + body)
        .digest('base64');
    }
  } else if (provider === 'adyen') {
    const item = (r.payload.notificationItems as Json[])[0]?.NotificationRequestItem as Json;
    const amount = (item.amount ?? {}) as Json;
    const s = (v: unknown) => (v === undefined || v === null ? '' : String(v));
    const signing = [
      item.pspReference,
      item.originalReference,
      item.merchantAccountCode,
      item.merchantReference,
      amount.value,
      amount.currency,
      item.eventCode,
      item.success,
    ]
      .map(s)
      .join(':');
    const key = Buffer.from(secrets.adyenHex, 'hex');
    if (signatureFault === 'bad_signature' || signatureFault === 'expired_signature')
      key[0] = (key[0] as number) ^ 0xff;
    const additional = (item.additionalData ?? {}) as Json;
    if (signatureFault !== 'missing_signature')
      additional.hmacSignature = createHmac('sha256', key).update(signing).digest('base64');
    item.additionalData = additional;
    body = JSON.stringify(r.payload);
    if (invalid === 'bad_json') body = truncate(body);
    headers['content-type'] = 'application/json';
  } else {
    const notification = r.payload.notification as Json;
    const xml = toXml('notification', notification).trimEnd();
    let payload = Buffer.from(xml).toString('base64').replace(/.{60}/g, '$&\n');
    if (!payload.endsWith('\n')) payload += '\n';
    const hmacKey = createHash('sha1')
      .update(signatureFault === 'bad_signature' ? `${secrets.braintreePrivate}x` : secrets.braintreePrivate)
      .digest();
    const sig = createHmac('sha1', hmacKey).update(payload).digest('hex');
    const pub = signatureFault === 'expired_signature' ? 'rotated_out_public_key' : secrets.braintreePublic;
    const form = new URLSearchParams();
    if (signatureFault !== 'missing_signature') form.set('bt_signature', `${pub}|${sig}`);
    if (invalid === 'bad_json') {
      // Braintree posts a form, not JSON: the malformed counterpart is a form without its payload.
      form.set('bt_payload_truncated', payload.slice(0, 20));
    } else {
      form.set('bt_payload', payload);
    }
    body = form.toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  if (signatureFault) expectedStatus = 401;
  if (provider === 'braintree' && invalid === 'bad_json' && !signatureFault) expectedStatus = 400;
  return {
    provider,
    path: `/webhooks/${provider}`,
    headers,
    body,
    eventId: r.eventId,
    objectId: r.objectId,
    expectedStatus,
    label,
  };
}

/** A provider redelivery of the same event: identical body; Stripe re-signs with a fresh timestamp. */
export function redeliver(d: Delivery, secrets: Secrets, nowSeconds: number): Delivery {
  if (d.provider !== 'stripe' || !d.headers['stripe-signature'] || d.label !== 'valid')
    return { ...d, label: `duplicate:${d.label}` };
  const sig = createHmac('sha256', secrets.stripe).update(`${nowSeconds}.${d.body}`).digest('hex');
  return {
    ...d,
    headers: { ...d.headers, 'stripe-signature': `t=${nowSeconds},v1=${sig}` },
    label: `duplicate:${d.label}`,
  };
}

export type { Payment };
