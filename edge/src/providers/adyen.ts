/**
 * Adyen standard notifications (CONTRACT section 4): JSON `{live, notificationItems:[{NotificationRequestItem}]}`;
 * every item carries `additionalData.hmacSignature` = base64 HMAC-SHA256 (key = hex key decoded to bytes) over
 * `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`.
 * A value of 0 is signed as `0` (the original signed an empty string). One bad item rejects the whole request.
 * The whole raw body goes to webhooks.adyen.notification as one message, keyed by the first item's payment reference.
 */

import { timingSafeEqual } from 'node:crypto';
import { DLQ_REASONS, RAW_TOPICS } from '@pep/contracts';
import { hmacDigest } from './hmac.ts';
import { badRequest, firstId, isId, isObject, parseJson, unauthorized, type Verdict } from './verdict.ts';

const BASE64_SHA256 = /^[A-Za-z0-9+/]{43}=$/;

export interface AdyenOptions {
  readonly hmacKeys: readonly Buffer[];
  readonly maxItems: number;
}

/** A signed field as Adyen stringifies it: missing/null → "", booleans and numbers as their JSON text. */
function field(v: unknown): string | null {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null; // objects and arrays cannot be signed: the item is malformed
}

/** The colon-joined signing string of one NotificationRequestItem, or null when a signed field is not a scalar. */
export function adyenSigningString(item: Record<string, unknown>): string | null {
  const amount = isObject(item.amount) ? item.amount : {};
  const parts = [
    field(item.pspReference),
    field(item.originalReference),
    field(item.merchantAccountCode),
    field(item.merchantReference),
    field(amount.value),
    field(amount.currency),
    field(item.eventCode),
    field(item.success),
  ];
  if (parts.some((p) => p === null)) return null;
  return parts.join(':');
}

export function adyenSignature(hmacKey: Buffer, signingString: string): Buffer {
  return hmacDigest('sha256', hmacKey, signingString);
}

export function checkAdyen(body: Uint8Array, opts: AdyenOptions): Verdict {
  const parsed = parseJson(body);
  if ('ok' in parsed) return parsed;
  const doc = parsed.value;
  if (!isObject(doc) || !Array.isArray(doc.notificationItems)) {
    return badRequest(DLQ_REASONS.missingField, 'Adyen notification needs a notificationItems array');
  }
  const wrappers = doc.notificationItems;
  if (wrappers.length === 0) return badRequest(DLQ_REASONS.missingField, 'Adyen notificationItems is empty');
  if (wrappers.length > opts.maxItems) {
    return badRequest(DLQ_REASONS.invalidField, `Adyen notificationItems holds more than ${opts.maxItems} items`);
  }
  const items: Record<string, unknown>[] = [];
  for (const [i, w] of wrappers.entries()) {
    if (!isObject(w) || !isObject(w.NotificationRequestItem)) {
      return badRequest(DLQ_REASONS.missingField, `notificationItems[${i}] needs a NotificationRequestItem object`);
    }
    items.push(w.NotificationRequestItem);
  }
  const first = items[0] as Record<string, unknown>;
  const eventIdOf = (it: Record<string, unknown>) =>
    isId(it.pspReference) && isId(it.eventCode) ? `${it.pspReference}_${it.eventCode}` : null;

  // Signatures before structure: an unsigned item is a security event even when it is also malformed.
  for (const [i, item] of items.entries()) {
    const additional = isObject(item.additionalData) ? item.additionalData : {};
    const sig = additional.hmacSignature;
    if (typeof sig !== 'string' || sig === '') {
      return unauthorized(
        DLQ_REASONS.missingSignature,
        `notificationItems[${i}] has no additionalData.hmacSignature`,
        eventIdOf(item),
      );
    }
    if (!BASE64_SHA256.test(sig)) {
      return unauthorized(
        DLQ_REASONS.malformedSignature,
        `notificationItems[${i}] hmacSignature is not a base64 SHA-256 digest`,
        eventIdOf(item),
      );
    }
    const signing = adyenSigningString(item);
    if (signing === null) {
      return badRequest(
        DLQ_REASONS.invalidField,
        `notificationItems[${i}] has a non-scalar signed field`,
        eventIdOf(item),
      );
    }
    const given = Buffer.from(sig, 'base64');
    if (!opts.hmacKeys.some((k) => timingSafeEqual(adyenSignature(k, signing), given))) {
      return unauthorized(
        DLQ_REASONS.invalidSignature,
        `notificationItems[${i}] hmacSignature does not match`,
        eventIdOf(item),
      );
    }
  }
  for (const [i, item] of items.entries()) {
    if (!isId(item.pspReference))
      return badRequest(DLQ_REASONS.missingField, `notificationItems[${i}] needs a pspReference`);
    if (!isId(item.eventCode)) {
      return badRequest(
        DLQ_REASONS.missingField,
        `notificationItems[${i}] needs an eventCode`,
        String(item.pspReference),
      );
    }
  }
  const eventId = eventIdOf(first) as string;
  // Modifications (CAPTURE, REFUND, …) carry the payment's psp in originalReference: key by the payment.
  const key = firstId(first.originalReference, first.pspReference) as string;
  return { ok: true, topic: RAW_TOPICS['adyen.notification'], key, eventId, eventType: first.eventCode as string };
}
