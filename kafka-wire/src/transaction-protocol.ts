/**
 * Encoders and decoders (pure, no I/O) for the producer side of Kafka transactions: InitProducerId v1 with a
 * transactional id, AddPartitionsToTxn v2, AddOffsetsToTxn v2, EndTxn v2, TxnOffsetCommit v3 (the first version
 * carrying the consumer's generation id, member id and group instance id, KIP-447; flexible encoding), and Produce v7
 * with one RecordBatch v2 per partition built around an OPAQUE records section (the bytes core-native's
 * transformRecordSets returns: varint-framed records with offsetDelta 0..count-1): only the 61-byte batch header and
 * its CRC-32C are written here. Versions are the newest non-flexible ones the 4.1 broker still accepts (it keeps
 * InitProducerId 0-5, AddPartitionsToTxn 0-5, AddOffsetsToTxn 0-4, EndTxn 0-5, TxnOffsetCommit 0-5, Produce 0-13),
 * except TxnOffsetCommit, where the group fence needs v3. Reference: https://kafka.apache.org/protocol.
 */

import { RequestWriter, ResponseReader } from './consumer-codec.ts';
import { crc32c as crc32cTs } from './protocol.ts';
import {
  BATCH_ATTRIBUTES,
  BATCH_HEADER,
  BATCH_HEADER_BYTES,
  VarintCursor,
  varintSize,
  writeBatchHeader,
  writeVarint,
  zigzag,
} from './record-batch.ts';

export const TXN_APIS = {
  produce: { key: 0, version: 7 },
  initProducerId: { key: 22, version: 1 },
  addPartitionsToTxn: { key: 24, version: 2 },
  addOffsetsToTxn: { key: 25, version: 2 },
  endTxn: { key: 26, version: 2 },
  txnOffsetCommit: { key: 28, version: 3 },
} as const;

/** CRC-32C of a whole byte range (core-native's `crc32c` has this shape; the default is protocol.ts's). */
export type Crc32c = (bytes: Uint8Array) => number;
export const defaultCrc32c: Crc32c = (bytes) => crc32cTs(bytes);

export interface ProducerIdAndEpoch {
  readonly producerId: bigint;
  readonly producerEpoch: number;
}

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** Groups (topic, partition) pairs by topic, keeping first-seen order (each topic appears once in a request). */
export function groupByTopic<T extends TopicPartition>(items: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const list = out.get(it.topic);
    if (list) list.push(it);
    else out.set(it.topic, [it]);
  }
  return out;
}

// ---------- InitProducerId v1 ----------

export function encodeInitProducerIdTxnRequest(
  correlationId: number,
  clientId: Buffer,
  transactionalId: string | null,
  transactionTimeoutMs: number,
): Buffer {
  return new RequestWriter(64 + (transactionalId?.length ?? 0) * 3)
    .header(TXN_APIS.initProducerId.key, TXN_APIS.initProducerId.version, correlationId, clientId, false)
    .string(transactionalId)
    .int32(transactionTimeoutMs)
    .finish();
}

export interface InitProducerIdResult extends ProducerIdAndEpoch {
  readonly errorCode: number;
}

export function decodeInitProducerIdTxnResponse(body: Buffer): InitProducerIdResult {
  const r = new ResponseReader(body);
  r.int32(); // throttle_time_ms
  const errorCode = r.int16();
  const producerId = r.int64();
  const producerEpoch = r.int16();
  return { errorCode, producerId, producerEpoch };
}

// ---------- AddPartitionsToTxn v2 ----------

export interface TxnRequestBase extends ProducerIdAndEpoch {
  readonly transactionalId: string;
}

export function encodeAddPartitionsToTxnRequest(
  correlationId: number,
  clientId: Buffer,
  txn: TxnRequestBase,
  partitions: readonly TopicPartition[],
): Buffer {
  const w = new RequestWriter(128 + partitions.length * 8)
    .header(TXN_APIS.addPartitionsToTxn.key, TXN_APIS.addPartitionsToTxn.version, correlationId, clientId, false)
    .string(txn.transactionalId)
    .int64(txn.producerId)
    .int16(txn.producerEpoch);
  w.array([...groupByTopic(partitions)], ([topic, list]) => {
    w.string(topic).array(list, (p) => {
      w.int32(p.partition);
    });
  });
  return w.finish();
}

