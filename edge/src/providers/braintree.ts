/**
 * Braintree webhooks (CONTRACT section 4): form fields `bt_signature` (`public_key|hex` pairs joined by `&`) and
 * `bt_payload` (base64 XML `<notification>`). Expected hex = HMAC-SHA1 keyed by SHA-1(private key) over the payload
 * (or the payload plus "\n"), exactly as the official SDK's `webhookNotification.parse`. Also the `bt_challenge`
 * answer. Only the fields needed to key the event are read from the XML (kind, timestamp, subject ids); the
 * transformer parses the full notification.
 *
 * The body is parsed with core-native's `braintreeForm`, the parser the transformer reads the same bytes with (the
 * Rust core implements the same rules): exactly the fields bt_signature and bt_payload, once each, strict
 * percent-decoding, never JSON. So the payload verified here is the only payload the transformer can find (issue 13:
 * a JSON body whose form reading held a signed pair used to carry an unsigned payload past the check), and its base64
 * is decoded with the transformer's strict decoder.
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { DLQ_REASONS } from '@pep/contracts';
import { BT_FORM_ERRORS, type BtFormError, base64Decode, braintreeForm } from '@pep/core-native/codec';
import type { BraintreeKeyPair } from '../config.ts';
import { hmacDigest } from './hmac.ts';
import { accepted, badRequest, isId, type Rejected, unauthorized, type Verdict } from './verdict.ts';

const MAX_SIGNATURE_PAIRS = 16;
const HEX40 = /^[0-9a-f]{40}$/;
const CHALLENGE = /^[a-f0-9]{20,32}$/;

export function braintreeSignatureHex(hmacKey: Buffer, payload: string): string {
  return createHmac('sha1', hmacKey).update(payload, 'utf8').digest('hex');
}

export function verifyBraintreeSignature(
  signature: string,
  payload: string,
  keyPairs: readonly BraintreeKeyPair[],
): Rejected | null {
  const pairs = signature
    .split('&')
    .filter((p) => p.includes('|'))
    .slice(0, MAX_SIGNATURE_PAIRS)
    .map((p) => p.split('|'));
  if (pairs.length === 0)
    return unauthorized(DLQ_REASONS.malformedSignature, 'bt_signature has no public_key|signature pair');
  let matchedKey = false;
  for (const [publicKey, hex] of pairs) {
    const pair = keyPairs.find((k) => k.publicKey === publicKey);
    if (!pair || hex === undefined) continue;
    matchedKey = true;
    if (!HEX40.test(hex)) continue;
    const given = Buffer.from(hex, 'hex');
    for (const data of [payload, `${payload}\n`]) {
      const expected = hmacDigest('sha1', pair.hmacKey, data);
      if (timingSafeEqual(expected, given)) return null;
    }
  }
  if (!matchedKey) return unauthorized(DLQ_REASONS.invalidSignature, 'bt_signature has no configured public key');
  return unauthorized(DLQ_REASONS.invalidSignature, 'bt_signature does not match the payload');
}

/** Answer to `GET /webhooks/braintree?bt_challenge=<hex>`, signed with the first (current) key pair. */
export function braintreeChallengeAnswer(challenge: string, keyPairs: readonly BraintreeKeyPair[]): string | null {
  const current = keyPairs[0];
  if (!current || !CHALLENGE.test(challenge)) return null;
  return `${current.publicKey}|${braintreeSignatureHex(current.hmacKey, challenge)}`;
}

export interface BraintreeNotificationHead {
  readonly kind: string;
  readonly timestamp: string | null;
  /** Element name of the subject (`transaction`, `dispute`, `subscription`, …) and its id. */
  readonly subjectType: string | null;
  readonly subjectId: string | null;
  /** The payment the notification is about, where the XML names one. */
  readonly transactionId: string | null;
}

const text = (xml: string, re: RegExp): string | null => {
  const m = re.exec(xml);
  return m?.[1] !== undefined ? m[1].trim() : null;
};

