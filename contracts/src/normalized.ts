/**
 * What the transformer writes for every raw webhook record (CONTRACT sections 5 and 6), shared by its producers
 * (core-native's Rust core and TypeScript twin, the bridge) and its readers (bridge, workflows, quarantine, reconcile,
 * the lake sink): the unified event, the validation-DLQ record and its builder, and the Kafka headers naming each
 * output's source. The Rust crate repeats these literals for speed; core-native's drift test holds them equal.
 */
import { RAW_HEADERS } from './edge.ts';
import { type PayloadEncoding, payloadText } from './payload.ts';
import { maskCards } from './redact.ts';
import type { Provider } from './topics.ts';

export const SCHEMA_VERSION = 1;

/** A record of `payments.normalized` (schema_version 1). Timestamps are ISO-8601 UTC; money in integer minor units. */
export interface UnifiedEvent {
  /** `<provider>:<provider_event_id>`, the dedup key everywhere. */
  readonly event_id: string;
  readonly provider: Provider;
  readonly provider_event_id: string;
  /** The provider's payment, refund or dispute object id. */
  readonly object_id: string | null;
  /** One vocabulary across providers (CONTRACT section 6, `EVENT_TYPES` in event-types.ts, e.g. `payment.succeeded`). */
  readonly event_type: string;
  /** The provider's own type, as sent (Stripe/Square `type`, Adyen `eventCode`, Braintree `kind`). */
  readonly provider_event_type: string;
  readonly merchant_id: string | null;
  readonly customer_id: string | null;
  /** Integer in the currency's ISO 4217 minor unit (cents for USD, yen for JPY, thousandths for KWD). */
  readonly amount_minor: number;
  /** Uppercase ISO 4217. */
  readonly currency: string;
  readonly payment_method_type: string | null;
  /** A brand name, never a BIN. */
  readonly card_brand: string | null;
  readonly card_last_four: string | null;
  readonly status: string;
  readonly failure_code: string | null;
  readonly failure_message: string | null;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly provider_created_at: string;
  readonly received_at: string;
  readonly normalized_at: string;
  readonly schema_version: typeof SCHEMA_VERSION;
}

/** The fields of a unified event in the order both cores write them. */
export const UNIFIED_EVENT_FIELDS = [
  'event_id',
  'provider',
  'provider_event_id',
  'object_id',
  'event_type',
  'provider_event_type',
  'merchant_id',
  'customer_id',
  'amount_minor',
  'currency',
  'payment_method_type',
  'card_brand',
  'card_last_four',
  'status',
  'failure_code',
  'failure_message',
  'metadata',
  'provider_created_at',
  'received_at',
  'normalized_at',
  'schema_version',
] as const satisfies readonly (keyof UnifiedEvent)[];

export interface ValidationError {
  readonly field: string;
  readonly code: string;
  readonly message: string;
}

/**
 * A record of `payments.validation.dlq`: the original payload, every validation error and the ORIGINAL raw-topic
 * coordinates (so a reprocess reads the same bytes again).
 */
export interface ValidationDlqRecord {
  /** `<provider>:<provider_event_id>` when both are known. */
  readonly event_id: string | null;
  readonly provider: Provider | null;
  readonly provider_event_id: string | null;
  /** Position of the rejected item in a multi-item message (Adyen), else null. */
  readonly item_index: number | null;
  /** The raw message, UTF-8 when it decodes cleanly, else base64; null when omitted (RECORD_TOO_LARGE). */
  readonly original_payload: string | null;
  readonly original_payload_encoding: PayloadEncoding | null;
  readonly validation_errors: readonly ValidationError[];
  /** The first error's code. */
  readonly failure_reason: string;
  readonly source_topic: string | null;
  readonly kafka_partition: number | null;
  readonly kafka_offset: number | null;
  readonly received_at: string | null;
  readonly quarantined_at: string;
  readonly schema_version: typeof SCHEMA_VERSION;
}

/** The fields of a validation-DLQ record in the order every producer writes them. */
export const VALIDATION_DLQ_FIELDS = [
  'event_id',
  'provider',
  'provider_event_id',
  'item_index',
  'original_payload',
  'original_payload_encoding',
  'validation_errors',
  'failure_reason',
  'source_topic',
  'kafka_partition',
  'kafka_offset',
  'received_at',
  'quarantined_at',
  'schema_version',
] as const satisfies readonly (keyof ValidationDlqRecord)[];