/** Per-partition error codes of a response (every partition the request named). */
export interface PartitionError extends TopicPartition {
  readonly errorCode: number;
}

export function decodeAddPartitionsToTxnResponse(body: Buffer): PartitionError[] {
  const r = new ResponseReader(body);
  r.int32(); // throttle_time_ms
  const out: PartitionError[] = [];
  r.array(() => {
    const topic = r.string() ?? '';
    r.array(() => {
      const partition = r.int32();
      const errorCode = r.int16();
      out.push({ topic, partition, errorCode });
    });
  });
  return out;
}

// ---------- AddOffsetsToTxn v2 and EndTxn v2 ----------

export function encodeAddOffsetsToTxnRequest(
  correlationId: number,
  clientId: Buffer,
  txn: TxnRequestBase,
  groupId: string,
): Buffer {
  return new RequestWriter(128)
    .header(TXN_APIS.addOffsetsToTxn.key, TXN_APIS.addOffsetsToTxn.version, correlationId, clientId, false)
    .string(txn.transactionalId)
    .int64(txn.producerId)
    .int16(txn.producerEpoch)
    .string(groupId)
    .finish();
}

export function encodeEndTxnRequest(
  correlationId: number,
  clientId: Buffer,
  txn: TxnRequestBase,
  commit: boolean,
): Buffer {
  return new RequestWriter(96)
    .header(TXN_APIS.endTxn.key, TXN_APIS.endTxn.version, correlationId, clientId, false)
    .string(txn.transactionalId)
    .int64(txn.producerId)
    .int16(txn.producerEpoch)
    .bool(commit)
    .finish();
}

/** AddOffsetsToTxn and EndTxn answer the same way: throttle time and one error code. */
export function decodeErrorCodeResponse(body: Buffer): number {
  const r = new ResponseReader(body);
  r.int32(); // throttle_time_ms
  return r.int16();
}

// ---------- TxnOffsetCommit v3 (flexible) ----------

export interface TxnOffsetCommitPartition extends TopicPartition {
  /** The next offset to consume (the last processed offset + 1), as the consumer commits it. */
  readonly offset: bigint;
  /** Leader epoch of the last consumed record when known, else -1. */
  readonly leaderEpoch?: number;
  readonly metadata?: string | null;
}

export interface TxnOffsetCommitRequest extends TxnRequestBase {
  readonly groupId: string;
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly partitions: readonly TxnOffsetCommitPartition[];
}

export function encodeTxnOffsetCommitRequest(
  correlationId: number,
  clientId: Buffer,
  req: TxnOffsetCommitRequest,
): Buffer {
  const w = new RequestWriter(256 + req.partitions.length * 24)
    .header(TXN_APIS.txnOffsetCommit.key, TXN_APIS.txnOffsetCommit.version, correlationId, clientId, true)
    .compactString(req.transactionalId)
    .compactString(req.groupId)
    .int64(req.producerId)
    .int16(req.producerEpoch)
    .int32(req.generationId)
    .compactString(req.memberId)
    .compactString(req.groupInstanceId);
  w.compactArray([...groupByTopic(req.partitions)], ([topic, list]) => {
    w.compactString(topic);
    w.compactArray(list, (p) => {
      w.int32(p.partition)
        .int64(p.offset)
        .int32(p.leaderEpoch ?? -1)
        .compactString(p.metadata ?? null)
        .tags();
    });
    w.tags();
  });
  return w.tags().finish();
}

export function decodeTxnOffsetCommitResponse(body: Buffer): PartitionError[] {
  const r = new ResponseReader(body);
  r.tags(); // response header v1
  r.int32(); // throttle_time_ms
  const out: PartitionError[] = [];
  r.compactArray(() => {
    const topic = r.compactString() ?? '';
    r.compactArray(() => {
      const partition = r.int32();
      const errorCode = r.int16();
      r.tags();
      out.push({ topic, partition, errorCode });
    });
    r.tags();
  });
  r.tags();
  return out;
}

