/**
 * Feast's Redis online-store layout (feast 0.67, `entity_key_serialization_version: 3`), so that what the
 * TypeScript writer stores is what Feast's SDK reads, and the other way round (reference infrastructure.md section
 * 10; tested both ways in test/feast-layout.test.ts against the real SDK):
 * - one HASH per entity; key = serialized entity key followed by the project name;
 * - field `_ts:<feature_view>` = a protobuf `google.protobuf.Timestamp` (the row's event time);
 * - every other field = 4-byte little-endian murmur3_32 (seed 0) of `"<view>:<feature>"`;
 * - values = serialized `feast.types.Value` protobufs (we write `double_val`, field 5).
 * Only the subset of protobuf this layout needs is encoded by hand (a few bytes per value, no schema compiler).
 * Beside Feast's fields, our writer keeps a packed copy of the row for serving (`packedField`).
 */
import { createHash } from 'node:crypto';

const VALUE_TYPE_STRING = 2;

/** Serialized entity key (v3) of one string join key, followed by the project: the Redis key of the entity's HASH. */
export function redisKey(joinKey: string, value: string, project: string): Buffer {
  // One allocation per key (serving builds ~130 per 64-event batch), the strings written in place.
  const nameLen = Buffer.byteLength(joinKey, 'utf8');
  const valLen = Buffer.byteLength(value, 'utf8');
  const out = Buffer.allocUnsafe(4 + 8 + nameLen + 8 + valLen + Buffer.byteLength(project, 'utf8'));
  let o = out.writeUInt32LE(1, 0);
  o = out.writeUInt32LE(VALUE_TYPE_STRING, o);
  o = out.writeUInt32LE(nameLen, o);
  o += out.write(joinKey, o, 'utf8');
  o = out.writeUInt32LE(VALUE_TYPE_STRING, o);
  o = out.writeUInt32LE(valLen, o);
  o += out.write(value, o, 'utf8');
  out.write(project, o, 'utf8');
  return out;
}

/** MurmurHash3 x86 32-bit (what Feast's `mmh3.hash(…, signed=False)` computes), seed 0 by default. */
export function murmur3_32(data: Uint8Array, seed = 0): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const n = data.length;
  const blocks = n & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k =
      (data[i] as number) |
      ((data[i + 1] as number) << 8) |
      ((data[i + 2] as number) << 16) |
      ((data[i + 3] as number) << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (n & 3) {
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: murmur3's tail deliberately falls through
    case 3:
      k ^= (data[blocks + 2] as number) << 16;
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: murmur3's tail deliberately falls through
    case 2:
      k ^= (data[blocks + 1] as number) << 8;
    case 1:
      k ^= data[blocks] as number;
      k = Math.imul(k, c1);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, c2);
      h ^= k;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The HASH field of one feature: murmur3_32("<view>:<feature>") as 4 little-endian bytes. */
export function featureField(view: string, feature: string): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(murmur3_32(Buffer.from(`${view}:${feature}`, 'utf8')), 0);
  return b;
}

export const tsField = (view: string): Buffer => Buffer.from(`_ts:${view}`, 'utf8');

/** Length prefix of an absent value in a packed row and in the online reader's replies. */
export const MISSING_VALUE = 0xffff;

/**
 * Our packed copy of an entity's feature row, stored in the same HASH beside Feast's fields, so that serving reads one
 * field per entity instead of one per feature (Feast's SDK reads only its own fields and never sees it). The field is
 * named after the exact field list it packs (`_pep_packed:` + the first 16 hex digits of sha1 over the fields in
 * order), so a changed spec never reads an older packing. Only a cache: a reader checks each view's `_ts` field
 * against the copy and reads Feast's fields when they differ (Feast's SDK wrote after us) or the copy is missing.
 */
export function packedField(fields: readonly Buffer[]): Buffer {
  const h = createHash('sha1');
  for (const f of fields) h.update(lengthPrefix(f.length)).update(f);
  return Buffer.from(`_pep_packed:${h.digest('hex').slice(0, 16)}`, 'utf8');
}

/** The values of a row in field order, each as a 2-byte big-endian length and its bytes (null: absent). */
export function packValues(values: readonly (Buffer | null)[]): Buffer {
  const parts: Buffer[] = [];
  for (const v of values) {
    if (v === null) {
      parts.push(lengthPrefix(MISSING_VALUE));
      continue;
    }
    if (v.length >= MISSING_VALUE) throw new RangeError(`feature value of ${v.length} bytes cannot be packed`);
    parts.push(lengthPrefix(v.length), v);
  }
  return Buffer.concat(parts);
}

function lengthPrefix(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n, 0);
  return b;
}

