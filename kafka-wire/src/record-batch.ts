/**
 * RecordBatch v2 (magic 2), the one definition of Kafka's record bytes in this repository: the header layout and
 * attribute bits, zigzag varints, the batch header writer both producers use (protocol.ts for the edge, the
 * transactional producer's opaque batches), a bounds-checked varint reader, and a reader of the committed data
 * records of fetched bytes (read_committed: control batches and batches of aborted transactions skipped). core-native's
 * TypeScript twin builds its record transform on these; its Rust crate repeats the constants (core-native's drift
 * test holds them equal). Compression (the codec bits, compressing and decompressing records sections) is in compression.ts.
 */

/** Byte offsets of the header fields, and its size (61 bytes). The CRC-32C covers `attributes` to the batch's end. */
export const BATCH_HEADER = {
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordCount: 57,
  bytes: 61,
} as const;
export const BATCH_HEADER_BYTES = BATCH_HEADER.bytes;
export const RECORD_BATCH_MAGIC = 2;

/** Bits of the attributes field. */
export const BATCH_ATTRIBUTES = {
  compressionMask: 0x07,
  logAppendTime: 0x08,
  transactional: 0x10,
  control: 0x20,
} as const;

/** Compression codec names by the attributes' codec number. */
export const COMPRESSION_CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;

// ---------- varints ----------

/** Zigzag of a 32-bit integer, as an unsigned 32-bit value. */
export const zigzag = (n: number): number => ((n << 1) ^ (n >> 31)) >>> 0;
/** Bytes of the varint of an unsigned 32-bit value (a zigzag result). */
export const varintSize = (z: number): number =>
  z < 0x80 ? 1 : z < 0x4000 ? 2 : z < 0x200000 ? 3 : z < 0x10000000 ? 4 : 5;

/** Writes the varint of an unsigned 32-bit value (a zigzag result) at `at`; returns the offset after it. */
export function writeVarint(buf: Uint8Array, at: number, z: number): number {
  while (z >= 0x80) {
    buf[at++] = (z & 0x7f) | 0x80;
    z >>>= 7;
  }
  buf[at++] = z;
  return at;
}

/** Bounds-checked reader of zigzag varints over [at, end); `bad` is set instead of throwing (hostile input). */
export class VarintCursor {
  bad = false;
  constructor(
    readonly b: Uint8Array,
    public at: number,
    public end: number,
  ) {}

  varint(): number {
    let raw = 0;
    for (let shift = 0; shift <= 28; shift += 7) {
      if (this.at >= this.end) {
        this.bad = true;
        return 0;
      }
      const x = this.b[this.at++] as number;
      raw |= (x & 0x7f) << shift;
      if (x < 0x80) return (raw >>> 1) ^ -(raw & 1);
    }
    this.bad = true; // longer than 5 bytes
    return 0;
  }

  /** A zigzag varlong as a number when it fits 2^53 exactly, else as a bigint. */
  varlong(): number | bigint {
    let raw = 0;
    let big: bigint | undefined;
    for (let shift = 0; shift <= 63; shift += 7) {
      if (this.at >= this.end) {
        this.bad = true;
        return 0;
      }
      const x = this.b[this.at++] as number;
      if (big === undefined && shift <= 42) raw += (x & 0x7f) * 2 ** shift;
      else {
        big ??= BigInt(raw);
        big |= BigInt(x & 0x7f) << BigInt(shift);
      }
      if (x < 0x80) {
        if (big === undefined) return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
        const u = BigInt.asUintN(64, big);
        return BigInt.asIntN(64, (u >> 1n) ^ -(u & 1n));
      }
    }
    this.bad = true; // longer than 10 bytes
    return 0;
  }

  /** Length-prefixed bytes: [start, end) or null (-1); sets bad for other negatives or overruns. */
  bytes(): [number, number] | null {
    const n = this.varint();
    if (this.bad) return null;
    if (n === -1) return null;
    if (n < 0 || n > this.end - this.at) {
      this.bad = true;
      return null;
    }
    const s = this.at;
    this.at += n;
    return [s, this.at];
  }
}

// ---------- writing ----------

export interface BatchHeaderFields {
  /** Header plus records, in bytes. */
  readonly batchBytes: number;
  readonly attributes: number;
  readonly recordCount: number;
  readonly baseTimestampMs: number;
  readonly maxTimestampMs: number;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly baseSequence: number;
}

/**
 * Writes a producer's batch header at `start`, all but the CRC (which covers the records, written after it): base
 * offset 0 and leader epoch -1 (the broker sets both), magic 2, offset deltas 0..count-1.
 */
