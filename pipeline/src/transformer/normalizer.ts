/**
 * The transformer's view of core-native: one call per fetched batch, bytes in (one Buffer plus offsets and
 * lengths, with provider and source coordinates per message), ready-to-produce bytes out (normalized events keyed
 * by event_id, DLQ records keyed by raw id), each output pointing back at the input message that produced it.
 * `loadNormalizer` adapts the '@pep/core-native' export (native addon or TypeScript twin, chosen by
 * CORE_NATIVE_IMPL) to this interface; nothing here parses or validates payloads itself.
 */
import type { Provider } from '@pep/contracts';

/** Provider codes of the batch API (core-native `Provider::from_code`); 255 = not a provider topic. */
export const PROVIDER_CODES: Readonly<Record<Provider, number>> = { stripe: 0, square: 1, adyen: 2, braintree: 3 };

export interface RawBatch {
  /** Message values back to back. */
  readonly data: Buffer;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  readonly providers: Uint8Array;
  readonly topics: readonly string[];
  readonly partitions: Int32Array;
  /** Kafka offsets as decimal strings (int64). */
  readonly kafkaOffsets: readonly string[];
  /** Edge receive time per message, Unix ms; NaN when unknown (the core then DLQs the message). */
  readonly receivedAtMs: Float64Array;
}

/** A set of output records: bytes back to back, Kafka keys back to back (length 0 = no key), source index. */
export interface OutputSet {
  readonly data: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  readonly keys: Uint8Array;
  readonly keyOffsets: Uint32Array;
  readonly keyLengths: Uint32Array;
  /** Index into the input batch of the message that produced each record. */
  readonly sourceIndex: Uint32Array;
}

export interface NormalizedBatch {
  readonly events: OutputSet;
  readonly dlq: OutputSet;
}

export interface Normalizer {
  /** 'native' (Rust addon) or 'js' (TypeScript twin). */
  readonly impl: string;
  normalizeBatch(batch: RawBatch, normalizedAtMs: number): NormalizedBatch;
}

export function outputCount(set: OutputSet): number {
  return set.offsets.length;
}
