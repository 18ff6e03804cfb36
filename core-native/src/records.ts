/**
 * transformRecordSets, the TypeScript twin of `crates/core/src/records.rs`: decodes the raw `records` bytes of a
 * fetch (RecordBatch v2: CRC-32C, gzip, control batches, aborted transactions), normalizes every data record in one
 * normalizeBatch call and encodes the outputs as ready-to-send Record entries per output topic-partition, with the
 * transformer's source headers. No JS object per record on the way. The rules are in README "transformRecordSets";
 * both implementations must give the same bytes. Not for Kafka I/O (kafka-wire does that).
 */
import { COPIED_HEADER_MAX_BYTES, COPIED_HEADERS, OUTPUT_HEADERS, PROVIDERS as PROVIDER_NAMES } from '@pep/contracts';
import { DecompressError, decompress } from '@pep/kafka-wire/compression';
import { crc32c, partitionForKey } from '@pep/kafka-wire/protocol';
import {
  BATCH_ATTRIBUTES,
  BATCH_HEADER_BYTES,
  COMPRESSION_CODECS,
  BATCH_HEADER as H,
  writeVarint as putVarint,
  RECORD_BATCH_MAGIC,
  VarintCursor,
  varintSize as vsize,
  zigzag as zz,
} from '@pep/kafka-wire/record-batch';
import { decodeUtf8 } from './json.ts';
import { iso, MAX_MS, MIN_MS, parseRfc3339 } from './time.ts';
import {
  type BatchResult,
  type FetchedRecordSet,
  LIMITS,
  type OutputPartition,
  type RawBatch,
  TRANSFORM_LIMITS,
  type TransformedFetch,
  type TransformOptions,
} from './types.ts';

const te = new TextEncoder();

/** Header names on every output (OUTPUT_HEADERS of @pep/contracts). */
const H_TOPIC = te.encode(OUTPUT_HEADERS.sourceTopic);
const H_PARTITION = te.encode(OUTPUT_HEADERS.sourcePartition);
const H_OFFSET = te.encode(OUTPUT_HEADERS.sourceOffset);
const H_OUTPUT = te.encode(OUTPUT_HEADERS.sourceOutput);
const H_LAST_OFFSET = te.encode(OUTPUT_HEADERS.sourceLastOffset);
const H_OVERSIZE = te.encode(OUTPUT_HEADERS.oversizeReplaced);
/** Input headers copied to the outputs (first occurrence, valid UTF-8, at most COPIED_HEADER_MAX_BYTES). */
const COPIED = [te.encode(COPIED_HEADERS[0]), te.encode(COPIED_HEADERS[1]), te.encode(COPIED_HEADERS[2])] as const;
/** A corrupt batch's lastOffsetDelta is trusted for its report's range only below this. */
const MAX_TRUSTED_OFFSET_DELTA = 1 << 24;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Kafka's legal topic names (so byte and UTF-16 lengths agree between the implementations). */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export const BATCH_REPORT_CODES = {
  corrupt: 'CORRUPT_RECORD_BATCH',
  compression: 'UNSUPPORTED_COMPRESSION',
  magic: 'UNSUPPORTED_MAGIC',
  tooLarge: 'RECORD_BATCH_TOO_LARGE',
} as const;

type Bytes = Uint8Array;

interface Report {
  set: number;
  first: number;
  last: number;
  code: string;
  reason: string;
}

/** Grows a byte buffer for one output topic-partition's records. */
class PartitionWriter {
  buf = Buffer.allocUnsafe(4096);
  len = 0;
  count = 0;
  constructor(readonly partition: number) {}
  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}

/** Appends one Record (offsetDelta = records so far, timestampDelta 0, attributes 0) to w. */
function writeRecord(w: PartitionWriter, key: Bytes | null, value: Bytes, headers: readonly Bytes[]): void {
  const delta = w.count;
  let body = 2 + vsize(zz(delta)) + (key === null ? 1 : vsize(zz(key.length)) + key.length);
  body += vsize(zz(value.length)) + value.length + vsize(zz(headers.length / 2));
  for (const h of headers) body += vsize(zz(h.length)) + h.length;
  w.reserve(vsize(zz(body)) + body);
  const b = w.buf;
  let at = putVarint(b, w.len, zz(body));
  b[at++] = 0;
  b[at++] = 0;
  at = putVarint(b, at, zz(delta));
  if (key === null) b[at++] = 1;
  else {
    at = putVarint(b, at, zz(key.length));
    b.set(key, at);
    at += key.length;
  }
  at = putVarint(b, at, zz(value.length));
  b.set(value, at);
  at += value.length;
  at = putVarint(b, at, zz(headers.length / 2));
  for (const h of headers) {
    at = putVarint(b, at, zz(h.length));
    b.set(h, at);
    at += h.length;
  }
  w.len = at;
  w.count++;
}

