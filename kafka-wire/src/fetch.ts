/**
 * Fetch and ListOffsets, encoded and decoded by hand (pure functions, no I/O), for the consumer's data path.
 *
 * - Fetch v5 (the broker accepts 4–18; v5 is the newest non-flexible version before fetch sessions, and has
 *   isolation_level, last_stable_offset, log_start_offset and the aborted transactions): many partitions per
 *   request, a total and a per-partition byte bound. Each partition's `records` is returned as a VIEW into the
 *   response buffer (no copy): zero or more RecordBatch v2, the last one possibly truncated by the byte bound. The
 *   record bytes stay opaque here; core-native decodes them.
 * - ListOffsets v2 (earliest / latest with isolation_level, for the offset-reset policy).
 *
 * Reference: https://kafka.apache.org/protocol (checked against kafkajs's encoders in the unit tests).
 */
import { RequestWriter, ResponseReader } from './consumer-codec.ts';
import { KafkaProtocolError } from './protocol.ts';

export const FETCH_API = { key: 1, version: 5 } as const;
export const LIST_OFFSETS_API = { key: 2, version: 2 } as const;

export const ISOLATION = { readUncommitted: 0, readCommitted: 1 } as const;
export type IsolationLevel = (typeof ISOLATION)[keyof typeof ISOLATION];

export interface FetchPartitionRequest {
  readonly partition: number;
  readonly fetchOffset: bigint;
  /** Bytes at most for this partition (the broker still returns one whole first batch if it is larger). */
  readonly maxBytes: number;
}

export interface FetchTopicRequest {
  readonly topic: string;
  readonly partitions: readonly FetchPartitionRequest[];
}

export interface FetchRequest {
  readonly maxWaitMs: number;
  readonly minBytes: number;
  /** Bytes at most for the whole response. */
  readonly maxBytes: number;
  readonly isolationLevel: IsolationLevel;
  readonly topics: readonly FetchTopicRequest[];
}

export function encodeFetchRequest(correlationId: number, clientId: Buffer, req: FetchRequest): Buffer {
  let parts = 0;
  for (const t of req.topics) parts += t.partitions.length;
  const w = new RequestWriter(64 + clientId.length + req.topics.length * 64 + parts * 24);
  w.header(FETCH_API.key, FETCH_API.version, correlationId, clientId, false);
  w.int32(-1) // replica_id: a consumer
    .int32(req.maxWaitMs)
    .int32(req.minBytes)
    .int32(req.maxBytes)
    .int8(req.isolationLevel)
    .array(req.topics, (t) => {
      w.string(t.topic).array(t.partitions, (p) => {
        w.int32(p.partition).int64(p.fetchOffset).int64(-1n).int32(p.maxBytes); // log_start_offset: -1 (consumer)
      });
    });
  return w.finish();
}

export interface AbortedTransaction {
  readonly producerId: bigint;
  readonly firstOffset: bigint;
}

export interface FetchedPartition {
  readonly topic: string;
  readonly partition: number;
  readonly errorCode: number;
  readonly highWatermark: bigint;
  readonly lastStableOffset: bigint;
  readonly logStartOffset: bigint;
  /** read_committed only; empty when there are none. */
  readonly abortedTransactions: readonly AbortedTransaction[];
  /** The raw records (RecordBatch v2 …), a view into the response buffer; empty when there are none. */
  readonly records: Buffer;
}

export interface FetchResponse {
  readonly throttleTimeMs: number;
  readonly partitions: readonly FetchedPartition[];
}

const NO_RECORDS = Buffer.alloc(0);

export function decodeFetchResponse(body: Buffer): FetchResponse {
  const r = new ResponseReader(body);
  const throttleTimeMs = r.int32();
  const partitions: FetchedPartition[] = [];
  r.array(() => {
    const topic = r.string() ?? '';
    r.array(() => {
      const partition = r.int32();
      const errorCode = r.int16();
      const highWatermark = r.int64();
      const lastStableOffset = r.int64();
      const logStartOffset = r.int64();
      const abortedCount = r.int32();
      let abortedTransactions: AbortedTransaction[] = [];
      if (abortedCount > 0) {
        if (abortedCount * 16 > r.remaining) throw new Error('corrupt Fetch response (aborted transactions)');
        abortedTransactions = new Array(abortedCount);
        for (let i = 0; i < abortedCount; i++)
          abortedTransactions[i] = { producerId: r.int64(), firstOffset: r.int64() };
      }
      const records = r.bytes() ?? NO_RECORDS;
      partitions.push({
        topic,
        partition,
        errorCode,
        highWatermark,
        lastStableOffset,
        logStartOffset,
        abortedTransactions,
        records,
      });
    });
  });
  return { throttleTimeMs, partitions };
}

/** Special timestamps of ListOffsets. */
export const OFFSET_SPEC = { latest: -1n, earliest: -2n } as const;

export interface ListOffsetsTopic {
  readonly topic: string;
  readonly partitions: readonly { readonly partition: number; readonly timestamp: bigint }[];
}

export function encodeListOffsetsRequest(
  correlationId: number,
  clientId: Buffer,
  isolationLevel: IsolationLevel,
  topics: readonly ListOffsetsTopic[],
): Buffer {
  const w = new RequestWriter();
  w.header(LIST_OFFSETS_API.key, LIST_OFFSETS_API.version, correlationId, clientId, false);
  w.int32(-1)
    .int8(isolationLevel)
    .array(topics, (t) => {
      w.string(t.topic).array(t.partitions, (p) => {
        w.int32(p.partition).int64(p.timestamp);
      });
    });
  return w.finish();
}

export interface ListedOffset {
  readonly topic: string;
  readonly partition: number;
  readonly errorCode: number;
  readonly timestamp: bigint;
  readonly offset: bigint;
}

export function decodeListOffsetsResponse(body: Buffer): ListedOffset[] {
  const r = new ResponseReader(body);
  r.int32(); // throttle_time_ms
  const out: ListedOffset[] = [];
  r.array(() => {
    const topic = r.string() ?? '';
    r.array(() => {
      const partition = r.int32();
      const errorCode = r.int16();
      const timestamp = r.int64();
      const offset = r.int64();
      out.push({ topic, partition, errorCode, timestamp, offset });
    });
  });
  return out;
}

/** Throws the first partition error of a ListOffsets answer (the caller refreshes leaders on NOT_LEADER…). */
export function checkListedOffsets(listed: readonly ListedOffset[]): void {
  for (const l of listed)
    if (l.errorCode !== 0) throw new KafkaProtocolError(l.errorCode, `ListOffsets(${l.topic}/${l.partition})`);
}