/** Codes of validation-DLQ records written outside the per-field validation of core-native. */
export const DLQ_CODES = {
  /** An output over the record limit, replaced by this small record (the raw record stays at its coordinates). */
  recordTooLarge: 'RECORD_TOO_LARGE',
  /** A normalized message no workflow can take (the bridge). */
  bridgeInvalidEvent: 'BRIDGE_INVALID_EVENT',
} as const;

export interface ValidationDlqInput {
  readonly provider?: Provider | null;
  readonly providerEventId?: string | null;
  readonly itemIndex?: number | null;
  /** The raw message; omitted (null payload) when undefined. */
  readonly payload?: Uint8Array;
  /** At least one: the first one's code is the failure reason. */
  readonly errors: readonly [ValidationError, ...ValidationError[]];
  readonly source: {
    readonly topic: string | null;
    readonly partition: number | null;
    readonly offset: number | null;
  };
  readonly receivedAt?: string | null;
  readonly quarantinedAt: Date;
}

/** A validation-DLQ record with its fields in the canonical order (JSON.stringify keeps it). */
export function validationDlqRecord(input: ValidationDlqInput): ValidationDlqRecord {
  const provider = input.provider ?? null;
  // The raw id is the record's key and part of its event_id: a card number in it is masked (issue 13).
  const providerEventId =
    input.providerEventId === undefined || input.providerEventId === null ? null : maskCards(input.providerEventId);
  const payload = input.payload === undefined ? null : payloadText(input.payload);
  return {
    event_id: provider !== null && providerEventId !== null ? `${provider}:${providerEventId}` : null,
    provider,
    provider_event_id: providerEventId,
    item_index: input.itemIndex ?? null,
    original_payload: payload?.text ?? null,
    original_payload_encoding: payload?.encoding ?? null,
    validation_errors: input.errors.map((e) => ({ ...e, message: maskCards(e.message) })),
    failure_reason: input.errors[0].code,
    source_topic: input.source.topic,
    kafka_partition: input.source.partition,
    kafka_offset: input.source.offset,
    received_at: input.receivedAt ?? null,
    quarantined_at: input.quarantinedAt.toISOString(),
    schema_version: SCHEMA_VERSION,
  };
}

/** Header names the transformer puts on every output record of payments.normalized and payments.validation.dlq. */
export const OUTPUT_HEADERS = {
  sourceTopic: 'source-topic',
  sourcePartition: 'source-partition',
  sourceOffset: 'source-offset',
  /** `<i>/<n>`: this is output i of the n outputs of that source message (n > 1 only for multi-item Adyen). */
  sourceOutput: 'source-output',
  /** On a DLQ record reporting an unreadable record batch: the batch's last offset (the report covers the range). */
  sourceLastOffset: 'source-last-offset',
  /** On a DLQ record that replaced an output too large for the broker: what it replaced. */
  oversizeReplaced: 'oversize-replaced',
  receivedAt: RAW_HEADERS.receivedAt,
  requestId: RAW_HEADERS.requestId,
  provider: RAW_HEADERS.provider,
} as const;

/**
 * Headers of a raw record that the platform produced again, naming the original (the edge never sets them; a
 * downstream reader tells a re-produced record from a first delivery by them).
 */
export const REPRODUCED_HEADERS = {
  /** On a raw record re-injected by a DLQ review decision (workflows): the review it reprocesses. */
  reprocessedFrom: 'reprocessed-from',
  /** On a raw record replayed from the lake (lakehouse replay): the original's `<topic>/<partition>/<offset>`. */
  replayedFrom: 'replayed-from',
} as const;

/** Raw-record headers copied onto every output (first occurrence, valid UTF-8, at most COPIED_HEADER_MAX_BYTES). */
export const COPIED_HEADERS = [OUTPUT_HEADERS.receivedAt, OUTPUT_HEADERS.requestId, OUTPUT_HEADERS.provider] as const;
export const COPIED_HEADER_MAX_BYTES = 256;
