/**
 * Adyen webhooks (CONTRACT section 4), in both of Adyen's formats, each with its own signature scheme:
 * - standard notifications, JSON `{live, notificationItems:[{NotificationRequestItem}]}`: every item carries
 *   `additionalData.hmacSignature` = base64 HMAC-SHA256 (key = hex key decoded to bytes) over
 *   `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`. A value of
 *   0 is signed as `0` (the original signed an empty string). One bad item rejects the whole request. The raw body goes
 *   to webhooks.adyen.notification as one message keyed by the first item's payment reference, or to
 *   webhooks.adyen.other when none of its codes is in the vocabulary (contracts routeEvent);
 * - whole-body notifications, JSON `{type, data, …}` (e.g. `ach.notificationOfChange`): the `HmacSignature` header =
 *   base64 HMAC-SHA256 (same key) over the raw body bytes, checked before the body is parsed (as the official library's
 *   `validateHMACSignature`). They carry no payment: kept in webhooks.adyen.other, keyed by `<psp or id>_<type>`.
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

/** The header of Adyen's whole-body notifications (HTTP header names are case-insensitive). */
export const ADYEN_SIGNATURE_HEADER = 'hmacsignature';

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

/** Base64 HMAC-SHA256 of the raw body: the `HmacSignature` header of whole-body notifications. */
export function adyenBodySignature(hmacKey: Buffer, body: Uint8Array): Buffer {
  return hmacDigest('sha256', hmacKey, body);
}

/** Null when the `HmacSignature` header matches the raw body under one of the keys, else the 401 verdict. */
export function verifyAdyenBodySignature(
  header: string,
  body: Uint8Array,
  hmacKeys: readonly Buffer[],
): Rejected | null {
  const sig = header.trim();
  if (sig === '') return unauthorized(DLQ_REASONS.missingSignature, 'empty HmacSignature header');
  if (!BASE64_SHA256.test(sig)) {
    return unauthorized(DLQ_REASONS.malformedSignature, 'HmacSignature is not a base64 SHA-256 digest');
  }
  const given = Buffer.from(sig, 'base64');
  if (hmacKeys.some((k) => timingSafeEqual(adyenBodySignature(k, body), given))) return null;
  return unauthorized(DLQ_REASONS.invalidSignature, 'HmacSignature does not match the body');
}

const WHOLE_BODY_TYPE = /^[A-Za-z0-9_.]{1,128}$/;

/** A whole-body notification whose header signature already matched: structure and routing. */
function checkAdyenWholeBody(doc: Record<string, unknown>): Verdict {
  const type = doc.type;
  if (typeof type !== 'string' || !WHOLE_BODY_TYPE.test(type)) {
    return badRequest(DLQ_REASONS.missingField, 'Adyen whole-body notification needs a type');
  }
  const data = isObject(doc.data) ? doc.data : {};
  const id = firstId(data.pspReference, data.id, doc.id);
  if (id === null) {
    return badRequest(DLQ_REASONS.missingField, 'Adyen whole-body notification needs data.pspReference or an id');
  }
  const eventId = `${id}_${type}`.slice(0, 255);
  return accepted('adyen', [type], eventId, eventId, type);
}

export function checkAdyen(body: Uint8Array, opts: AdyenOptions, headers?: HeaderLookup): Verdict {
  // The whole-body scheme signs the raw bytes: checked before anything untrusted is parsed.
  const headerSig = headers?.get(ADYEN_SIGNATURE_HEADER) ?? null;
  if (headerSig !== null) {
    const rejected = verifyAdyenBodySignature(headerSig, body, opts.hmacKeys);
    if (rejected) return rejected;
  }
  const parsed = parseJson(body);
  if ('ok' in parsed) return parsed;
  const doc = parsed.value;
  if (isObject(doc) && !('notificationItems' in doc) && typeof doc.type === 'string') {
    if (headerSig === null) {
      return unauthorized(
        DLQ_REASONS.missingSignature,
        'Adyen whole-body notification without the HmacSignature header',
      );
    }
    return checkAdyenWholeBody(doc);
  }
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
  const codes = items.map((it) => it.eventCode as string);
  return accepted('adyen', codes, key, eventId, first.eventCode as string);
}
