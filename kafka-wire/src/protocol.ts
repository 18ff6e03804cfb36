/**
 * The few Kafka wire-protocol messages the edge's producer needs, encoded and decoded by hand (pure functions, no
 * I/O): Metadata v4 (with allow_auto_topic_creation=false), InitProducerId v1 (idempotent, non-transactional) and
 * Produce v7 carrying one RecordBatch v2 per partition (CRC-32C, producer id, epoch and base sequence). Only
 * non-flexible request versions are used, so there are no tagged fields. Written for speed: a whole produce request
 * is sized first and then encoded into a single Buffer (a general client costs 25-60 µs of CPU per 1 KiB record,
 * this path a few µs). Reference: https://kafka.apache.org/protocol and the RecordBatch format in the Kafka docs.
 */

import { CODECS, compress, type ProducerCodec } from './compression.ts';
import { ResponseReader } from './consumer-codec.ts';
import { BATCH_HEADER, BATCH_HEADER_BYTES, varintSize, writeBatchHeader, writeVarint, zigzag } from './record-batch.ts';

export const API_KEYS = { produce: 0, metadata: 3, initProducerId: 22 } as const;
const VERSIONS = { produce: 7, metadata: 4, initProducerId: 1 } as const;

/** Kafka error codes the producers and consumers may meet (the rest are reported by number). */
export const KAFKA_ERRORS: Readonly<Record<number, string>> = {
  [-1]: 'UNKNOWN_SERVER_ERROR',
  1: 'OFFSET_OUT_OF_RANGE',
  2: 'CORRUPT_MESSAGE',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  5: 'LEADER_NOT_AVAILABLE',
  6: 'NOT_LEADER_OR_FOLLOWER',
  7: 'REQUEST_TIMED_OUT',
  8: 'BROKER_NOT_AVAILABLE',
  9: 'REPLICA_NOT_AVAILABLE',
  10: 'MESSAGE_TOO_LARGE',
  13: 'NETWORK_EXCEPTION',
  14: 'COORDINATOR_LOAD_IN_PROGRESS',
  15: 'COORDINATOR_NOT_AVAILABLE',
  16: 'NOT_COORDINATOR',
  18: 'RECORD_LIST_TOO_LARGE',
  19: 'NOT_ENOUGH_REPLICAS',
  20: 'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  22: 'ILLEGAL_GENERATION',
  23: 'INCONSISTENT_GROUP_PROTOCOL',
  24: 'INVALID_GROUP_ID',
  25: 'UNKNOWN_MEMBER_ID',
  26: 'INVALID_SESSION_TIMEOUT',
  27: 'REBALANCE_IN_PROGRESS',
  29: 'TOPIC_AUTHORIZATION_FAILED',
  30: 'GROUP_AUTHORIZATION_FAILED',
  31: 'CLUSTER_AUTHORIZATION_FAILED',
  33: 'UNSUPPORTED_SASL_MECHANISM',
  34: 'ILLEGAL_SASL_STATE',
  35: 'UNSUPPORTED_VERSION',
  42: 'INVALID_REQUEST',
  45: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
  46: 'DUPLICATE_SEQUENCE_NUMBER',
  47: 'INVALID_PRODUCER_EPOCH',
  48: 'INVALID_TXN_STATE',
  49: 'INVALID_PRODUCER_ID_MAPPING',
  50: 'INVALID_TRANSACTION_TIMEOUT',
  51: 'CONCURRENT_TRANSACTIONS',
  52: 'TRANSACTION_COORDINATOR_FENCED',
  53: 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  56: 'KAFKA_STORAGE_ERROR',
  58: 'SASL_AUTHENTICATION_FAILED',
  59: 'UNKNOWN_PRODUCER_ID',
  69: 'GROUP_ID_NOT_FOUND',
  74: 'FENCED_LEADER_EPOCH',
  75: 'UNKNOWN_LEADER_EPOCH',
  76: 'UNSUPPORTED_COMPRESSION_TYPE',
  78: 'OFFSET_NOT_AVAILABLE',
  79: 'MEMBER_ID_REQUIRED',
  81: 'GROUP_MAX_SIZE_REACHED',
  82: 'FENCED_INSTANCE_ID',
  87: 'INVALID_RECORD',
  88: 'UNSTABLE_OFFSET_COMMIT',
  89: 'THROTTLING_QUOTA_EXCEEDED',
  90: 'PRODUCER_FENCED',
};
export const kafkaErrorName = (code: number): string => KAFKA_ERRORS[code] ?? `KAFKA_ERROR_${code}`;