// ---------- Produce v7 around opaque records sections ----------

/** One partition's records as core-native returns them, with the producer's sequence number for this batch. */
export interface OpaqueBatch extends TopicPartition {
  /** The records section of a RecordBatch v2: `count` varint-framed records, offsetDelta 0..count-1. */
  readonly records: Uint8Array;
  readonly count: number;
  /** The batch's base timestamp (records' timestampDelta is relative to it) and its largest record timestamp. */
  readonly firstTimestampMs: number;
  readonly maxTimestampMs: number;
  readonly baseSequence: number;
  /** Compression codec of `records` (attributes bits 0-2: 3 lz4, 4 zstd, 1 gzip); absent or 0: uncompressed. */
  readonly codec?: number;
}

export interface ProduceHeader extends ProducerIdAndEpoch {
  /** Set for transactional batches (attributes bit 4), null for idempotent ones. */
  readonly transactionalId: string | null;
  readonly acks: number;
  readonly timeoutMs: number;
}

export { BATCH_HEADER_BYTES };

const CRC_START = BATCH_HEADER.attributes; // the CRC covers attributes onwards

/** Bytes one batch adds to a Produce request (partition index, records length, header, records). */
export const batchRequestBytes = (b: { records: Uint8Array }): number => 4 + 4 + BATCH_HEADER_BYTES + b.records.length;

/** Bytes of the Produce request before its topics (size, header, transactional id, acks, timeout, topic count). */
export const produceRequestOverhead = (clientId: Buffer, transactionalId: string | null): number =>
  4 + 10 + clientId.length + 2 + (transactionalId === null ? 0 : Buffer.byteLength(transactionalId)) + 2 + 4 + 4;

/**
 * Produce v7 with one RecordBatch v2 per partition (at most one batch per partition: Kafka refuses more from v3 on),
 * as one Buffer: the records sections are copied in, the header, its lengths and the CRC-32C written around them.
 */
export function encodeOpaqueProduceRequest(
  correlationId: number,
  clientId: Buffer,
  head: ProduceHeader,
  batches: readonly OpaqueBatch[],
  crc32c: Crc32c = defaultCrc32c,
): Buffer {
  return encodeProduce(correlationId, clientId, head, batches, crc32c, true)[0] as Buffer;
}

/**
 * The same request as chunks for one writev, without copying the records sections: the framing (request header,
 * batch headers) sits in one small buffer, sliced around views of the callers' records. The batch CRC-32C is the
 * header's CRC combined with the records' (crc32cCombine), so `crc32c` runs over each records section in place.
 * The records must stay unchanged until the request is written.
 */
export function encodeOpaqueProduceChunks(
  correlationId: number,
  clientId: Buffer,
  head: ProduceHeader,
  batches: readonly OpaqueBatch[],
  crc32c: Crc32c = defaultCrc32c,
): Buffer[] {
  return encodeProduce(correlationId, clientId, head, batches, crc32c, false);
}

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

