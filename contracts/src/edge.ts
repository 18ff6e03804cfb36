/**
 * Edge (webhook gateway) contract shared with its consumers: the Kafka header names the edge puts on every
 * raw-topic message, the reason codes of `webhooks.dlq` records, and the shape of those records.
 * The transformer and the DLQ consumer read these names from here; nothing in this file is edge-internal.
 */

import { payloadText } from './payload.ts';
import { maskCards } from './redact.ts';
import type { Provider } from './topics.ts';

/** Kafka header names on raw-topic (`webhooks.<provider>.<category>`) and `webhooks.dlq` messages. Values are UTF-8. */
export const RAW_HEADERS = {
  /** ISO-8601 UTC instant at which the edge received the request, e.g. `2026-11-26T13:31:47.123Z`. */
  receivedAt: 'received-at',
  /** Request id (incoming `x-request-id` when well-formed, else generated); also on every edge log line. */
  requestId: 'request-id',
  /** `stripe` | `square` | `adyen` | `braintree`. */
  provider: 'provider',
  /** The request's Content-Type as received (`application/json`, `application/x-www-form-urlencoded`, …). */
  contentType: 'content-type',
  /** Provider event id as the edge derived it (Stripe `evt_…`, Square `event_id`, Adyen `<psp>_<eventCode>` of the first item, Braintree `<kind>_<subject id|timestamp>`). */
  eventId: 'event-id',
  /** Provider event type (Stripe/Square `type`, Adyen `eventCode` of the first item, Braintree `kind`). */
  eventType: 'event-type',
  /** Braintree only: how the value is encoded; always `form` (the raw `bt_signature=…&bt_payload=…` body). */
  bodyEncoding: 'body-encoding',
  /** `webhooks.dlq` only: the record's reason code (DLQ_REASONS). */
  dlqReason: 'dlq-reason',
} as const;
export type RawHeaderName = (typeof RAW_HEADERS)[keyof typeof RAW_HEADERS];

/** Reason codes of `webhooks.dlq` records; also the `error.code` of the edge's 4xx answers. */
export const DLQ_REASONS = {
  /** 401: no signature header / field / `hmacSignature`. */
  missingSignature: 'missing_signature',
  /** 401: the signature header cannot be parsed (Stripe `t=…,v1=…`, Braintree `pub|hex`). */
  malformedSignature: 'malformed_signature',
  /** 401: no configured secret produces the given signature. */
  invalidSignature: 'invalid_signature',
  /** 401: Stripe timestamp outside the tolerance (replay protection). */
  signatureExpired: 'signature_expired',
  /** 400: body is not JSON. */
  invalidJson: 'invalid_json',
  /** 400: body is not a valid urlencoded form (Braintree). */
  invalidForm: 'invalid_form',
  /** 400: a field needed to route or key the event is missing. */
  missingField: 'missing_field',
  /** 400: a field has the wrong type or format. */
  invalidField: 'invalid_field',
  /** 400: the Content-Type does not fit the provider. */
  unsupportedMediaType: 'unsupported_media_type',
  /**
   * No longer written: a verified event of a type outside the event vocabulary now goes to `webhooks.<provider>.other`
   * (OTHER_TOPICS). Kept so that records written before can still be read.
   */
  unroutableEventType: 'unroutable_event_type',
} as const;
export type DlqReason = (typeof DLQ_REASONS)[keyof typeof DLQ_REASONS];

/** Reasons that are security events (HTTP 401). */
export const SECURITY_DLQ_REASONS: readonly DlqReason[] = [
  DLQ_REASONS.missingSignature,
  DLQ_REASONS.malformedSignature,
  DLQ_REASONS.invalidSignature,
  DLQ_REASONS.signatureExpired,
];

/** JSON value of a `webhooks.dlq` record written by the edge (schema_version 1). */
export interface WebhookDlqRecord {
  readonly schema_version: 1;
  readonly provider: Provider;
  readonly reason: DlqReason;
  readonly message: string;
  /** True for the 401 family (forged, expired or unsigned requests). */
  readonly security_event: boolean;
  /** HTTP status the edge answered (400, 401, or 200 for `unroutable_event_type`). */
  readonly http_status: number;
  /** Request headers, lower-cased names; signature and credential headers are replaced by `[redacted]`. */
  readonly headers: Readonly<Record<string, string>>;
  /** The raw body, UTF-8 when it decodes cleanly, else base64 (see body_encoding). */
  readonly body: string;
  readonly body_encoding: 'utf8' | 'base64';
  /** Provider event id when it could be derived, else null. */
  readonly event_id: string | null;
  readonly request_id: string;
  /** ISO-8601 UTC. */
  readonly received_at: string;
}

/** The value the edge writes for redacted header values in DLQ records. */
export const REDACTED = '[redacted]';

export interface WebhookDlqInput {
  readonly provider: Provider;
  readonly reason: DlqReason;
  readonly message: string;
  readonly httpStatus: number;
  /** Already redacted (the edge replaces signature and credential values by REDACTED). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly eventId: string | null;
  readonly requestId: string;
  readonly receivedAt: string;
}

/** A `webhooks.dlq` record with its fields in the canonical order (JSON.stringify keeps it). */
export function webhookDlqRecord(input: WebhookDlqInput): WebhookDlqRecord {
  const body = payloadText(input.body);
  return {
    schema_version: 1,
    provider: input.provider,
    reason: input.reason,
    message: maskCards(input.message),
    security_event: SECURITY_DLQ_REASONS.includes(input.reason),
    http_status: input.httpStatus,
    headers: input.headers,
    body: body.text,
    body_encoding: body.encoding,
    event_id: input.eventId === null ? null : maskCards(input.eventId),
    request_id: maskCards(input.requestId),
    received_at: input.receivedAt,
  };
}
