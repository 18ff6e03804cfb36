/**
 * Stripe webhooks (CONTRACT section 4): `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]`, HMAC-SHA256 keyed by the whole
 * secret string over `"<t>." + raw body`, timestamp tolerance, any v1 under any configured secret may match.
 * Then the structural checks needed to route (contracts routeEvent: type prefix → raw topic, else webhooks.stripe.other)
 * and key (payment intent, else object, else event id).
 */

import { timingSafeEqual } from 'node:crypto';
import { DLQ_REASONS } from '@pep/contracts';
import { hmacDigest } from './hmac.ts';
import {
  accepted,
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

export interface StripeSignatureHeader {
  readonly timestamp: number;
  /** The `t` value exactly as sent: it is part of the signed string. */
  readonly timestampText: string;
  /** The v1 signatures that can match: 64 lowercase hex characters each (at most MAX_V1_SIGNATURES). */
  readonly v1: readonly string[];
}

/** The characters String.prototype.trim removes (WhiteSpace and LineTerminator), so items trim exactly as `trim()`. */
function isTrimSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 0xa0) return false;
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

// The v1 candidates of the header being checked are validated and decoded in one pass into one reused buffer (the
// check is synchronous): no string or Buffer per candidate on the request path. Slot i is bytes [32 i, 32 i + 32).
const candidateBytes = Buffer.alloc(32 * MAX_V1_SIGNATURES);
const candidateViews = Array.from({ length: MAX_V1_SIGNATURES }, (_, i) =>
  candidateBytes.subarray(32 * i, 32 * i + 32),
);

/** Value of one lowercase hex digit, or -1 for any other character. */
function lowerHexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * Decodes header[from, from + 64) into candidate slot `slot` when it is 64 lowercase hex digits; false (slot left
 * partly written, never used) when any character is not one.
 */
function decodeHex64Into(header: string, from: number, slot: number): boolean {
  const at = 32 * slot;
  for (let i = 0; i < 32; i++) {
    const hi = lowerHexValue(header.charCodeAt(from + 2 * i));
    const lo = lowerHexValue(header.charCodeAt(from + 2 * i + 1));
    if ((hi | lo) < 0) return false;
    candidateBytes[at + i] = (hi << 4) | lo;
  }
  return true;
}