function encodeProduce(
  correlationId: number,
  clientId: Buffer,
  head: ProduceHeader,
  batches: readonly OpaqueBatch[],
  crc32c: Crc32c,
  copyRecords: boolean,
): Buffer[] {
  const byTopic = groupByTopic(batches);
  const names = new Map<string, Buffer>();
  let total = produceRequestOverhead(clientId, head.transactionalId);
  let recordBytes = 0;
  for (const [topic, list] of byTopic) {
    const name = Buffer.from(topic, 'utf8');
    names.set(topic, name);
    total += 2 + name.length + 4;
    const seen = new Set<number>();
    for (const b of list) {
      if (seen.has(b.partition)) throw new Error(`two batches for ${topic}/${b.partition} in one Produce request`);
      seen.add(b.partition);
      if (!Number.isInteger(b.count) || b.count < 1)
        throw new RangeError(`batch for ${topic}/${b.partition} has no records`);
      total += batchRequestBytes(b);
      recordBytes += b.records.length;
    }
  }
  // `buf` holds everything when copying, else only the framing; `at` is the position in `buf`.
  const buf = Buffer.allocUnsafe(copyRecords ? total : total - recordBytes);
  const chunks: Buffer[] = [];
  let chunkStart = 0;
  let at = 4;
  at = buf.writeInt16BE(TXN_APIS.produce.key, at);
  at = buf.writeInt16BE(TXN_APIS.produce.version, at);
  at = buf.writeInt32BE(correlationId, at);
  at = buf.writeInt16BE(clientId.length, at);
  at += clientId.copy(buf, at);
  if (head.transactionalId === null) at = buf.writeInt16BE(-1, at);
  else {
    const n = Buffer.byteLength(head.transactionalId);
    at = buf.writeInt16BE(n, at);
    at += buf.write(head.transactionalId, at, n, 'utf8');
  }
  at = buf.writeInt16BE(head.acks, at);
  at = buf.writeInt32BE(head.timeoutMs, at);
  at = buf.writeInt32BE(byTopic.size, at);
  // Create time, the transactional bit for transactional batches, not control; the batch's codec is added per batch.
  const attributes = head.transactionalId === null ? 0 : BATCH_ATTRIBUTES.transactional;
  for (const [topic, list] of byTopic) {
    const name = names.get(topic) as Buffer;
    at = buf.writeInt16BE(name.length, at);
    at += name.copy(buf, at);
    at = buf.writeInt32BE(list.length, at);
    for (const b of list) {
      at = buf.writeInt32BE(b.partition, at);
      const batchBytes = BATCH_HEADER_BYTES + b.records.length;
      at = buf.writeInt32BE(batchBytes, at);
      const start = at;
      writeBatchHeader(buf, start, {
        batchBytes,
        attributes: attributes | (b.codec ?? 0),
        recordCount: b.count,
        baseTimestampMs: b.firstTimestampMs,
        maxTimestampMs: b.maxTimestampMs,
        producerId: head.producerId,
        producerEpoch: head.producerEpoch,
        baseSequence: b.baseSequence,
      });
      if (copyRecords) {
        buf.set(b.records, start + BATCH_HEADER_BYTES);
        at = start + batchBytes;
        buf.writeUInt32BE(crc32c(buf.subarray(start + CRC_START, at)), start + BATCH_HEADER.crc);
      } else {
        at = start + BATCH_HEADER_BYTES;
        const headerCrc = crc32cTs(buf, start + CRC_START, at);
        buf.writeUInt32BE(crc32cCombine(headerCrc, crc32c(b.records), b.records.length), start + BATCH_HEADER.crc);
        chunks.push(buf.subarray(chunkStart, at), asBuffer(b.records));
        chunkStart = at;
      }
    }
  }
  if (at !== buf.length) throw new Error(`produce request encoded ${at} bytes, sized ${buf.length}`);
  buf.writeInt32BE(total - 4, 0);
  if (copyRecords) return [buf];
  if (chunkStart < at) chunks.push(buf.subarray(chunkStart, at));
  return chunks;
}

// ---------- CRC-32C of a concatenation from the CRCs of its parts ----------

/** c' = M·c over GF(2), the matrix as 32 column words. */
function gf2Times(mat: Uint32Array, vec: number): number {
  let sum = 0;
  for (let i = 0; vec !== 0; i++, vec >>>= 1) if (vec & 1) sum ^= mat[i] as number;
  return sum >>> 0;
}
function gf2Square(mat: Uint32Array): Uint32Array {
  const out = new Uint32Array(32);
  for (let n = 0; n < 32; n++) out[n] = gf2Times(mat, mat[n] as number);
  return out;
}

/** ZEROS[k]: the operator that appends 2^k zero bytes to a (reflected, Castagnoli) CRC register, as in zlib. */
const ZEROS: Uint32Array[] = (() => {
  const oneBit = new Uint32Array(32);
  oneBit[0] = 0x82f63b78;
  for (let n = 1; n < 32; n++) oneBit[n] = (1 << (n - 1)) >>> 0;
  const fourBits = gf2Square(gf2Square(oneBit));
  const ops = [gf2Square(fourBits)]; // one zero byte
  for (let k = 1; k < 32; k++) ops.push(gf2Square(ops[k - 1] as Uint32Array));
  return ops;
})();

