/**
 * Stripe webhooks (CONTRACT section 4): `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]`, HMAC-SHA256 keyed by the whole
 * secret string over `"<t>." + raw body`, timestamp tolerance, any v1 under any configured secret may match.
 * Then the structural checks needed to route (type prefix → topic) and key (payment intent, else object, else event id).
 */

import { timingSafeEqual } from 'node:crypto';
import { DLQ_REASONS, RAW_TOPICS, type RawTopic } from '@pep/contracts';
import { hmacDigest } from './hmac.ts';
import {
  badRequest,
  firstId,
  type HeaderLookup,
  isId,
  isObject,
  parseJson,
  type Rejected,
  unauthorized,
  type Verdict,
} from './verdict.ts';

export const STRIPE_SIGNATURE_HEADER = 'stripe-signature';
const MAX_V1_SIGNATURES = 16;
const HEX64 = /^[0-9a-f]{64}$/;

export interface StripeSignatureHeader {
  readonly timestamp: number;
  /** The `t` value exactly as sent: it is part of the signed string. */
  readonly timestampText: string;
  readonly v1: readonly Buffer[];
}

/** Parses the header; unknown schemes (v0, …) are ignored, whitespace around items is tolerated. */
export function parseStripeSignatureHeader(header: string): StripeSignatureHeader | Rejected {
  let timestampText: string | null = null;
  const v1: Buffer[] = [];
  for (const rawItem of header.split(',')) {
    const item = rawItem.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) return unauthorized(DLQ_REASONS.malformedSignature, 'Stripe-Signature item without key=value');
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 't') {
      if (timestampText !== null)
        return unauthorized(DLQ_REASONS.malformedSignature, 'Stripe-Signature has more than one t');
      timestampText = value;
    } else if (key === 'v1') {
      // A v1 that is not 64 lowercase hex chars can never match; skipping it keeps the compare constant-length.
      if (HEX64.test(value) && v1.length < MAX_V1_SIGNATURES) v1.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestampText === null)
    return unauthorized(DLQ_REASONS.malformedSignature, 'Stripe-Signature has no timestamp t');
  if (!/^\d{1,12}$/.test(timestampText))
    return unauthorized(DLQ_REASONS.malformedSignature, 'Stripe-Signature timestamp t is not a Unix time');
  if (v1.length === 0) return unauthorized(DLQ_REASONS.malformedSignature, 'Stripe-Signature has no v1 signature');
  return { timestamp: Number(timestampText), timestampText, v1 };
}

/** HMAC-SHA256 digest Stripe puts (hex) in v1. */
export function stripeSignature(secret: Buffer | string, timestampText: string, body: Uint8Array): Buffer {
  return hmacDigest('sha256', secret, `${timestampText}.`, body);
}

export interface StripeOptions {
  readonly secrets: readonly Buffer[];
  readonly toleranceSeconds: number;
}

/** Returns null when the signature holds, else the 401 verdict. */
export function verifyStripeSignature(
  header: string | null,
  body: Uint8Array,
  opts: StripeOptions,
  nowSeconds: number,
): Rejected | null {
  if (header === null || header.trim() === '')
    return unauthorized(DLQ_REASONS.missingSignature, 'missing Stripe-Signature header');
  const parsed = parseStripeSignatureHeader(header);
  if ('ok' in parsed) return parsed;
  if (Math.abs(nowSeconds - parsed.timestamp) > opts.toleranceSeconds) {
    return unauthorized(DLQ_REASONS.signatureExpired, 'Stripe-Signature timestamp outside the tolerance');
  }
  for (const secret of opts.secrets) {
    const expected = stripeSignature(secret, parsed.timestampText, body);
    for (const candidate of parsed.v1) {
      if (timingSafeEqual(expected, candidate)) return null;
    }
  }
  return unauthorized(DLQ_REASONS.invalidSignature, 'no v1 signature matches the payload');
}

const CATEGORY_TOPICS: readonly [prefix: string, topic: RawTopic][] = [
  ['payment_intent.', RAW_TOPICS['stripe.payment_intent']],
  ['charge.', RAW_TOPICS['stripe.charge']],
  ['refund.', RAW_TOPICS['stripe.refund']],
];

export function stripeTopic(type: string): RawTopic | null {
  for (const [prefix, topic] of CATEGORY_TOPICS) if (type.startsWith(prefix)) return topic;
  return null;
}

/** Full check of one Stripe request: signature first (nothing untrusted is parsed before), then structure. */
export function checkStripe(headers: HeaderLookup, body: Uint8Array, opts: StripeOptions, nowSeconds: number): Verdict {
  const sig = verifyStripeSignature(headers(STRIPE_SIGNATURE_HEADER), body, opts, nowSeconds);
  if (sig) return sig;
  const parsed = parseJson(body);
  if ('ok' in parsed) return parsed;
  const event = parsed.value;
  if (!isObject(event)) return badRequest(DLQ_REASONS.invalidField, 'Stripe event must be a JSON object');
  if (!isId(event.id)) return badRequest(DLQ_REASONS.missingField, 'Stripe event needs a string id');
  const eventId = event.id;
  if (typeof event.type !== 'string' || event.type === '') {
    return badRequest(DLQ_REASONS.missingField, 'Stripe event needs a string type', eventId);
  }
  const data = event.data;
  if (!isObject(data) || !isObject(data.object)) {
    return badRequest(DLQ_REASONS.missingField, 'Stripe event needs data.object', eventId);
  }
  const obj = data.object;
  // Key by the payment intent where there is one so that all of a payment's events share a partition.
  const key = firstId(obj.payment_intent, obj.charge, obj.id, eventId) as string;
  return { ok: true, topic: stripeTopic(event.type), key, eventId, eventType: event.type };
}
