/**
 * Square webhooks (CONTRACT section 4): `x-square-hmacsha256-signature` = base64 HMAC-SHA256 keyed by the
 * signature key over `notification URL + raw body`; no timestamp. Then routing by the type prefix (contracts
 * routeEvent: payment, refund and terminal refund, dispute, invoice, payout; else webhooks.square.other) and keying by
 * the payment id.
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

export const SQUARE_SIGNATURE_HEADER = 'x-square-hmacsha256-signature';
const BASE64_SHA256 = /^[A-Za-z0-9+/]{43}=$/;

export interface SquareOptions {
  readonly keys: readonly Buffer[];
  readonly notificationUrl: string;
}

export function squareSignature(key: Buffer | string, notificationUrl: string, body: Uint8Array): Buffer {
  return hmacDigest('sha256', key, notificationUrl, body);
}

export function verifySquareSignature(header: string | null, body: Uint8Array, opts: SquareOptions): Rejected | null {
  if (header === null || header.trim() === '') {
    return unauthorized(DLQ_REASONS.missingSignature, 'missing x-square-hmacsha256-signature header');
  }
  const value = header.trim();
  if (!BASE64_SHA256.test(value)) {
    return unauthorized(DLQ_REASONS.malformedSignature, 'x-square-hmacsha256-signature is not a base64 SHA-256 digest');
  }
  const given = Buffer.from(value, 'base64');
  for (const key of opts.keys) {
    if (timingSafeEqual(squareSignature(key, opts.notificationUrl, body), given)) return null;
  }
  return unauthorized(DLQ_REASONS.invalidSignature, 'signature does not match the payload and notification URL');
}

export function checkSquare(headers: HeaderLookup, body: Uint8Array, opts: SquareOptions): Verdict {
  const sig = verifySquareSignature(headers.get(SQUARE_SIGNATURE_HEADER), body, opts);
  if (sig) return sig;
  const parsed = parseJson(body);
  if ('ok' in parsed) return parsed;
  const event = parsed.value;
  if (!isObject(event)) return badRequest(DLQ_REASONS.invalidField, 'Square event must be a JSON object');
  if (!isId(event.event_id)) return badRequest(DLQ_REASONS.missingField, 'Square event needs a string event_id');
  const eventId = event.event_id;
  if (typeof event.type !== 'string' || event.type === '') {
    return badRequest(DLQ_REASONS.missingField, 'Square event needs a string type', eventId);
  }
  const data = event.data;
  if (!isObject(data)) return badRequest(DLQ_REASONS.missingField, 'Square event needs a data object', eventId);
  const object = isObject(data.object) ? data.object : {};
  const payment = isObject(object.payment) ? object.payment : {};
  const refund = isObject(object.refund) ? object.refund : {};
  const dispute = isObject(object.dispute) ? object.dispute : {};
  const disputed = isObject(dispute.disputed_payment) ? dispute.disputed_payment : {};
  // Key by the payment where the event names one (a refund's, a dispute's), so a payment's events share a partition.
  const key = (firstId(payment.id, refund.payment_id, disputed.payment_id, refund.id, data.id) ?? eventId) as string;
  return accepted('square', [event.type], key, eventId, event.type);
}
