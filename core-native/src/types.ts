/**
 * The stable interface of @pep/core-native, shared by the native addon and the TypeScript twin.
 * Both implementations take the same bytes in and give the same bytes out (see README,
 * "Canonical serialization"). Not for: Kafka I/O (the pipeline does that).
 */

import { PROVIDER_CODES } from '@pep/contracts';

export { PROVIDER_CODES };
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

/** Rows to vectorize: event i with customer, merchant and payment-method records i (length 0 = missing). */
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
  readonly paymentMethods: Uint8Array;
  readonly paymentMethodOffsets: Uint32Array;
  readonly paymentMethodLengths: Uint32Array;
}

/**
 * Rows to vectorize with the records as numbers (`vectorizeValues`): event i (JSON, as in FeatureBatch) and
 * `values[i * featureCount + k]`, the value of feature k's record field in row i's record of that feature's entity
 * (NaN: the field is absent; event and record-present columns are not read), and `present[i * 3 + e]` (e: customer,
 * merchant, payment method; 0 = no record).
 */
export interface FeatureValuesBatch {
  readonly events: Uint8Array;
  readonly eventOffsets: Uint32Array;
  readonly eventLengths: Uint32Array;
  readonly values: Float64Array;
  readonly present: Uint8Array;
}

export interface FeatureDef {
  readonly name: string;
  readonly source: 'event' | 'customer' | 'merchant' | 'payment_method';
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

/** Provider code of a raw topic (PROVIDER_CODES value; other values give UNKNOWN_PROVIDER DLQ records). */
export type ProviderCode = number;

/** An aborted transaction as listed in a read_committed Fetch response partition. */
export interface AbortedTransaction {
  readonly producerId: bigint;
  readonly firstOffset: bigint;
}

/** One fetched partition of a raw topic, as the Fetch response gave it. */
export interface FetchedRecordSet {
  readonly topic: string;
  readonly provider: ProviderCode;
  readonly partition: number;
  /** The raw `records` field of the Fetch response partition: zero or more RecordBatch v2, the last possibly truncated. */
  readonly records: Uint8Array;
  /** The partition's aborted transactions (read_committed; empty for read_uncommitted). */
  readonly abortedTransactions: readonly AbortedTransaction[];
  /** The offset the fetch asked for: records below it are skipped. */
  readonly fetchOffset: bigint;
}

export interface TransformOptions {
  /** Stamps normalized_at / quarantined_at and the output record timestamps (Unix ms, integer). */
  readonly normalizedAtMs: number;
  /** Partition count of payments.normalized (outputs are partitioned by murmur2(key), as the Java client). */
  readonly normalizedPartitions: number;
  /** Partition count of payments.validation.dlq. */
  readonly dlqPartitions: number;
  /** Outputs larger than this (value + key + header names and values + 64) become RECORD_TOO_LARGE DLQ records. */
  readonly maxRecordBytes: number;
  /** Most data records one call consumes (default and maximum TRANSFORM_LIMITS.maxRecords); the rest stays for the next fetch. */
  readonly maxRecords?: number;
}

/** Ready-to-send records of one output topic-partition. */
export interface OutputPartition {
  readonly partition: number;
  /** The records section of a RecordBatch v2: `count` varint-framed Record entries, offsetDelta 0..count-1. */
  readonly records: Uint8Array;
  readonly count: number;
  /** Base timestamp of the batch (every record has timestampDelta 0: the output timestamp is normalizedAtMs). */
  readonly firstTimestampMs: number;
  readonly maxTimestampMs: number;
}

export interface TransformCounters {
  /** Data records consumed (handed to the normalizer). */
  readonly records: number;
  /** Records for payments.normalized. */
  readonly normalized: number;
  /** Records for payments.validation.dlq (validation failures, oversize replacements, batch reports). */
  readonly dlq: number;
  /** Records of control batches skipped (header record counts). */
  readonly skippedControl: number;
  /** Records of aborted transactions dropped (header record counts). */
  readonly skippedAborted: number;
  /** Records below the fetch offset skipped. */
  readonly skippedBelowFetchOffset: number;
  /** Outputs replaced by RECORD_TOO_LARGE DLQ records. */
  readonly oversizeReplaced: number;
  /** Batches reported as one DLQ record each (corrupt, unsupported compression or format, too large). */
  readonly batchReports: number;
}

export interface TransformedFetch {
  /** payments.normalized outputs, non-empty partitions only, ascending by partition. */
  readonly normalized: readonly OutputPartition[];
  /** payments.validation.dlq outputs, non-empty partitions only, ascending by partition. */
  readonly dlq: readonly OutputPartition[];
  /** Per input set: where the next fetch of that partition starts (commit this offset with the outputs). */
  readonly nextOffsets: BigInt64Array;
  /** Per input set: data records consumed. */
  readonly consumed: Uint32Array;
  /**
   * Per input set: the size in bytes of the incomplete batch `records` ended with when its length was readable,
   * else 0. A value larger than the fetch's partition byte limit means the limit must grow to make progress.
   */
  readonly pendingBatchBytes: Uint32Array;
  /** Per consumed data record, in input order: when the edge received it (Unix ms; NaN when unknown). */
  readonly receivedAtMs: Float64Array;
  readonly counters: TransformCounters;
}

/** Limits of transformRecordSets (going over a caller limit throws a RangeError). */
export const TRANSFORM_LIMITS = {
  maxSets: 10_000,
  maxRecords: 10_000,
  /** Most bytes of record values one call hands to the normalizer (the rest stays for the next fetch). */
  maxValueBytes: 64 << 20,
  /** A batch whose records (decompressed) pass this is reported as RECORD_BATCH_TOO_LARGE. */
  maxBatchRecordsBytes: 64 << 20,
  maxAbortedTransactions: 100_000,
  maxPartitions: 100_000,
  minRecordBytes: 4096,
  maxRecordBytes: 1 << 30,
} as const;

export interface CoreImpl {
  readonly kind: 'native' | 'js';
  /**
   * Decodes the raw record sets of one fetch, normalizes every data record and returns ready-to-send records per
   * output topic-partition (README "transformRecordSets"). Data never throws; bad arguments and limits do.
   */
  transformRecordSets(sets: readonly FetchedRecordSet[], opts: TransformOptions): TransformedFetch;
  /** CRC-32C (Castagnoli) of bytes, as an unsigned 32-bit number. */
  crc32c(bytes: Uint8Array): number;
  normalizeBatch(batch: RawBatch, opts: NormalizeOptions): BatchResult;
  normalizeOne(msg: OneMessage, opts: NormalizeOptions): OneResult;
  vectorizeBatch(rows: FeatureBatch): Float32Array;
  /**
   * vectorizeBatch with the records as numbers (FeatureValuesBatch): the same rows, bit for bit, as vectorizeBatch
   * with each present record as the JSON.stringify of `{field: value}` over its non-NaN values (a non-finite value is
   * written null there: the default applies), without the JSON.
   */
  vectorizeValues(rows: FeatureValuesBatch): Float32Array;
  vectorizeOne(
    event: Uint8Array | string,
    customer?: Uint8Array | string | null,
    merchant?: Uint8Array | string | null,
    paymentMethod?: Uint8Array | string | null,
  ): Float32Array;
  featureSpec(): FeatureSpec;
}