/** True when text is 1 to 12 ASCII digits (a Unix time in seconds, as Stripe sends it). */
function isUnixTimeText(text: string): boolean {
  if (text.length === 0 || text.length > 12) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** The header's timestamp and how many v1 candidates were decoded into candidateBytes. */
interface ScannedHeader {
  readonly timestamp: number;
  readonly timestampText: string;
  readonly candidates: number;
}

/**
 * Parses the header; unknown schemes (v0, …) are ignored, whitespace around items, keys and values is tolerated.
 * One scan with indexOf over the header (it is on every request's path): the same items, trimming and outcomes as
 * `split(',')` + `trim()` per item, without the intermediate strings; each usable v1 is checked and decoded into
 * candidateBytes in the same pass (valid until the next call).
 */
function scanStripeSignatureHeader(header: string): ScannedHeader | Rejected {
  let timestampText: string | null = null;
  let candidates = 0;
  const length = header.length;
  let next = 0;
  while (next <= length) {
    let comma = header.indexOf(',', next);
    if (comma < 0) comma = length;
    let from = next;
    let to = comma;
    next = comma + 1;
    while (from < to && isTrimSpace(header.charCodeAt(from))) from++;
    while (to > from && isTrimSpace(header.charCodeAt(to - 1))) to--;
    if (from === to) continue;
    const eq = header.indexOf('=', from);
    if (eq < 0 || eq >= to || eq === from)
      return unauthorized(DLQ_REASONS.malformedSignature, 'Stripe-Signature item without key=value');
    let keyEnd = eq;
    while (isTrimSpace(header.charCodeAt(keyEnd - 1))) keyEnd--; // stops at `from`, which is not a space
    let valueFrom = eq + 1;
    while (valueFrom < to && isTrimSpace(header.charCodeAt(valueFrom))) valueFrom++;
    const keyLength = keyEnd - from;
    if (keyLength === 1 && header.charCodeAt(from) === 116 /* t */) {
      if (timestampText !== null)
        return unauthorized(DLQ_REASONS.malformedSignature, 'Stripe-Signature has more than one t');
      timestampText = header.slice(valueFrom, to);
    } else if (
      keyLength === 2 &&
      header.charCodeAt(from) === 118 /* v */ &&
      header.charCodeAt(from + 1) === 49 /* 1 */
    ) {
      // A v1 that is not 64 lowercase hex chars can never match; skipping it keeps the compare constant-length.
      if (to - valueFrom === 64 && candidates < MAX_V1_SIGNATURES && decodeHex64Into(header, valueFrom, candidates))
        candidates++;
    }
  }
  if (timestampText === null)
    return unauthorized(DLQ_REASONS.malformedSignature, 'Stripe-Signature has no timestamp t');
  if (!isUnixTimeText(timestampText))
    return unauthorized(DLQ_REASONS.malformedSignature, 'Stripe-Signature timestamp t is not a Unix time');
  if (candidates === 0) return unauthorized(DLQ_REASONS.malformedSignature, 'Stripe-Signature has no v1 signature');
  return { timestamp: Number(timestampText), timestampText, candidates };
}

/** Parses the header (see scanStripeSignatureHeader), with the usable v1 signatures as hex strings. */
export function parseStripeSignatureHeader(header: string): StripeSignatureHeader | Rejected {
  const scanned = scanStripeSignatureHeader(header);
  if ('ok' in scanned) return scanned;
  const v1: string[] = [];
  for (let i = 0; i < scanned.candidates; i++) v1.push((candidateViews[i] as Buffer).toString('hex'));
  return { timestamp: scanned.timestamp, timestampText: scanned.timestampText, v1 };
}

/** True when the header is empty or only whitespace (as `trim() === ''`, without building the trimmed string). */
function isBlank(header: string): boolean {
  for (let i = 0; i < header.length; i++) if (!isTrimSpace(header.charCodeAt(i))) return false;
  return true;
}

/** HMAC-SHA256 digest Stripe puts (hex) in v1. */
export function stripeSignature(secret: Buffer | string, timestampText: string, body: Uint8Array): Buffer {
  return hmacDigest('sha256', secret, `${timestampText}.`, body);
}

export interface StripeOptions {
  readonly secrets: readonly Buffer[];
  readonly toleranceSeconds: number;
}

/** Returns null when the signature holds, else the 401 verdict. The comparison is timingSafeEqual on 32 bytes. */
export function verifyStripeSignature(
  header: string | null,
  body: Uint8Array,
  opts: StripeOptions,
  nowSeconds: number,
): Rejected | null {
  if (header === null || isBlank(header))
    return unauthorized(DLQ_REASONS.missingSignature, 'missing Stripe-Signature header');
  const parsed = scanStripeSignatureHeader(header);
  if ('ok' in parsed) return parsed;
  if (Math.abs(nowSeconds - parsed.timestamp) > opts.toleranceSeconds) {
    return unauthorized(DLQ_REASONS.signatureExpired, 'Stripe-Signature timestamp outside the tolerance');
  }
  for (const secret of opts.secrets) {
    const expected = stripeSignature(secret, parsed.timestampText, body);
    for (let i = 0; i < parsed.candidates; i++) {
      if (timingSafeEqual(expected, candidateViews[i] as Buffer)) return null;
    }
  }
  return unauthorized(DLQ_REASONS.invalidSignature, 'no v1 signature matches the payload');
}

/** Full check of one Stripe request: signature first (nothing untrusted is parsed before), then structure. */
export function checkStripe(headers: HeaderLookup, body: Uint8Array, opts: StripeOptions, nowSeconds: number): Verdict {
  const sig = verifyStripeSignature(headers.get(STRIPE_SIGNATURE_HEADER), body, opts, nowSeconds);
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
  return accepted('stripe', [event.type], key, eventId, event.type);
}