function varint(n: number | bigint, out: number[]): void {
  let v = BigInt.asUintN(64, BigInt(n));
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

/** `feast.types.Value{double_val}`: tag (5 << 3 | 1) then 8 little-endian bytes. */
export function encodeDouble(x: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = 0x29;
  b.writeDoubleLE(x, 1);
  return b;
}

/**
 * `google.protobuf.Timestamp{seconds, nanos}` of an epoch time in microseconds (feature rows carry µs version times:
 * processor.ts).
 */
export function encodeTimestampUs(us: number): Buffer {
  if (!Number.isSafeInteger(us)) throw new RangeError(`timestamp ${us} µs is not an integer`);
  const seconds = Math.floor(us / 1_000_000);
  const nanos = (us - seconds * 1_000_000) * 1000;
  const out: number[] = [];
  if (seconds !== 0) {
    out.push(0x08);
    varint(seconds, out);
  }
  if (nanos !== 0) {
    out.push(0x10);
    varint(nanos, out);
  }
  return Buffer.from(out);
}

function readVarint(b: Uint8Array, at: { o: number }, end = b.length): bigint {
  let shift = 0n;
  let v = 0n;
  for (;;) {
    if (at.o >= end) throw new RangeError('truncated varint');
    const byte = b[at.o++] as number;
    v |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return v;
    shift += 7n;
    if (shift > 63n) throw new RangeError('varint too long');
  }
}

/**
 * A varint of at most 7 bytes (< 2^49) as a Number, or -1 when it is longer (then the BigInt reader decides). The hot
 * path of serving reads: timestamps (seconds < 2^35, nanos < 2^30) and tags never need BigInt, which cost ~10x.
 */
function readSmallVarint(b: Uint8Array, at: { o: number }, end = b.length): number {
  let v = 0;
  let mul = 1;
  for (let i = at.o; i < end && i < at.o + 7; i++) {
    const byte = b[i] as number;
    v += (byte & 0x7f) * mul;
    if ((byte & 0x80) === 0) {
      at.o = i + 1;
      return v;
    }
    mul *= 128;
  }
  return -1;
}

const varintAt = (b: Uint8Array, at: { o: number }, end: number): bigint | number => {
  const v = readSmallVarint(b, at, end);
  return v >= 0 ? v : readVarint(b, at, end);
};

/**
 * Epoch microseconds of a serialized Timestamp (unknown fields skipped); throws on malformed bytes. `start`/`end`: the
 * Timestamp's bytes inside `b` (serving reads them in place in the batch reply, without a view per value). Every
 * Timestamp we write (seconds and nanos, each a varint of at most 7 bytes) is read without a cursor object (~700 per
 * 64-event batch: ~30 KB of garbage, bench/ml); anything else goes through the general reader.
 */
export function decodeTimestampUs(b: Uint8Array, start = 0, end = b.length): number {
  let o = start;
  let seconds = 0;
  let nanos = 0;
  while (o < end) {
    const tag = b[o] as number;
    if (tag !== 0x08 && tag !== 0x10) return decodeTimestampAny(b, start, end);
    let v = 0;
    let mul = 1;
    let i = o + 1;
    for (; i < end && i < o + 8; i++) {
      const byte = b[i] as number;
      v += (byte & 0x7f) * mul;
      if ((byte & 0x80) === 0) break;
      mul *= 128;
    }
    if (i >= end || i >= o + 8) return decodeTimestampAny(b, start, end);
    o = i + 1;
    if (tag === 0x08) seconds = v;
    else nanos = v;
  }
  return seconds * 1_000_000 + Math.floor(nanos / 1000);
}

/** decodeTimestampUs for any Timestamp encoding (long varints, negative seconds, unexpected fields: a RangeError). */
function decodeTimestampAny(b: Uint8Array, start: number, end: number): number {
  const at = { o: start };
  let seconds: number | bigint = 0;
  let nanos: number | bigint = 0;
  while (at.o < end) {
    const tag = Number(varintAt(b, at, end));
    if (tag === 0x08) seconds = varintAt(b, at, end);
    else if (tag === 0x10) nanos = varintAt(b, at, end);
    else throw new RangeError(`unexpected Timestamp field tag ${tag}`);
  }
  if (typeof seconds === 'number' && typeof nanos === 'number') return seconds * 1_000_000 + Math.floor(nanos / 1000);
  return Number(BigInt.asIntN(64, BigInt(seconds)) * 1_000_000n + BigInt(nanos) / 1000n);
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

/**
 * A numeric `feast.types.Value` (double_val 5, float_val 6, int64_val 4, int32_val 3, bool_val 7); null for an empty
 * value or null_val; throws on anything else (a string where a number belongs is a layout error, not a zero).
 */
export function decodeNumber(b: Uint8Array): number | null {
  if (b.length === 0) return null;
  // double_val, what the consumer writes: 8 little-endian bytes after the tag, without a DataView per value.
  if (b[0] === 0x29 && b.length >= 9) {
    for (let i = 0; i < 8; i++) f64Bytes[i] = b[i + 1] as number;
    return f64[0] as number;
  }
  const at = { o: 0 };
  const tag = Number(readVarint(b, at));
  const field = tag >>> 3;
  const wire = tag & 7;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (field === 5 && wire === 1 && b.length >= 9) return view.getFloat64(at.o, true);
  if (field === 6 && wire === 5 && b.length >= 5) return view.getFloat32(at.o, true);
  if ((field === 4 || field === 3) && wire === 0) return Number(BigInt.asIntN(64, readVarint(b, at)));
  if (field === 7 && wire === 0) return Number(readVarint(b, at));
  if (field === 19) return null;
  throw new RangeError(`unsupported feast Value field ${field} (wire type ${wire})`);
}