export function writeBatchHeader(buf: Buffer, start: number, h: BatchHeaderFields): void {
  buf.writeBigInt64BE(0n, start + BATCH_HEADER.baseOffset);
  buf.writeInt32BE(h.batchBytes - 12, start + BATCH_HEADER.batchLength); // after baseOffset and itself
  buf.writeInt32BE(-1, start + BATCH_HEADER.partitionLeaderEpoch);
  buf[start + BATCH_HEADER.magic] = RECORD_BATCH_MAGIC;
  buf.writeInt16BE(h.attributes, start + BATCH_HEADER.attributes);
  buf.writeInt32BE(h.recordCount - 1, start + BATCH_HEADER.lastOffsetDelta);
  buf.writeBigInt64BE(BigInt(h.baseTimestampMs), start + BATCH_HEADER.baseTimestamp);
  buf.writeBigInt64BE(BigInt(h.maxTimestampMs), start + BATCH_HEADER.maxTimestamp);
  buf.writeBigInt64BE(h.producerId, start + BATCH_HEADER.producerId);
  buf.writeInt16BE(h.producerEpoch, start + BATCH_HEADER.producerEpoch);
  buf.writeInt32BE(h.baseSequence, start + BATCH_HEADER.baseSequence);
  buf.writeInt32BE(h.recordCount, start + BATCH_HEADER.recordCount);
}

// ---------- reading fetched bytes ----------

export interface AbortedTransactionRef {
  readonly producerId: bigint;
  readonly firstOffset: bigint;
}

/** One committed data record: its offset and timestamp, and [start, end) ranges of the fetched bytes. */
export interface RecordView {
  readonly offset: bigint;
  readonly timestampMs: number;
  readonly key: readonly [number, number] | null;
  readonly value: readonly [number, number] | null;
  /** Name and value ranges, in order; a null value is null. */
  readonly headers: readonly (readonly [readonly [number, number], readonly [number, number] | null])[];
}

/**
 * Calls `visit` for every committed data record at or after `fetchOffset` in the RecordBatch v2 bytes of one fetched
 * partition: control batches and the batches of aborted transactions (read_committed) are skipped, a truncated last
 * batch is left for the next fetch. Throws on a compressed batch, another magic or unreadable records (uncompressed
 * batches, as this repository's producers write them, are what it reads). Returns the next offset to fetch.
 */
export function forEachCommittedRecord(
  buf: Buffer,
  fetchOffset: bigint,
  aborted: readonly AbortedTransactionRef[],
  visit: (r: RecordView) => void,
): bigint {
  let next = fetchOffset;
  const abortedList = [...aborted].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : 1));
  let abortedAt = 0;
  const activeAborted = new Set<bigint>();
  for (let at = 0; at + BATCH_HEADER_BYTES <= buf.length; ) {
    const baseOffset = buf.readBigInt64BE(at + BATCH_HEADER.baseOffset);
    const size = 12 + buf.readInt32BE(at + BATCH_HEADER.batchLength);
    if (at + size > buf.length) break; // truncated tail: fetched again from `next`
    const magic = buf.readInt8(at + BATCH_HEADER.magic);
    if (magic !== RECORD_BATCH_MAGIC) throw new Error(`record batch magic ${magic} at offset ${baseOffset}`);
    const attributes = buf.readInt16BE(at + BATCH_HEADER.attributes);
    if ((attributes & BATCH_ATTRIBUTES.compressionMask) !== 0)
      throw new Error(`compressed record batch at offset ${baseOffset}`);
    const lastOffset = baseOffset + BigInt(buf.readInt32BE(at + BATCH_HEADER.lastOffsetDelta));
    const producerId = buf.readBigInt64BE(at + BATCH_HEADER.producerId);
    while (
      abortedAt < abortedList.length &&
      (abortedList[abortedAt] as AbortedTransactionRef).firstOffset <= lastOffset
    )
      activeAborted.add((abortedList[abortedAt++] as AbortedTransactionRef).producerId);
    const control = (attributes & BATCH_ATTRIBUTES.control) !== 0;
    const transactional = (attributes & BATCH_ATTRIBUTES.transactional) !== 0;
    if (control) activeAborted.delete(producerId);
    else if (!(transactional && activeAborted.has(producerId))) {
      const baseTimestamp = Number(buf.readBigInt64BE(at + BATCH_HEADER.baseTimestamp));
      const count = buf.readInt32BE(at + BATCH_HEADER.recordCount);
      const c = new VarintCursor(buf, at + BATCH_HEADER_BYTES, at + size);
      for (let r = 0; r < count; r++) {
        const length = c.varint();
        const end = c.at + length;
        c.at++; // attributes
        const timestampDelta = Number(c.varlong());
        const offset = baseOffset + BigInt(c.varint());
        const key = c.bytes();
        const value = c.bytes();
        const headers: [[number, number], [number, number] | null][] = [];
        const headerCount = c.varint();
        for (let h = 0; h < headerCount && !c.bad; h++) {
          const name = c.bytes();
          const v = c.bytes();
          if (name) headers.push([name, v]);
        }
        if (c.bad || c.at !== end) throw new Error(`unreadable record ${r} in the batch at offset ${baseOffset}`);
        if (offset >= fetchOffset) visit({ offset, timestampMs: baseTimestamp + timestampDelta, key, value, headers });
      }
    }
    next = lastOffset + 1n > next ? lastOffset + 1n : next;
    at += size;
  }
  return next;
}
