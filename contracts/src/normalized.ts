/**
 * What the transformer writes for every raw webhook record, shared by its producers (core-native's Rust core and
 * TypeScript twin, the bridge) and its readers (quarantine, reconcile, the lake sink): the Kafka headers naming each
 * output's source. The Rust crate repeats these literals; core-native's drift test holds them equal.
 */
import { RAW_HEADERS } from './edge.ts';

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

/** Raw-record headers copied onto every output (first occurrence, valid UTF-8, at most COPIED_HEADER_MAX_BYTES). */
export const COPIED_HEADERS = [OUTPUT_HEADERS.receivedAt, OUTPUT_HEADERS.requestId, OUTPUT_HEADERS.provider] as const;
export const COPIED_HEADER_MAX_BYTES = 256;
