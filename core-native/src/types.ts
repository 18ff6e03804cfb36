/**
 * The stable interface of @pep/core-native, shared by the native addon and the TypeScript twin.
 * Both implementations take the same bytes in and give the same bytes out (see README,
 * "Canonical serialization"). Not for: Kafka I/O (the pipeline does that).
 */

export const PROVIDER_CODES = { stripe: 0, square: 1, adyen: 2, braintree: 3 } as const;
export type ProviderName = keyof typeof PROVIDER_CODES;

/** Per input message status in a batch result. */
export const MESSAGE_STATUS = { normalized: 0, dlq: 1, mixed: 2 } as const;

/** Limits enforced by normalizeBatch (a larger batch throws; split it first). */
export const LIMITS = {
  maxBatchMessages: 10_000,
  maxBatchBytes: 64 << 20,
  maxMessageBytes: 1 << 20,
  /** Most bytes of event records, and of DLQ records, one call returns (DLQ records embed the raw message). */
  maxOutputBytes: 1 << 30,
  maxVectorizeRows: 10_000,
} as const;

/** Many raw messages in one Buffer: message i is data[offsets[i], offsets[i] + lengths[i]). */
export interface RawBatch {
  readonly data: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  /** PROVIDER_CODES value per message. */
  readonly providers: Uint8Array;
  /** Distinct source topics; topicIndex[i] points into it. */
  readonly topics: readonly string[];
  readonly topicIndex: Uint16Array;
  readonly partitions: Int32Array;
  /** Kafka offsets (non-negative safe integers). */
  readonly kafkaOffsets: Float64Array;
  /** When the edge received each message (Unix ms, from the message headers). */
  readonly receivedAtMs: Float64Array;
}

/** Output records: concatenated JSON bytes with per-record indexes (no JS object per record). */
export interface RecordSet {
  readonly data: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  /** Kafka keys: event_id for events, the raw provider id for DLQ records. */
  readonly keys: Uint8Array;
  readonly keyOffsets: Uint32Array;
  /** 0 means no key (a DLQ record whose raw id is unknown). */
  readonly keyLengths: Uint32Array;
  /** The input message each record came from. */
  readonly sourceIndex: Uint32Array;
}

export interface BatchResult {
  /** MESSAGE_STATUS per input message. */
  readonly status: Uint8Array;
  /** payments.normalized records. */
  readonly events: RecordSet;
  /** payments.validation.dlq records. */
  readonly dlq: RecordSet;
}

export interface NormalizeOptions {
  /** Stamps normalized_at / quarantined_at (Unix ms, integer); injected so outputs are deterministic. */
  readonly normalizedAtMs: number;
}

export interface OneMessage {
  readonly provider: ProviderName;
  readonly bytes: Uint8Array | string;
  readonly receivedAtMs: number;
  readonly topic?: string;
  readonly partition?: number;
  readonly offset?: number;
}

export interface OneResult {
  readonly events: string[];
  readonly dlq: string[];
}

/** Rows to vectorize: event i with customer record i and merchant record i (length 0 = missing). */
export interface FeatureBatch {
  readonly events: Uint8Array;
  readonly eventOffsets: Uint32Array;
  readonly eventLengths: Uint32Array;
  readonly customers: Uint8Array;
  readonly customerOffsets: Uint32Array;
  readonly customerLengths: Uint32Array;
  readonly merchants: Uint8Array;
  readonly merchantOffsets: Uint32Array;
  readonly merchantLengths: Uint32Array;
}

export interface FeatureDef {
  readonly name: string;
  readonly source: 'event' | 'customer' | 'merchant';
  readonly transform: string;
  readonly field: string | null;
  readonly values: readonly string[] | null;
  readonly default: number;
}

export interface FeatureSpec {
  readonly version: string;
  readonly features: readonly FeatureDef[];
}

export interface CoreConfig {
  /** Per-currency maximum amounts in minor units (override the defaults; at most 2^53−1). */
  readonly amountMaxMinor?: Readonly<Record<string, number>>;
}

export interface CoreImpl {
  readonly kind: 'native' | 'js';
  normalizeBatch(batch: RawBatch, opts: NormalizeOptions): BatchResult;
  normalizeOne(msg: OneMessage, opts: NormalizeOptions): OneResult;
  vectorizeBatch(rows: FeatureBatch): Float32Array;
  vectorizeOne(
    event: Uint8Array | string,
    customer?: Uint8Array | string | null,
    merchant?: Uint8Array | string | null,
  ): Float32Array;
  featureSpec(): FeatureSpec;
}