/** CRC-32C of A‖B from crc(A), crc(B) and B's length (zlib's crc32_combine with precomputed operators). */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  let crc = crcA >>> 0;
  for (let k = 0, n = lengthB; n > 0; k++, n = Math.floor(n / 2))
    if (n % 2 === 1) crc = gf2Times(ZEROS[k] as Uint32Array, crc);
  return (crc ^ crcB) >>> 0;
}

// ---------- splitting a records section that is too large for one batch ----------

/** Where the varint (or varlong: `maxBytes` 10) at `at` ends; throws when it is cut or too long. No allocation. */
function skipVarint(b: Uint8Array, at: number, maxBytes: number): number {
  const end = Math.min(b.length, at + maxBytes);
  for (let i = at; i < end; i++) if ((b[i] as number) < 0x80) return i + 1;
  throw new Error('records section truncated inside a varint, or one too long');
}

export interface RecordsPiece {
  readonly records: Uint8Array;
  readonly count: number;
}

/**
 * Splits a records section into pieces of at most `maxPieceBytes` (records never split; a single larger record is an
 * error), renumbering each piece's offsetDeltas from 0 (the broker requires 0..count-1 inside a batch). Timestamps
 * stay relative to the same base, so each piece keeps the original firstTimestampMs. Used only when one partition's
 * output is too large for one batch; the common path sends the section untouched.
 */
export function splitRecords(records: Uint8Array, count: number, maxPieceBytes: number): RecordsPiece[] {
  // Pass 1: record boundaries (no allocation per record: the transformer splits thousands of records per call).
  const starts = new Uint32Array(count + 1);
  const cursor = new VarintCursor(records, 0, records.length);
  for (let i = 0; i < count; i++) {
    const at = cursor.at;
    const length = cursor.varint();
    if (cursor.bad) throw new Error('records section truncated inside a varint, or one too long');
    const end = cursor.at + length;
    if (end > records.length || end <= cursor.at) throw new Error(`records section: record ${i} overruns its bytes`);
    starts[i] = at;
    cursor.at = end;
  }
  if (cursor.at !== records.length)
    throw new Error(`records section: ${records.length - cursor.at} bytes after ${count} records`);
  starts[count] = cursor.at;

  const pieces: RecordsPiece[] = [];
  let first = 0;
  while (first < count) {
    // Sized with the original bytes: a renumbered offsetDelta is never larger than the original (i - first <= i), so
    // neither is its record.
    let last = first;
    let bytes = 0;
    while (last < count) {
      const recordBytes = (starts[last + 1] as number) - (starts[last] as number);
      if (bytes + recordBytes > maxPieceBytes && last > first) break;
      if (recordBytes > maxPieceBytes)
        throw new RangeError(`record ${last} alone is larger than ${maxPieceBytes} bytes`);
      bytes += recordBytes;
      last++;
    }
    const out = Buffer.allocUnsafe(bytes);
    let o = 0;
    for (let i = first; i < last; i++) {
      const s = starts[i] as number;
      const e = starts[i + 1] as number;
      const bodyAt = skipVarint(records, s, 5);
      const deltaAt = skipVarint(records, bodyAt + 1, 10); // after attributes, the timestampDelta varlong
      const restAt = skipVarint(records, deltaAt, 5);
      const newDelta = zigzag(i - first);
      const bodyLength = e - bodyAt - (restAt - deltaAt) + varintSize(newDelta);
      o = writeVarint(out, o, zigzag(bodyLength));
      out.set(records.subarray(bodyAt, deltaAt), o); // attributes and timestampDelta
      o += deltaAt - bodyAt;
      o = writeVarint(out, o, newDelta);
      out.set(records.subarray(restAt, e), o);
      o += e - restAt;
    }
    pieces.push({ records: out.subarray(0, o), count: last - first });
    first = last;
  }
  return pieces;
}