function sameBytes(b: Bytes, s: number, e: number, name: Bytes): boolean {
  if (e - s !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (b[s + i] !== name[i]) return false;
  return true;
}

/** One decoded data record of a batch. */
interface DataRecord {
  offset: number;
  valueStart: number;
  valueEnd: number;
  timestampMs: number;
  copied: (Bytes | null)[];
}

/** Decodes `count` records from region[at, end); undefined when any is unreadable. */
function decodeRecords(
  region: Bytes,
  at: number,
  end: number,
  count: number,
  baseOffset: number,
  lastOffsetDelta: number,
  baseTimestamp: bigint,
  logAppendTimeMs: number | undefined,
): DataRecord[] | undefined {
  if (count < 0 || count > end - at) return undefined;
  const out: DataRecord[] = [];
  const c = new VarintCursor(region, at, end);
  const baseTsNum = baseTimestamp >= -(1n << 52n) && baseTimestamp < 1n << 52n ? Number(baseTimestamp) : undefined;
  let prevDelta = -1;
  for (let i = 0; i < count; i++) {
    const len = c.varint();
    if (c.bad || len < 0 || len > c.end - c.at) return undefined;
    const recEnd = c.at + len;
    const outerEnd = c.end;
    c.end = recEnd;
    c.at++; // attributes (unused); the bounds check below catches a record shorter than this byte
    const tsDelta = c.varlong();
    const offsetDelta = c.varint();
    c.bytes(); // key (the output key comes from the normalizer)
    const value = c.bytes();
    const headerCount = c.varint();
    if (c.bad || c.at > recEnd || headerCount < 0 || headerCount > recEnd - c.at) return undefined;
    const copied: (Bytes | null)[] = [null, null, null];
    const seen = [false, false, false];
    for (let h = 0; h < headerCount; h++) {
      const k = c.bytes();
      if (c.bad || k === null) return undefined; // a null header key is invalid (Java refuses it too)
      const v = c.bytes();
      if (c.bad) return undefined;
      for (let j = 0; j < 3; j++) {
        if (!seen[j] && sameBytes(region, k[0], k[1], COPIED[j] as Bytes)) {
          seen[j] = true; // the first occurrence wins, even when its value is null
          if (v !== null && v[1] - v[0] <= COPIED_HEADER_MAX_BYTES) {
            const bytes = region.subarray(v[0], v[1]);
            if (decodeUtf8(bytes) !== undefined) copied[j] = bytes;
          }
        }
      }
    }
    if (c.at !== recEnd) return undefined;
    if (offsetDelta <= prevDelta || offsetDelta > lastOffsetDelta) return undefined;
    prevDelta = offsetDelta;
    c.end = outerEnd;
    let ts: number;
    if (logAppendTimeMs !== undefined) ts = logAppendTimeMs;
    else if (typeof tsDelta === 'number' && baseTsNum !== undefined && Math.abs(tsDelta) < 2 ** 52) {
      ts = baseTsNum + tsDelta;
    } else ts = Number(BigInt.asIntN(64, baseTimestamp + BigInt(tsDelta)));
    out.push({
      offset: baseOffset + offsetDelta,
      valueStart: value === null ? 0 : value[0],
      valueEnd: value === null ? 0 : value[1],
      timestampMs: ts,
      copied,
    });
  }
  if (c.at !== end) return undefined;
  return out;
}

/** Receive time: the received-at header (RFC 3339), else the record timestamp when positive; NaN otherwise. */
function receivedAt(r: DataRecord): number {
  const h = r.copied[0];
  if (h) {
    const ms = parseRfc3339(decodeUtf8(h) as string);
    if (ms !== undefined) return ms;
  }
  return r.timestampMs > 0 ? r.timestampMs : Number.NaN;
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new RangeError(message);
}

const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

export function checkTransformArgs(sets: readonly FetchedRecordSet[], opts: TransformOptions): number {
  check(Array.isArray(sets), 'sets must be an array');
  check(
    sets.length <= TRANSFORM_LIMITS.maxSets,
    `sets has ${sets.length} entries; the maximum is ${TRANSFORM_LIMITS.maxSets}`,
  );
  check(isInt(opts.normalizedAtMs, MIN_MS, MAX_MS), 'normalizedAtMs must be an integer Unix time in milliseconds');
  check(
    isInt(opts.normalizedPartitions, 1, TRANSFORM_LIMITS.maxPartitions),
    `normalizedPartitions must be an integer in 1..${TRANSFORM_LIMITS.maxPartitions}`,
  );
  check(
    isInt(opts.dlqPartitions, 1, TRANSFORM_LIMITS.maxPartitions),
    `dlqPartitions must be an integer in 1..${TRANSFORM_LIMITS.maxPartitions}`,
  );
  check(
    isInt(opts.maxRecordBytes, TRANSFORM_LIMITS.minRecordBytes, TRANSFORM_LIMITS.maxRecordBytes),
    `maxRecordBytes must be an integer in ${TRANSFORM_LIMITS.minRecordBytes}..${TRANSFORM_LIMITS.maxRecordBytes}`,
  );
  const maxRecords = opts.maxRecords ?? TRANSFORM_LIMITS.maxRecords;
  check(
    isInt(maxRecords, 1, TRANSFORM_LIMITS.maxRecords),
    `maxRecords must be an integer in 1..${TRANSFORM_LIMITS.maxRecords}`,
  );
  sets.forEach((s, i) => {
    check(typeof s.topic === 'string' && TOPIC_NAME.test(s.topic), `sets[${i}].topic must be a Kafka topic name`);
    check(isInt(s.provider, 0, 255), `sets[${i}].provider must be an integer in 0..255`);
    check(isInt(s.partition, 0, 2 ** 31 - 1), `sets[${i}].partition must be a non-negative int32`);
    check(s.records instanceof Uint8Array, `sets[${i}].records must be a Uint8Array`);
    check(
      typeof s.fetchOffset === 'bigint' && s.fetchOffset >= 0n && s.fetchOffset <= MAX_SAFE,
      `sets[${i}].fetchOffset must be a bigint in 0..2^53-1`,
    );
    check(
      Array.isArray(s.abortedTransactions) && s.abortedTransactions.length <= TRANSFORM_LIMITS.maxAbortedTransactions,
      `sets[${i}].abortedTransactions must be an array of at most ${TRANSFORM_LIMITS.maxAbortedTransactions}`,
    );
    for (const a of s.abortedTransactions) {
      check(
        typeof a.producerId === 'bigint' &&
          typeof a.firstOffset === 'bigint' &&
          BigInt.asIntN(64, a.producerId) === a.producerId &&
          BigInt.asIntN(64, a.firstOffset) === a.firstOffset,
        `sets[${i}].abortedTransactions entries need int64 bigint producerId and firstOffset`,
      );
    }
  });
  return maxRecords;
}

const dlqValueHead = (eventId: string, provider: string, providerEventId: string) =>
  `{"event_id":${eventId},"provider":${provider},"provider_event_id":${providerEventId},"item_index":null,` +
  `"original_payload":null,"original_payload_encoding":null,"validation_errors":[`;

/** The batch report: one DLQ record standing for a batch that could not be read (the bytes stay in Kafka). */
function reportValue(r: Report, set: FetchedRecordSet, normalizedAtMs: number): Bytes {
  const provider = PROVIDER_NAMES[set.provider];
  const message = `record batch at offsets ${r.first}..${r.last}: ${r.reason}; the raw bytes stay in Kafka`;
  return te.encode(
    dlqValueHead('null', provider === undefined ? 'null' : `"${provider}"`, 'null') +
      `{"field":"record_batch","code":"${r.code}","message":${JSON.stringify(message)}}],` +
      `"failure_reason":"${r.code}","source_topic":${JSON.stringify(set.topic)},"kafka_partition":${set.partition},` +
      `"kafka_offset":${r.first},"kafka_last_offset":${r.last},"received_at":null,` +
      `"quarantined_at":"${iso(normalizedAtMs)}","schema_version":1}`,
  );
}

/** messageBytes of test/kafkajs-reference.ts (the retired kafkajs transformer's), in bytes: value + key + header names and values + 64. */
function outputBytes(key: Bytes | null, value: Bytes, headers: readonly Bytes[]): number {
  let n = value.length + (key?.length ?? 0) + 64;
  for (const h of headers) n += h.length;
  return n;
}

/** The first three members of one of our JSON records (event_id, provider, provider_event_id), as JSON text. */
function idTokens(value: Bytes): [string, string, string] {
  try {
    const v = JSON.parse(Buffer.from(value.buffer, value.byteOffset, value.length).toString('utf8'));
    const t = (x: unknown) => JSON.stringify(x ?? null);
    return [t(v.event_id), t(v.provider), t(v.provider_event_id)];
  } catch {
    return ['null', 'null', 'null'];
  }
}

/** oversizeDlqRecord of test/kafkajs-reference.ts, with quarantined_at = normalizedAtMs. Returns [value, headers]. */
function oversizeReplacement(
  value: Bytes,
  headers: readonly Bytes[],
  what: string,
  set: FetchedRecordSet,
  offset: number,
  normalizedAtMs: number,
): [Bytes, Bytes[]] {
  const [eventId, provider, providerEventId] = idTokens(value);
  let receivedAtText = 'null';
  for (let i = 0; i < headers.length; i += 2) {
    if (sameBytes(headers[i] as Bytes, 0, (headers[i] as Bytes).length, COPIED[0])) {
      receivedAtText = JSON.stringify(decodeUtf8(headers[i + 1] as Bytes));
    }
  }
  const message = `${what} of ${value.length} bytes exceeds the output record limit; the raw record stays at its source coordinates`;
  const out = te.encode(
    dlqValueHead(eventId, provider, providerEventId) +
      `{"field":"payload","code":"RECORD_TOO_LARGE","message":${JSON.stringify(message)}}],` +
      `"failure_reason":"RECORD_TOO_LARGE","source_topic":${JSON.stringify(set.topic)},` +
      `"kafka_partition":${set.partition},"kafka_offset":${offset},"received_at":${receivedAtText},` +
      `"quarantined_at":"${iso(normalizedAtMs)}","schema_version":1}`,
  );
  const h = [...headers];
  let replaced = false;
  for (let i = 0; i < h.length; i += 2) {
    if (sameBytes(h[i] as Bytes, 0, (h[i] as Bytes).length, H_OVERSIZE)) {
      h[i + 1] = te.encode(what);
      replaced = true;
    }
  }
  if (!replaced) h.push(H_OVERSIZE, te.encode(what));
  return [out, h];
}

/**
 * The JavaScript twin of the native transform (`transform_record_sets` of crates/core/src/records.rs), unit for unit:
 * `walkRecordSet` per set (`nextBatch` frames and checks a batch, `filterBatch` applies read_committed, `takeRecords`
 * takes its data records), `normalizeTaken`, `emitPlan` (`emitReport`, `emitRecord`), `finishOutput`.
 */
export function transformRecordSetsJs(
  sets: readonly FetchedRecordSet[],
  opts: TransformOptions,
  normalize: (batch: RawBatch, normalizedAtMs: number) => BatchResult,
): TransformedFetch {
  const maxRecords = checkTransformArgs(sets, opts);
  const w = new Walk(sets.length, maxRecords);
  for (let si = 0; si < sets.length; si++) walkRecordSet(w, si, sets[si] as FetchedRecordSet);
  const [out, receivedAtMs] = normalizeTaken(sets, w, opts, normalize);
  const em = new Emitter(opts);
  emitPlan(em, sets, w, out);
  return finishOutput(w, em, receivedAtMs);
}

/** What walking one fetch collects: the taken data records, the batch reports and the order to emit them in. */
class Walk {
  readonly nextOffsets: BigInt64Array;
  readonly consumed: Uint32Array;
  readonly pendingBatchBytes: Uint32Array;
  skippedControl = 0;
  skippedAborted = 0;
  skippedBelow = 0;
  // Taken data records in call order, and the emission plan (record index j >= 0, or report -(k + 1)).
  readonly values: Bytes[] = [];
  readonly recOffset: number[] = [];
  readonly recSet: number[] = [];
  readonly recReceived: number[] = [];
  readonly recCopied: (Bytes | null)[][] = [];
  readonly reports: Report[] = [];
  readonly plan: number[] = [];
  valueBytes = 0;
  full = false;

  constructor(
    nSets: number,
    readonly maxRecords: number,
  ) {
    this.nextOffsets = new BigInt64Array(nSets);
    this.consumed = new Uint32Array(nSets);
    this.pendingBatchBytes = new Uint32Array(nSets);
  }

  /** A batch report of the cursor's set. */
  report(first: number, last: number, code: string, reason: string, cur: SetCursor): void {
    if (last < cur.next) return; // wholly below the fetch offset: already consumed
    const f = Math.max(first, cur.next);
    const l = Math.max(f, last);
    this.plan.push(-(this.reports.length + 1));
    this.reports.push({ set: cur.si, first: f, last: l, code, reason });
    cur.next = l + 1;
  }
}

/** Where the walk of one set stands: its next offset and Kafka's read_committed state. */
interface SetCursor {
  si: number;
  next: number;
  aborted: { firstOffset: bigint; producerId: bigint }[];
  abortedAt: number;
  abortedProducers: Set<bigint>;
  /** Where the next batch starts in the set's records. */
  pos: number;
  buf: Bytes;
  view: DataView;
}

/** The checked header of the batch at buf[start, start + total). */
interface Batch {
  start: number;
  total: number;
  base: number;
  lod: number;
  lastOffset: number;
  codec: number;
  logAppendTime: boolean;
  transactional: boolean;
  control: boolean;
  producerId: bigint;
  count: number;
  /** Wholly below the fetch offset. */
  below: boolean;
  headerCount: number;
}

/** What nextBatch found: the end of what this fetch can read of the set, a bad batch (reported and passed), or a
 * batch to filter. */
type Framed = 'end' | 'skip' | Batch;

/** Walks one set's batches until its end or until the fetch is full; sets its next offset. */
function walkRecordSet(w: Walk, si: number, set: FetchedRecordSet): void {
  w.nextOffsets[si] = set.fetchOffset;
  if (w.full) return;
  const aborted = [...set.abortedTransactions].sort((a, b) =>
    a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0,
  );
  const buf = set.records;
  const cur: SetCursor = {
    si,
    next: Number(set.fetchOffset),
    aborted,
    abortedAt: 0,
    abortedProducers: new Set<bigint>(),
    pos: 0,
    buf,
    view: new DataView(buf.buffer, buf.byteOffset, buf.byteLength),
  };
  while (cur.pos < buf.length) {
    if (w.values.length >= w.maxRecords) {
      w.full = true;
      break;
    }
    const b = nextBatch(w, cur);
    if (b === 'end') break;
    if (b === 'skip') continue;
    if (!filterBatch(w, cur, b)) continue;
    if (takeRecords(w, cur, b)) {
      w.full = true;
      break;
    }
  }
  w.nextOffsets[si] = BigInt(cur.next);
}

/** Frames the batch at the cursor's position (moving it past the batch) and checks its magic, header length, CRC and
 * offsets; a bad batch is reported. */
function nextBatch(w: Walk, cur: SetCursor): Framed {
  const { buf, view } = cur;
  const rem = buf.length - cur.pos;
  if (rem < 12) return 'end'; // an incomplete batch at the end: the next fetch returns it whole
  const baseOffsetBig = view.getBigInt64(cur.pos);
  const batchLength = view.getInt32(cur.pos + H.batchLength);
  const baseOk = baseOffsetBig >= 0n && baseOffsetBig <= MAX_SAFE;
  // Where a report of this batch starts: its base offset, or the next offset when that is unreadable.
  const base = baseOk ? Number(baseOffsetBig) : cur.next;
  if (batchLength < 5) {
    // Cannot even reach the magic byte: the rest of this set cannot be framed.
    w.report(cur.next, cur.next, BATCH_REPORT_CODES.corrupt, `batch length ${batchLength} is invalid`, cur);
    return 'end';
  }
  const total = 12 + batchLength;
  if (total > rem) {
    w.pendingBatchBytes[cur.si] = Math.min(total, 0xffffffff);
    return 'end';
  }
  const start = cur.pos;
  cur.pos += total;
  const pos = cur.pos;
  const magic = view.getInt8(start + H.magic);
  if (magic !== RECORD_BATCH_MAGIC) {
    w.report(base, base, BATCH_REPORT_CODES.magic, `record format magic ${magic} is not supported (only 2)`, cur);
    return 'skip';
  }
  if (total < BATCH_HEADER_BYTES) {
    w.report(base, base, BATCH_REPORT_CODES.corrupt, 'the batch is shorter than its 61-byte header', cur);
    return 'skip';
  }
  const lod = view.getInt32(start + H.lastOffsetDelta);
  const crc = view.getUint32(start + H.crc);
  if (crc32c(buf, start + H.attributes, start + total) !== crc) {
    let last =
      baseOk && lod >= 0 && lod < MAX_TRUSTED_OFFSET_DELTA && base + lod <= Number.MAX_SAFE_INTEGER ? base + lod : base;
    // Never let an untrusted range swallow the next batch in this fetch.
    if (pos + 8 <= buf.length) {
      const nb = view.getBigInt64(pos);
      if (nb > baseOffsetBig && nb <= MAX_SAFE) last = Math.min(last, Number(nb) - 1);
    }
    w.report(base, last, BATCH_REPORT_CODES.corrupt, 'CRC-32C mismatch', cur);
    return 'skip';
  }
  if (!baseOk || lod < 0 || base + lod > Number.MAX_SAFE_INTEGER) {
    w.report(cur.next, cur.next, BATCH_REPORT_CODES.corrupt, 'batch offsets are out of range', cur);
    return 'skip';
  }
  const lastOffset = base + lod;
  const attributes = view.getInt16(start + H.attributes);
  const count = view.getInt32(start + H.recordCount);
  return {
    start,
    total,
    base,
    lod,
    lastOffset,
    codec: attributes & BATCH_ATTRIBUTES.compressionMask,
    logAppendTime: (attributes & BATCH_ATTRIBUTES.logAppendTime) !== 0,
    transactional: (attributes & BATCH_ATTRIBUTES.transactional) !== 0,
    control: (attributes & BATCH_ATTRIBUTES.control) !== 0,
    producerId: view.getBigInt64(start + H.producerId),
    count,
    below: lastOffset < cur.next,
    headerCount: Math.max(0, count),
  };
}

/** The records section of the batch at buf[start, start + total) (decompressed when needed), or a report's code
 * and reason when it cannot be had. */
function loadRegion(
  buf: Bytes,
  start: number,
  total: number,
  codec: number,
): [Bytes, number, number] | [string, string] {
  const s = start + BATCH_HEADER_BYTES;
  const e = start + total;
  if (e - s > TRANSFORM_LIMITS.maxBatchRecordsBytes) {
    return [BATCH_REPORT_CODES.tooLarge, `records exceed ${TRANSFORM_LIMITS.maxBatchRecordsBytes} bytes`];
  }
  if (codec === 0) return [buf, s, e];
  if (codec > 4) {
    const name = COMPRESSION_CODECS[codec] ?? 'unknown';
    return [BATCH_REPORT_CODES.compression, `compression codec ${name} (${codec}) is not supported`];
  }
  try {
    const out = decompress(codec, buf.subarray(s, e), TRANSFORM_LIMITS.maxBatchRecordsBytes);
    return [out, 0, out.length];
  } catch (err) {
    if (err instanceof DecompressError && err.tooLarge) {
      return [BATCH_REPORT_CODES.tooLarge, `records exceed ${TRANSFORM_LIMITS.maxBatchRecordsBytes} bytes`];
    }
    return [BATCH_REPORT_CODES.corrupt, `the ${COMPRESSION_CODECS[codec]} data is corrupt`];
  }
}

/** Kafka's read_committed rule (the Java consumer's, see README): aborted transactions up to this batch's last offset
 * mark their producers; an ABORT marker ends that; a transactional batch of a marked producer is dropped. Then
 * control batches and batches wholly below the fetch offset: true when the batch has data records to take. */
function filterBatch(w: Walk, cur: SetCursor, b: Batch): boolean {
  if (b.producerId >= 0n) {
    const aborted = cur.aborted;
    while (cur.abortedAt < aborted.length && (aborted[cur.abortedAt]?.firstOffset as bigint) <= BigInt(b.lastOffset)) {
      cur.abortedProducers.add((aborted[cur.abortedAt] as { producerId: bigint }).producerId);
      cur.abortedAt++;
    }
    if (b.control) {
      const r = loadRegion(cur.buf, b.start, b.total, b.codec);
      const recs =
        typeof r[0] === 'string'
          ? undefined
          : decodeRecords(r[0], r[1] as number, r[2] as number, b.count, b.base, b.lod, 0n, undefined);
      // The marker type is the first record's key: int16 version, int16 type (0 = ABORT).
      const firstKey = recs !== undefined && recs.length > 0 ? controlKey(r[0] as Bytes, r[1] as number) : undefined;
      if (recs === undefined || (recs.length > 0 && firstKey === undefined)) {
        if (!b.below) {
          const why = typeof r[0] === 'string' ? (r[1] as string) : 'a control record cannot be read';
          w.report(b.base, b.lastOffset, typeof r[0] === 'string' ? r[0] : BATCH_REPORT_CODES.corrupt, why, cur);
        }
        return false;
      }
      if (firstKey === 0) cur.abortedProducers.delete(b.producerId);
    } else if (b.transactional && cur.abortedProducers.has(b.producerId)) {
      if (!b.below) {
        w.skippedAborted += b.headerCount;
        cur.next = b.lastOffset + 1;
      }
      return false;
    }
  }
  if (b.control) {
    if (!b.below) {
      w.skippedControl += b.headerCount;
      cur.next = b.lastOffset + 1;
    }
    return false;
  }
  if (b.below) {
    w.skippedBelow += b.headerCount;
    return false;
  }
  return true;
}

/** Decodes the batch's data records and takes those at or above the next offset while the fetch has room; true when
 * the fetch is full (the rest of the batch stays for the next fetch). */
function takeRecords(w: Walk, cur: SetCursor, b: Batch): boolean {
  const r = loadRegion(cur.buf, b.start, b.total, b.codec);
  if (typeof r[0] === 'string') {
    w.report(b.base, b.lastOffset, r[0], r[1] as string, cur);
    return false;
  }
  const [data, rs, re] = r as [Bytes, number, number];
  const baseTimestamp = cur.view.getBigInt64(b.start + H.baseTimestamp);
  const maxTimestamp = cur.view.getBigInt64(b.start + H.maxTimestamp);
  const recs = decodeRecords(
    data,
    rs,
    re,
    b.count,
    b.base,
    b.lod,
    baseTimestamp,
    b.logAppendTime ? Number(maxTimestamp) : undefined,
  );
  if (recs === undefined) {
    w.report(b.base, b.lastOffset, BATCH_REPORT_CODES.corrupt, 'a record cannot be read', cur);
    return false;
  }
  for (const rec of recs) {
    if (rec.offset < cur.next) {
      w.skippedBelow++;
      continue;
    }
    const len = rec.valueEnd - rec.valueStart;
    if (
      w.values.length > 0 &&
      (w.values.length >= w.maxRecords || w.valueBytes + len > TRANSFORM_LIMITS.maxValueBytes)
    ) {
      return true;
    }
    w.plan.push(w.values.length);
    w.values.push(data.subarray(rec.valueStart, rec.valueEnd));
    w.valueBytes += len;
    w.recOffset.push(rec.offset);
    w.recSet.push(cur.si);
    w.recReceived.push(receivedAt(rec));
    w.recCopied.push(rec.copied);
    w.consumed[cur.si] = (w.consumed[cur.si] as number) + 1;
    cur.next = rec.offset + 1;
  }
  cur.next = Math.max(cur.next, b.lastOffset + 1);
  return false;
}

/** One normalizer call for the whole fetch; returns its result and the records' received_at. */
function normalizeTaken(
  sets: readonly FetchedRecordSet[],
  w: Walk,
  opts: TransformOptions,
  normalize: (batch: RawBatch, normalizedAtMs: number) => BatchResult,
): [BatchResult, Float64Array] {
  const { values, recSet, recOffset } = w;
  const n = values.length;
  const data = Buffer.allocUnsafe(w.valueBytes);
  const offsets = new Uint32Array(n);
  const lengths = new Uint32Array(n);
  const providers = new Uint8Array(n);
  const topicIndex = new Uint16Array(n);
  const partitions = new Int32Array(n);
  const kafkaOffsets = new Float64Array(n);
  const receivedAtMs = Float64Array.from(w.recReceived);
  const topics: string[] = [];
  const topicIds = new Map<string, number>();
  let at = 0;
  for (let j = 0; j < n; j++) {
    const v = values[j] as Bytes;
    data.set(v, at);
    offsets[j] = at;
    lengths[j] = v.length;
    at += v.length;
    const set = sets[recSet[j] as number] as FetchedRecordSet;
    providers[j] = set.provider;
    let t = topicIds.get(set.topic);
    if (t === undefined) {
      t = topics.length;
      topics.push(set.topic);
      topicIds.set(set.topic, t);
    }
    topicIndex[j] = t;
    partitions[j] = set.partition;
    kafkaOffsets[j] = recOffset[j] as number;
  }
  check(n <= LIMITS.maxBatchMessages, 'internal: too many records for one normalizer call');
  const out = normalize(
    { data, offsets, lengths, providers, topics, topicIndex, partitions, kafkaOffsets, receivedAtMs },
    opts.normalizedAtMs,
  );
  return [out, receivedAtMs];
}

/** The output partitions of both topics, created on first use, and the DLQ write with its oversize replacement. */
class Emitter {
  readonly normWriters = new Map<number, PartitionWriter>();
  readonly dlqWriters = new Map<number, PartitionWriter>();
  oversize = 0;
  /** The next unwritten event and DLQ record of the normalizer's output. */
  ei = 0;
  di = 0;

  constructor(readonly opts: TransformOptions) {}

  get(dlq: boolean, p: number): PartitionWriter {
    const m = dlq ? this.dlqWriters : this.normWriters;
    let w = m.get(p);
    if (!w) {
      w = new PartitionWriter(p);
      m.set(p, w);
    }
    return w;
  }

  dlq(key: Bytes | null, value: Bytes, headers: Bytes[], set: FetchedRecordSet, offset: number): void {
    let v = value;
    let h = headers;
    if (outputBytes(key, v, h) > this.opts.maxRecordBytes) {
      [v, h] = oversizeReplacement(v, h, 'validation DLQ record', set, offset, this.opts.normalizedAtMs);
      this.oversize++;
    }
    const p = key === null ? set.partition % this.opts.dlqPartitions : partitionForKey(key, this.opts.dlqPartitions);
    writeRecord(this.get(true, p), key, v, h);
  }
}

/** Writes the plan in order: each batch report, and each taken record's outputs. */
function emitPlan(em: Emitter, sets: readonly FetchedRecordSet[], w: Walk, out: BatchResult): void {
  const setHeaders = sets.map((s) => [H_TOPIC, te.encode(s.topic), H_PARTITION, te.encode(String(s.partition))]);
  for (const item of w.plan) {
    if (item < 0) emitReport(em, sets, w.reports[-item - 1] as Report);
    else emitRecord(em, sets, w, out, setHeaders, item);
  }
}

/** One batch report into the DLQ. */
function emitReport(em: Emitter, sets: readonly FetchedRecordSet[], r: Report): void {
  const set = sets[r.set] as FetchedRecordSet;
  const headers = [
    H_TOPIC,
    te.encode(set.topic),
    H_PARTITION,
    te.encode(String(set.partition)),
    H_OFFSET,
    te.encode(String(r.first)),
    H_OUTPUT,
    te.encode('0/1'),
    H_LAST_OFFSET,
    te.encode(String(r.last)),
  ];
  const v = reportValue(r, set, em.opts.normalizedAtMs);
  writeRecord(em.get(true, set.partition % em.opts.dlqPartitions), null, v, headers);
}

const sub = (b: Bytes, o: number, l: number) => b.subarray(o, o + l);

/** The normalizer's outputs for taken record `j` (its DLQ records, then its events) with their source headers; an
 * event over the record limit goes to the DLQ as an oversize replacement. */
function emitRecord(
  em: Emitter,
  sets: readonly FetchedRecordSet[],
  w: Walk,
  out: BatchResult,
  setHeaders: readonly Bytes[][],
  j: number,
): void {
  const { opts } = em;
  const ev = out.events;
  const dl = out.dlq;
  const set = sets[w.recSet[j] as number] as FetchedRecordSet;
  const offset = w.recOffset[j] as number;
  const { di, ei } = em;
  let dEnd = di;
  while (dEnd < dl.sourceIndex.length && dl.sourceIndex[dEnd] === j) dEnd++;
  let eEnd = ei;
  while (eEnd < ev.sourceIndex.length && ev.sourceIndex[eEnd] === j) eEnd++;
  const total = dEnd - di + (eEnd - ei);
  // The normalizer answers every input with at least one record; anything else is a bug, not data.
  check(total > 0, `internal: the normalizer produced no output for ${set.topic}/${set.partition}@${offset}`);
  const common = [...(setHeaders[w.recSet[j] as number] as Bytes[]), H_OFFSET, te.encode(String(offset)), H_OUTPUT];
  const copied = w.recCopied[j] as (Bytes | null)[];
  // Ordinals 0..total: the DLQ records first, then the events.
  for (let ordinal = 0; ordinal < total; ordinal++) {
    const headers = [...common, te.encode(`${ordinal}/${total}`)];
    for (let c = 0; c < 3; c++) {
      const v = copied[c];
      if (v) headers.push(COPIED[c] as Bytes, v);
    }
    let k = di + ordinal;
    if (k < dEnd) {
      const kl = dl.keyLengths[k] as number;
      const key = kl === 0 ? null : sub(dl.keys, dl.keyOffsets[k] as number, kl);
      em.dlq(key, sub(dl.data, dl.offsets[k] as number, dl.lengths[k] as number), headers, set, offset);
      continue;
    }
    k = ei + (k - dEnd);
    const key = sub(ev.keys, ev.keyOffsets[k] as number, ev.keyLengths[k] as number);
    const value = sub(ev.data, ev.offsets[k] as number, ev.lengths[k] as number);
    if (outputBytes(key, value, headers) > opts.maxRecordBytes) {
      const [v, h] = oversizeReplacement(value, headers, 'normalized event', set, offset, opts.normalizedAtMs);
      em.oversize++;
      em.dlq(key, v, h, set, offset);
    } else {
      writeRecord(em.get(false, partitionForKey(key, opts.normalizedPartitions)), key, value, headers);
    }
  }
  em.di = dEnd;
  em.ei = eEnd;
}

/** The encoded outputs and the counters. */
function finishOutput(w: Walk, em: Emitter, receivedAtMs: Float64Array): TransformedFetch {
  const at = em.opts.normalizedAtMs;
  const finish = (m: Map<number, PartitionWriter>): OutputPartition[] =>
    [...m.values()]
      .sort((a, b) => a.partition - b.partition)
      .map((pw) => ({
        partition: pw.partition,
        records: pw.buf.subarray(0, pw.len),
        count: pw.count,
        firstTimestampMs: at,
        maxTimestampMs: at,
      }));
  const normalized = finish(em.normWriters);
  const dlq = finish(em.dlqWriters);
  const sum = (ps: OutputPartition[]) => ps.reduce((s, p) => s + p.count, 0);
  return {
    normalized,
    dlq,
    nextOffsets: w.nextOffsets,
    consumed: w.consumed,
    pendingBatchBytes: w.pendingBatchBytes,
    receivedAtMs,
    counters: {
      records: w.values.length,
      normalized: sum(normalized),
      dlq: sum(dlq),
      skippedControl: w.skippedControl,
      skippedAborted: w.skippedAborted,
      skippedBelowFetchOffset: w.skippedBelow,
      oversizeReplaced: em.oversize,
      batchReports: w.reports.length,
    },
  };
}

/** The control type (int16 after the int16 version) of the first record's key, or undefined when unreadable. */
function controlKey(region: Bytes, at: number): number | undefined {
  const c = new VarintCursor(region, at, region.length);
  const len = c.varint();
  if (c.bad || len < 0) return undefined;
  c.end = Math.min(region.length, c.at + len);
  c.at++;
  c.varlong();
  c.varint();
  const key = c.bytes();
  if (c.bad || key === null || key[1] - key[0] < 4) return undefined;
  return ((region[key[0] + 2] as number) << 8) | (region[key[0] + 3] as number);
}