/** A Kafka error code in a response; `stale` says the metadata (leaders, topics) should be fetched again. */
export class KafkaProtocolError extends Error {
  override readonly name = 'KafkaProtocolError';
  constructor(
    readonly code: number,
    where: string,
  ) {
    super(`${where}: ${kafkaErrorName(code)} (${code})`);
  }
  get stale(): boolean {
    return this.code === 3 || this.code === 5 || this.code === 6;
  }
}

// ---------- CRC-32C (Castagnoli), slicing by 8 ----------

const CRC_TABLES: Int32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256));
  const t0 = tables[0] as Int32Array;
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t0[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t0[n] as number;
    for (let k = 1; k < 8; k++) {
      c = (t0[c & 0xff] as number) ^ (c >>> 8);
      (tables[k] as Int32Array)[n] = c;
    }
  }
  return tables;
})();

/** CRC-32C over bytes[start, end), unsigned: `crc32c` below, or a native one a caller passes to the encoder. */
export type Crc32c = (bytes: Uint8Array, start: number, end: number) => number;

/** CRC-32C of bytes[start, end), as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES as [
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
  ];
  let crc = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a =
      crc ^
      ((bytes[i] as number) |
        ((bytes[i + 1] as number) << 8) |
        ((bytes[i + 2] as number) << 16) |
        ((bytes[i + 3] as number) << 24));
    crc =
      (t7[a & 0xff] as number) ^
      (t6[(a >>> 8) & 0xff] as number) ^
      (t5[(a >>> 16) & 0xff] as number) ^
      (t4[a >>> 24] as number) ^
      (t3[bytes[i + 4] as number] as number) ^
      (t2[bytes[i + 5] as number] as number) ^
      (t1[bytes[i + 6] as number] as number) ^
      (t0[bytes[i + 7] as number] as number);
  }
  for (; i < end; i++) crc = (t0[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

// ---------- murmur2, as Kafka's Java client (so keys land on the same partitions as with any Kafka client) ----------

/** murmur2 of data[0, length). */
export function murmur2(data: Uint8Array, length = data.length): number {
  const m = 0x5bd1e995;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k =
      (data[i] as number) |
      ((data[i + 1] as number) << 8) |
      ((data[i + 2] as number) << 16) |
      ((data[i + 3] as number) << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  switch (length & 3) {
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: the reference algorithm falls through
    case 3:
      h ^= (data[whole + 2] as number) << 16;
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: the reference algorithm falls through
    case 2:
      h ^= (data[whole + 1] as number) << 8;
    case 1:
      h ^= data[whole] as number;
      h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** Java client's default partition for a keyed record: toPositive(murmur2(key)) % partitions. */
export const partitionForKey = (key: Uint8Array, partitions: number): number =>
  (murmur2(key) & 0x7fffffff) % partitions;

const KEY_SCRATCH = new Uint8Array(256);

/** partitionForKey of a string key's UTF-8 bytes; ASCII keys are hashed without allocating a buffer. */
export function partitionForStringKey(key: string, partitions: number): number {
  const n = key.length;
  if (n > KEY_SCRATCH.length) return partitionForKey(Buffer.from(key, 'utf8'), partitions);
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80) return partitionForKey(Buffer.from(key, 'utf8'), partitions);
    KEY_SCRATCH[i] = c;
  }
  return (murmur2(KEY_SCRATCH, n) & 0x7fffffff) % partitions;
}

// ---------- request encoding ----------

/**
 * UTF-8 byte length. Keys and header values are almost always ASCII: a JS scan is much cheaper than a native call per
 * string on Bun (13 strings per edge record; `Buffer.byteLength`/`buf.write` were 45 % of the sink's CPU).
 */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

/** Writes `s` whose UTF-8 length is `bytes` (from utf8Length) at `at`; returns the offset after it. */
function writeUtf8(buf: Buffer, at: number, s: string, bytes: number): number {
  // byte length equal to the UTF-16 length means every char is ASCII (anything else takes 2-3 bytes per char)
  if (bytes !== s.length) return at + buf.write(s, at, bytes, 'utf8');
  for (let i = 0; i < bytes; i++) buf[at + i] = s.charCodeAt(i);
  return at + bytes;
}

/** Request header v1 (api key, version, correlation id, client id) after the 4-byte size; returns the offset after it. */
function writeHeader(buf: Buffer, apiKey: number, version: number, correlationId: number, clientId: Buffer): number {
  buf.writeInt32BE(buf.length - 4, 0);
  buf.writeInt16BE(apiKey, 4);
  buf.writeInt16BE(version, 6);
  buf.writeInt32BE(correlationId, 8);
  buf.writeInt16BE(clientId.length, 12);
  clientId.copy(buf, 14);
  return 14 + clientId.length;
}
const headerSize = (clientId: Buffer) => 14 + clientId.length;

/** Metadata v4 for the given topics (an empty list asks for brokers only), never creating topics. */
export function encodeMetadataRequest(correlationId: number, clientId: Buffer, topics: readonly string[]): Buffer {
  const names = topics.map((t) => Buffer.from(t, 'utf8'));
  const size = headerSize(clientId) + 4 + names.reduce((s, n) => s + 2 + n.length, 0) + 1;
  const buf = Buffer.allocUnsafe(size);
  let at = writeHeader(buf, API_KEYS.metadata, VERSIONS.metadata, correlationId, clientId);
  at = buf.writeInt32BE(names.length, at);
  for (const n of names) {
    at = buf.writeInt16BE(n.length, at);
    at += n.copy(buf, at);
  }
  buf[at] = 0; // allow_auto_topic_creation = false
  return buf;
}

/** InitProducerId v1 without a transactional id: a new idempotent producer id and epoch. */
export function encodeInitProducerIdRequest(correlationId: number, clientId: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(headerSize(clientId) + 2 + 4);
  let at = writeHeader(buf, API_KEYS.initProducerId, VERSIONS.initProducerId, correlationId, clientId);
  at = buf.writeInt16BE(-1, at); // transactional_id = null
  buf.writeInt32BE(60_000, at); // transaction_timeout_ms (unused without a transactional id)
  return buf;
}

export interface ProduceRecord {
  readonly key: string | null;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

export interface PartitionBatch {
  readonly partition: number;
  readonly baseSequence: number;
  readonly records: readonly ProduceRecord[];
}

export interface TopicBatches {
  readonly topic: string;
  readonly partitions: readonly PartitionBatch[];
}

export interface ProducerIdentity {
  readonly producerId: bigint;
  readonly producerEpoch: number;
}

/** Encoded size of one record after its own length varint, and the pieces' byte lengths (reused by the encoder). */
function recordBodySize(r: ProduceRecord, offsetDelta: number, sizes: number[]): number {
  let n = 1 + 1 + varintSize(zigzag(offsetDelta)); // attributes, timestampDelta 0, offsetDelta
  if (r.key === null) n += 1;
  else {
    const k = utf8Length(r.key);
    sizes.push(k);
    n += varintSize(zigzag(k)) + k;
  }
  n += varintSize(zigzag(r.value.byteLength)) + r.value.byteLength;
  let count = 0;
  for (const name in r.headers) {
    const kn = utf8Length(name);
    const vn = utf8Length(r.headers[name] as string);
    sizes.push(kn, vn);
    n += varintSize(zigzag(kn)) + kn + varintSize(zigzag(vn)) + vn;
    count++;
  }
  return n + varintSize(zigzag(count));
}

/**
 * Produce v7 (acks, timeout) with one idempotent RecordBatch v2 per partition. Timestamps are `nowMs` (create time).
 * The caller assigns partitions and base sequences (per producer id and partition, advancing by the record count).
 * `checksum` computes each batch's CRC-32C (this module's JS one by default; ~1 byte/ns, a native one is ~15× faster).
 * `alloc` gives the request's buffer (a fresh one by default; a caller whose connection copies on write may reuse one).
 */
export function encodeProduceRequest(
  correlationId: number,
  clientId: Buffer,
  acks: number,
  timeoutMs: number,
  producer: ProducerIdentity,
  topics: readonly TopicBatches[],
  nowMs: number,
  checksum: Crc32c = crc32c,
  alloc: (bytes: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  // Pass 1: sizes. `sizes` holds every string's byte length in encoding order; `bodies` each record's body size.
  const sizes: number[] = [];
  const bodies: number[] = [];
  const topicNames = topics.map((t) => Buffer.from(t.topic, 'utf8'));
  let total = headerSize(clientId) + 2 + 2 + 4 + 4; // transactional_id null, acks, timeout, topic count
  topics.forEach((t, ti) => {
    total += 2 + (topicNames[ti] as Buffer).length + 4;
    for (const p of t.partitions) {
      let batch = BATCH_HEADER_BYTES;
      p.records.forEach((r, i) => {
        const body = recordBodySize(r, i, sizes);
        bodies.push(body);
        batch += varintSize(zigzag(body)) + body;
      });
      total += 4 + 4 + batch; // partition index, records length, batch
    }
  });

  // Pass 2: encode.
  const buf = alloc(total);
  let at = writeHeader(buf, API_KEYS.produce, VERSIONS.produce, correlationId, clientId);
  at = buf.writeInt16BE(-1, at); // transactional_id = null
  at = buf.writeInt16BE(acks, at);
  at = buf.writeInt32BE(timeoutMs, at);
  at = buf.writeInt32BE(topics.length, at);
  let si = 0;
  let bi = 0;
  topics.forEach((t, ti) => {
    const name = topicNames[ti] as Buffer;
    at = buf.writeInt16BE(name.length, at);
    at += name.copy(buf, at);
    at = buf.writeInt32BE(t.partitions.length, at);
    for (const p of t.partitions) {
      at = buf.writeInt32BE(p.partition, at);
      const lengthAt = at;
      at += 4; // records length, written after the batch
      const batchStart = at;
      at += BATCH_HEADER_BYTES; // the header is written once the batch's length is known
      p.records.forEach((r, i) => {
        at = writeVarint(buf, at, zigzag(bodies[bi++] as number));
        buf[at++] = 0; // attributes
        buf[at++] = 0; // timestampDelta (zigzag 0)
        at = writeVarint(buf, at, zigzag(i));
        if (r.key === null)
          buf[at++] = 1; // zigzag(-1)
        else {
          const k = sizes[si++] as number;
          at = writeVarint(buf, at, zigzag(k));
          at = writeUtf8(buf, at, r.key, k);
        }
        at = writeVarint(buf, at, zigzag(r.value.byteLength));
        buf.set(r.value, at);
        at += r.value.byteLength;
        let count = 0;
        for (const _ in r.headers) count++;
        at = writeVarint(buf, at, zigzag(count));
        for (const hn in r.headers) {
          const kn = sizes[si++] as number;
          const vn = sizes[si++] as number;
          at = writeVarint(buf, at, zigzag(kn));
          at = writeUtf8(buf, at, hn, kn);
          at = writeVarint(buf, at, zigzag(vn));
          at = writeUtf8(buf, at, r.headers[hn] as string, vn);
        }
      });
      buf.writeInt32BE(at - batchStart, lengthAt);
      // No compression, create time, not transactional, not control.
      writeBatchHeader(buf, batchStart, {
        batchBytes: at - batchStart,
        attributes: 0,
        recordCount: p.records.length,
        baseTimestampMs: nowMs,
        maxTimestampMs: nowMs,
        producerId: producer.producerId,
        producerEpoch: producer.producerEpoch,
        baseSequence: p.baseSequence,
      });
      buf.writeUInt32BE(checksum(buf, batchStart + BATCH_HEADER.attributes, at), batchStart + BATCH_HEADER.crc);
    }
  });
  if (at !== total) throw new Error(`produce request encoded ${at} bytes, sized ${total}`);
  return buf;
}

/**
 * The same Produce request with every batch's records section compressed (`codec`: lz4 or zstd, or gzip), attributes,
 * batch length and CRC-32C rewritten. A second pass over an `encodeProduceRequest` result, taken only when a producer
 * compresses (off by default: on loopback the CPU costs more than the bytes saved; measured in bench/compression).
 */
export function compressProduceRequest(request: Buffer, codec: ProducerCodec, checksum: Crc32c = crc32c): Buffer {
  if (codec === 'none') return request;
  const codecBits = CODECS[codec];
  const parts: Buffer[] = [];
  let at = 4 + 2 + 2 + 4;
  at += 2 + Math.max(0, request.readInt16BE(at)); // client id
  at += 2 + Math.max(0, request.readInt16BE(at)); // transactional id
  at += 2 + 4; // acks, timeout
  const topics = request.readInt32BE(at);
  at += 4;
  let copied = 0;
  for (let t = 0; t < topics; t++) {
    at += 2 + request.readInt16BE(at);
    const partitions = request.readInt32BE(at);
    at += 4;
    for (let p = 0; p < partitions; p++) {
      at += 4; // partition index
      const lengthAt = at;
      const batchBytes = request.readInt32BE(at);
      const start = at + 4;
      const packed = compress(codec, request.subarray(start + BATCH_HEADER_BYTES, start + batchBytes));
      parts.push(request.subarray(copied, lengthAt));
      const batch = Buffer.allocUnsafe(4 + BATCH_HEADER_BYTES + packed.length);
      batch.writeInt32BE(BATCH_HEADER_BYTES + packed.length, 0);
      request.copy(batch, 4, start, start + BATCH_HEADER_BYTES);
      packed.copy(batch, 4 + BATCH_HEADER_BYTES);
      batch.writeInt32BE(BATCH_HEADER_BYTES + packed.length - 12, 4 + BATCH_HEADER.batchLength);
      const attributesAt = 4 + BATCH_HEADER.attributes;
      batch.writeInt16BE(batch.readInt16BE(attributesAt) | codecBits, attributesAt); // the codec bits
      batch.writeUInt32BE(checksum(batch, attributesAt, batch.length), 4 + BATCH_HEADER.crc);
      parts.push(batch);
      at = start + batchBytes;
      copied = at;
    }
  }
  parts.push(request.subarray(copied));
  const out = Buffer.concat(parts);
  out.writeInt32BE(out.length - 4, 0);
  return out;
}

// ---------- response decoding ----------

export interface BrokerAddress {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
}

export interface TopicMetadata {
  readonly name: string;
  readonly errorCode: number;
  /** Leader node id by partition index (-1: no leader right now). */
  readonly leaders: readonly number[];
}

export interface MetadataResponse {
  readonly brokers: readonly BrokerAddress[];
  readonly topics: readonly TopicMetadata[];
}

export function decodeMetadataResponse(body: Buffer): MetadataResponse {
  const r = new ResponseReader(body);
  r.int32(); // throttle_time_ms
  const brokers = r.array(() => {
    const nodeId = r.int32();
    const host = r.string() ?? '';
    const port = r.int32();
    r.string(); // rack
    return { nodeId, host, port };
  });
  r.string(); // cluster_id
  r.int32(); // controller_id
  const topics = r.array(() => {
    const errorCode = r.int16();
    const name = r.string() ?? '';
    r.int8(); // is_internal
    const parts = r.array(() => {
      r.int16(); // partition error_code (LEADER_NOT_AVAILABLE shows as leader -1)
      const index = r.int32();
      const leader = r.int32();
      r.array(() => r.int32()); // replicas
      r.array(() => r.int32()); // isr
      return { index, leader };
    });
    const leaders: number[] = new Array(parts.length).fill(-1);
    for (const p of parts) if (p.index >= 0 && p.index < parts.length) leaders[p.index] = p.leader;
    return { name, errorCode, leaders };
  });
  return { brokers, topics };
}

export function decodeInitProducerIdResponse(body: Buffer): ProducerIdentity {
  const r = new ResponseReader(body);
  r.int32(); // throttle_time_ms
  const errorCode = r.int16();
  const producerId = r.int64();
  const producerEpoch = r.int16();
  if (errorCode !== 0) throw new KafkaProtocolError(errorCode, 'InitProducerId');
  return { producerId, producerEpoch };
}

export interface PartitionResult {
  readonly topic: string;
  readonly partition: number;
  readonly errorCode: number;
  readonly baseOffset: bigint;
}

export function decodeProduceResponse(body: Buffer): PartitionResult[] {
  const r = new ResponseReader(body);
  const out: PartitionResult[] = [];
  r.array(() => {
    const topic = r.string() ?? '';
    r.array(() => {
      const partition = r.int32();
      const errorCode = r.int16();
      const baseOffset = r.int64();
      r.int64(); // log_append_time_ms
      r.int64(); // log_start_offset
      out.push({ topic, partition, errorCode, baseOffset });
    });
  });
  r.int32(); // throttle_time_ms
  return out;
}