/** Reads kind, timestamp and subject ids from the decoded notification XML; null when it is not a notification. */
export function readNotificationHead(xml: string): BraintreeNotificationHead | null {
  if (!/^\s*(<\?xml[^>]*\?>\s*)?<notification>/.test(xml)) return null;
  const subjectAt = xml.indexOf('<subject>');
  const head = subjectAt >= 0 ? xml.slice(0, subjectAt) : xml;
  const kind = text(head, /<kind>([^<]*)<\/kind>/);
  if (!kind) return null;
  const timestamp = text(head, /<timestamp[^>]*>([^<]*)<\/timestamp>/);
  let subjectType: string | null = null;
  let subjectId: string | null = null;
  let transactionId: string | null = null;
  if (subjectAt >= 0) {
    const subject = xml.slice(subjectAt + '<subject>'.length);
    subjectType = text(subject, /^\s*<([a-z_-]+)[\s>]/);
    // A review names its transaction, a local payment its payment id (when it has no transaction): as the core does.
    subjectId =
      text(subject, /<id>([^<]*)<\/id>/) ??
      text(subject, /<transaction-id>([^<]*)<\/transaction-id>/) ??
      text(subject, /<payment-id>([^<]*)<\/payment-id>/);
    if (subjectType === 'transaction') transactionId = subjectId;
    else transactionId = text(subject, /<transaction>\s*<id>([^<]*)<\/id>/);
  }
  return { kind, timestamp, subjectType, subjectId, transactionId };
}

export interface BraintreeOptions {
  readonly keyPairs: readonly BraintreeKeyPair[];
}

const latin1 = new TextDecoder('latin1');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // keeps a BOM, as the transformer does

/** A verified Braintree webhook: the payload bytes whose signature matched, and the head of its notification. */
export interface VerifiedBraintree {
  readonly ok: true;
  /** The bt_payload exactly as verified (base64 text, ASCII). */
  readonly payload: string;
  readonly head: BraintreeNotificationHead;
}

const FORM_REJECTIONS: Readonly<Record<BtFormError, (message: string) => Rejected>> = {
  malformed: (m) => badRequest(DLQ_REASONS.invalidForm, m),
  unknown_field: (m) => badRequest(DLQ_REASONS.invalidForm, m),
  duplicate_field: (m) => badRequest(DLQ_REASONS.invalidForm, m),
  missing_signature: (m) => unauthorized(DLQ_REASONS.missingSignature, m),
  missing_payload: (m) => badRequest(DLQ_REASONS.missingField, m),
  signature_chars: (m) => unauthorized(DLQ_REASONS.malformedSignature, m),
  payload_chars: (m) => badRequest(DLQ_REASONS.invalidField, m),
};

/**
 * Parses the form with the transformer's parser, verifies the signature over exactly the payload it found, and reads
 * the notification head from that payload's strict base64 decoding (UTF-8 required, as the transformer requires).
 */
export function verifyBraintreeWebhook(
  contentType: string | null,
  body: Uint8Array,
  opts: BraintreeOptions,
): VerifiedBraintree | Rejected {
  if (contentType !== null && !contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    return badRequest(DLQ_REASONS.unsupportedMediaType, 'Braintree webhooks must be application/x-www-form-urlencoded');
  }
  const form = braintreeForm(body);
  if (typeof form === 'string') return FORM_REJECTIONS[form](BT_FORM_ERRORS[form].message);
  // Both fields are ASCII (braintreeForm checks it), so these strings are exactly the bytes.
  const signature = latin1.decode(form.signature);
  const payload = latin1.decode(form.payload);
  const sig = verifyBraintreeSignature(signature, payload, opts.keyPairs);
  if (sig) return sig;
  const decoded = base64Decode(form.payload);
  if (decoded === undefined) return badRequest(DLQ_REASONS.invalidField, 'bt_payload is not base64');
  let xml: string;
  try {
    xml = strictUtf8.decode(decoded);
  } catch {
    return badRequest(DLQ_REASONS.invalidField, 'bt_payload is not UTF-8');
  }
  const head = readNotificationHead(xml);
  if (!head) return badRequest(DLQ_REASONS.invalidField, 'bt_payload is not a <notification> with a <kind>');
  return { ok: true, payload, head };
}

export function checkBraintree(contentType: string | null, body: Uint8Array, opts: BraintreeOptions): Verdict {
  const v = verifyBraintreeWebhook(contentType, body, opts);
  if (!v.ok) return v;
  const { head } = v;
  const objectId = isId(head.subjectId) ? head.subjectId : null;
  const eventId = `${head.kind}_${objectId ?? head.timestamp ?? 'unknown'}`.slice(0, 255);
  const key = (isId(head.transactionId) ? head.transactionId : objectId) ?? eventId;
  return accepted('braintree', [head.kind], key, eventId, head.kind);
}
