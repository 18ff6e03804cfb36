/**
 * Record-batch compression as Kafka writes it (the batch attributes' low three bits): gzip, snappy (raw, or the xerial
 * framing the Java client writes), lz4 (the LZ4 frame format) and zstd. Decoding for the TypeScript twin of
 * core-native (whose Rust core uses the snap, lz4_flex and ruzstd crates with the same rules, so both report the same
 * batches as corrupt or too large), encoding (lz4, zstd, gzip) for kafka-wire's producers.
 *
 * gzip and zstd use node:zlib (Node 24 and Bun both have zstd); snappy and LZ4 are decoded here because no maintained
 * pure-JS implementation of the LZ4 frame format exists (lz4js was last released in 2017) and snappy's xerial framing
 * is a few lines on top of the raw format. Every decoder stops at `maxBytes` of output.
 * Reference: https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md, lz4_Block_format.md, Snappy format_description.
 */

import * as zlib from 'node:zlib';
import { COMPRESSION_CODECS } from './record-batch.ts';

type ZlibFn = (b: Uint8Array, o: { maxOutputLength?: number; params?: Record<number, number> }) => Buffer;
/** zstd came to node:zlib in Node 22.15 (the platform runs Node 24; Bun has it too); @types/node 20 does not list it. */
const zstdZlib = zlib as unknown as { zstdCompressSync?: ZlibFn; zstdDecompressSync?: ZlibFn };
const ZSTD_C_COMPRESSION_LEVEL = 100;
function zstd(kind: 'zstdCompressSync' | 'zstdDecompressSync'): ZlibFn {
  const fn = zstdZlib[kind];
  if (!fn) throw new Error(`zstd needs Node 22.15 or newer (or Bun); this is ${process.version}`);
  return fn;
}

export const CODECS = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CodecName = keyof typeof CODECS;

/** Codecs kafka-wire's producers may write (KAFKA_COMPRESSION). */
export const PRODUCER_CODECS = ['none', 'lz4', 'zstd', 'gzip'] as const;
export type ProducerCodec = (typeof PRODUCER_CODECS)[number];

/** Why a records section could not be decompressed; `tooLarge` when it would exceed the caller's bound. */
export class DecompressError extends Error {
  override readonly name = 'DecompressError';
  constructor(
    readonly codec: string,
    readonly tooLarge: boolean,
  ) {
    super(tooLarge ? `the ${codec} data decompresses to more than the limit` : `the ${codec} data is corrupt`);
  }
}

/** Decompresses a records section of codec `codec` (1-4), at most `maxBytes` of output. Throws DecompressError. */
export function decompress(codec: number, data: Uint8Array, maxBytes: number): Buffer {
  const name = COMPRESSION_CODECS[codec] ?? 'unknown';
  try {
    switch (codec) {
      case 1:
        return zlibDecode(zlib.gunzipSync, data, maxBytes, 'gzip');
      case 2:
        return snappyDecode(data, maxBytes);
      case 3:
        return lz4FrameDecode(data, maxBytes);
      case 4:
        return zlibDecode(zstd('zstdDecompressSync'), data.subarray(0, zstdExtent(data)), maxBytes, 'zstd');
      default:
        throw new DecompressError(name, false);
    }
  } catch (err) {
    if (err instanceof DecompressError) throw err;
    throw new DecompressError(name, false);
  }
}

function zlibDecode(
  fn: (b: Uint8Array, o: { maxOutputLength: number }) => Buffer,
  data: Uint8Array,
  maxBytes: number,
  name: string,
): Buffer {
  if (data.length === 0) throw new DecompressError(name, false);
  try {
    return fn(data, { maxOutputLength: maxBytes });
  } catch (err) {
    throw new DecompressError(name, (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE');
  }
}

/** Compresses a records section for a producer; `none` returns the input. */
export function compress(codec: ProducerCodec, data: Uint8Array): Buffer {
  switch (codec) {
    case 'none':
      return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    case 'gzip':
      return zlib.gzipSync(data, { level: 6 });
    case 'zstd':
      return zstd('zstdCompressSync')(data, { params: { [ZSTD_C_COMPRESSION_LEVEL]: 3 } });
    case 'lz4':
      return lz4FrameEncode(data);
  }
}

/**
 * Where the zstd data ends: whole frames (and skippable frames) from the start; after the first frame, bytes that do not
 * start another frame end the data (what Node's zlib does). A truncated frame is corrupt. Node's and Bun's zlib differ
 * on truncated input (Bun returns what it decoded), so the frames are walked here first and zlib gets exactly them;
 * the Rust core applies the same rule.
 */
function zstdExtent(src: Uint8Array): number {
  const corrupt = () => new DecompressError('zstd', false);
  let i = 0;
  let frames = 0;
  while (i < src.length) {
    const magic = i + 4 <= src.length ? u32(src, i) : 0;
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      if (i + 8 > src.length) throw corrupt();
      i += 8 + u32(src, i + 4);
      if (i > src.length) throw corrupt();
      continue;
    }
    if (magic !== 0xfd2fb528) {
      if (frames > 0) return i;
      throw corrupt();
    }
    frames++;
    if (i + 5 > src.length) throw corrupt();
    const fhd = src[i + 4] as number;
    const single = (fhd & 0x20) !== 0;
    if ((fhd & 0x08) !== 0) throw corrupt(); // reserved bit
    const fcs = [single ? 1 : 0, 2, 4, 8][fhd >>> 6] as number;
    const dict = [0, 1, 2, 4][fhd & 3] as number;
    i += 5 + (single ? 0 : 1) + dict + fcs;
    for (;;) {
      if (i + 3 > src.length) throw corrupt();
      const h = (src[i] as number) | ((src[i + 1] as number) << 8) | ((src[i + 2] as number) << 16);
      const type = (h >>> 1) & 3;
      const size = h >>> 3;
      if (type === 3) throw corrupt();
      i += 3 + (type === 1 ? 1 : size);
      if (i > src.length) throw corrupt();
      if (h & 1) break;
    }
    if (fhd & 0x04) i += 4;
    if (i > src.length) throw corrupt();
  }
  if (frames === 0) throw corrupt();
  return i;
}

// ---------- xxHash32 (the LZ4 frame's header and content checksums) ----------

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;
const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
const u32 = (b: Uint8Array, i: number) =>
  ((b[i] as number) | ((b[i + 1] as number) << 8) | ((b[i + 2] as number) << 16) | ((b[i + 3] as number) << 24)) >>> 0;

export function xxh32(b: Uint8Array, start = 0, end = b.length, seed = 0): number {
  let i = start;
  let h: number;
  if (end - start >= 16) {
    let v1 = (seed + P1 + P2) >>> 0;
    let v2 = (seed + P2) >>> 0;
    let v3 = seed >>> 0;
    let v4 = (seed - P1) >>> 0;
    const round = (v: number, x: number) => Math.imul(rotl((v + Math.imul(x, P2)) >>> 0, 13), P1) >>> 0;
    for (; i + 16 <= end; i += 16) {
      v1 = round(v1, u32(b, i));
      v2 = round(v2, u32(b, i + 4));
      v3 = round(v3, u32(b, i + 8));
      v4 = round(v4, u32(b, i + 12));
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) >>> 0;
  } else h = (seed + P5) >>> 0;
  h = (h + (end - start)) >>> 0;
  for (; i + 4 <= end; i += 4) h = Math.imul(rotl((h + Math.imul(u32(b, i), P3)) >>> 0, 17), P4) >>> 0;
  for (; i < end; i++) h = Math.imul(rotl((h + Math.imul(b[i] as number, P5)) >>> 0, 11), P1) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, P2) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, P3) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

// ---------- LZ4 ----------

const LZ4_MAGIC = 0x184d2204;
const LZ4_BLOCK_SIZES = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

/** A growable output with a hard bound. */
class Out {
  buf: Buffer;
  len = 0;
  constructor(
    initial: number,
    private readonly max: number,
    private readonly codec: string,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(64, Math.min(initial, max)));
  }
  room(n: number): void {
    if (this.len + n > this.max) throw new DecompressError(this.codec, true);
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.min(this.max, Math.max(this.len + n, this.buf.length * 2)));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  result(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** One LZ4 block into `out`; matches may not reach before `windowStart` (the block start for independent blocks). */
function lz4Block(src: Uint8Array, start: number, end: number, out: Out, windowStart: number, blockMax: number): void {
  const corrupt = () => new DecompressError('lz4', false);
  const blockStart = out.len;
  let i = start;
  for (;;) {
    if (i >= end) throw corrupt();
    const token = src[i++] as number;
    let lit = token >>> 4;
    if (lit === 15) {
      for (;;) {
        if (i >= end) throw corrupt();
        const b = src[i++] as number;
        lit += b;
        if (b !== 255) break;
      }
    }
    if (i + lit > end) throw corrupt();
    if (out.len - blockStart + lit > blockMax) throw corrupt();
    out.room(lit);
    out.buf.set(src.subarray(i, i + lit), out.len);
    out.len += lit;
    i += lit;
    if (i === end) return; // the last sequence has literals only
    if (i + 2 > end) throw corrupt();
    const offset = (src[i] as number) | ((src[i + 1] as number) << 8);
    i += 2;
    if (offset === 0 || offset > out.len - windowStart) throw corrupt();
    let len = token & 15;
    if (len === 15) {
      for (;;) {
        if (i >= end) throw corrupt();
        const b = src[i++] as number;
        len += b;
        if (b !== 255) break;
      }
    }
    len += 4;
    if (out.len - blockStart + len > blockMax) throw corrupt();
    out.room(len);
    const buf = out.buf;
    let from = out.len - offset;
    for (let k = 0; k < len; k++) buf[out.len++] = buf[from++] as number;
  }
}

/** The LZ4 frame format (one or more frames back to back, as lz4_flex's FrameDecoder reads them). */
export function lz4FrameDecode(src: Uint8Array, maxBytes: number): Buffer {
  const corrupt = () => new DecompressError('lz4', false);
  // As the Rust core: a whole block is decoded (and found corrupt or not) before the output bound is checked.
  const out = new Out(src.length * 3, maxBytes + (4 << 20), 'lz4');
  let i = 0;
  if (src.length === 0) throw corrupt();
  while (i < src.length) {
    if (i + 7 > src.length || u32(src, i) !== LZ4_MAGIC) throw corrupt();
    const descStart = i + 4;
    const flg = src[i + 4] as number;
    const bd = src[i + 5] as number;
    if (flg >>> 6 !== 1 || (flg & 2) !== 0 || (flg & 1) !== 0 || (bd & 0x8f) !== 0) throw corrupt();
    const blockMax = LZ4_BLOCK_SIZES[(bd >>> 4) & 7] as number;
    if (blockMax === 0) throw corrupt();
    const independent = (flg & 0x20) !== 0;
    const blockChecksum = (flg & 0x10) !== 0;
    const contentSize = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    i += 6;
    if (contentSize) i += 8;
    if (i + 1 > src.length) throw corrupt();
    if (((xxh32(src, descStart, i) >>> 8) & 0xff) !== src[i]) throw corrupt();
    i++;
    const frameStart = out.len;
    for (;;) {
      if (i + 4 > src.length) throw corrupt();
      const word = u32(src, i);
      i += 4;
      if (word === 0) break;
      const size = word & 0x7fffffff;
      const raw = word !== size;
      if (size > blockMax || i + size + (blockChecksum ? 4 : 0) > src.length) throw corrupt();
      if (blockChecksum && xxh32(src, i, i + size) !== u32(src, i + size)) throw corrupt();
      if (raw) {
        out.room(size);
        out.buf.set(src.subarray(i, i + size), out.len);
        out.len += size;
      } else lz4Block(src, i, i + size, out, independent ? out.len : frameStart, blockMax);
      if (out.len > maxBytes) throw new DecompressError('lz4', true);
      i += size + (blockChecksum ? 4 : 0);
    }
    if (contentChecksum) {
      if (i + 4 > src.length || xxh32(out.buf, frameStart, out.len) !== u32(src, i)) throw corrupt();
      i += 4;
    }
  }
  return out.result();
}

const LZ4_FRAME_BLOCK = 64 << 10;
const HASH_BITS = 14;

/** Compresses one block (greedy, a 16 Ki-entry hash of 4-byte sequences); returns its length in `dst`. */
function lz4BlockEncode(src: Uint8Array, start: number, end: number, dst: Buffer, at: number): number {
  const table = new Int32Array(1 << HASH_BITS).fill(-1);
  const o0 = at;
  let anchor = start;
  let i = start;
  // The format's end rules: the last match starts at least 12 bytes before the end, the last 5 bytes are literals.
  const matchLimit = end - 12;
  const writeLen = (n: number) => {
    while (n >= 255) {
      dst[at++] = 255;
      n -= 255;
    }
    dst[at++] = n;
  };
  while (i < matchLimit) {
    const seq = u32(src, i);
    const h = Math.imul(seq, 2654435761) >>> (32 - HASH_BITS);
    const ref = table[h] as number;
    table[h] = i;
    if (ref < start || i - ref > 0xffff || u32(src, ref) !== seq) {
      i++;
      continue;
    }
    let len = 4;
    while (i + len < end - 5 && src[ref + len] === src[i + len]) len++;
    const lit = i - anchor;
    const tokenAt = at++;
    if (lit >= 15) writeLen(lit - 15);
    dst.set(src.subarray(anchor, i), at);
    at += lit;
    dst[at++] = (i - ref) & 0xff;
    dst[at++] = (i - ref) >>> 8;
    const ml = len - 4;
    if (ml >= 15) writeLen(ml - 15);
    dst[tokenAt] = (Math.min(lit, 15) << 4) | Math.min(ml, 15);
    i += len;
    anchor = i;
  }
  const lit = end - anchor;
  const tokenAt = at++;
  if (lit >= 15) writeLen(lit - 15);
  dst[tokenAt] = Math.min(lit, 15) << 4;
  dst.set(src.subarray(anchor, end), at);
  at += lit;
  return at - o0;
}

/** The LZ4 frame format as Kafka's Java client writes it: independent 64 KiB blocks, no checksums but the header's. */
export function lz4FrameEncode(src: Uint8Array): Buffer {
  const blocks = Math.ceil(src.length / LZ4_FRAME_BLOCK);
  // Worst case per block: raw (4-byte size + bytes).
  const dst = Buffer.allocUnsafe(7 + 4 + src.length + blocks * 4 + LZ4_FRAME_BLOCK / 255 + 16);
  dst.writeUInt32LE(LZ4_MAGIC, 0);
  dst[4] = 0x60; // version 01, independent blocks
  dst[5] = 0x40; // 64 KiB blocks
  dst[6] = (xxh32(dst, 4, 6) >>> 8) & 0xff;
  let at = 7;
  const scratch = Buffer.allocUnsafe(LZ4_FRAME_BLOCK + LZ4_FRAME_BLOCK / 255 + 16);
  for (let s = 0; s < src.length; s += LZ4_FRAME_BLOCK) {
    const e = Math.min(src.length, s + LZ4_FRAME_BLOCK);
    const n = lz4BlockEncode(src, s, e, scratch, 0);
    if (n < e - s) {
      dst.writeUInt32LE(n, at);
      scratch.copy(dst, at + 4, 0, n);
      at += 4 + n;
    } else {
      dst.writeUInt32LE(((e - s) | 0x80000000) >>> 0, at);
      dst.set(src.subarray(s, e), at + 4);
      at += 4 + (e - s);
    }
  }
  dst.writeUInt32LE(0, at);
  return dst.subarray(0, at + 4);
}

// ---------- snappy ----------

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);

/** Snappy as Kafka producers write it: xerial framing (Java, librdkafka) when the magic is there, else one raw block. */
export function snappyDecode(src: Uint8Array, maxBytes: number): Buffer {
  const out = new Out(src.length * 3, maxBytes, 'snappy');
  if (src.length >= 16 && XERIAL_MAGIC.equals(src.subarray(0, 8))) {
    const view = Buffer.from(src.buffer, src.byteOffset, src.byteLength);
    let i = 16;
    while (i < src.length) {
      if (i + 4 > src.length) throw new DecompressError('snappy', false);
      const n = view.readInt32BE(i);
      i += 4;
      if (n < 0 || i + n > src.length) throw new DecompressError('snappy', false);
      snappyRaw(src, i, i + n, out);
      i += n;
    }
  } else snappyRaw(src, 0, src.length, out);
  return out.result();
}

/** One raw snappy block (the snap crate's rules: the declared length must be met exactly, offsets inside the output). */
function snappyRaw(src: Uint8Array, start: number, end: number, out: Out): void {
  const corrupt = () => new DecompressError('snappy', false);
  let i = start;
  let declared = 0;
  for (let shift = 0; ; shift += 7) {
    if (i >= end || shift > 28) throw corrupt();
    const b = src[i++] as number;
    declared += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (declared > 0xffffffff) throw corrupt();
  const base = out.len;
  out.room(declared);
  const buf = out.buf;
  const limit = base + declared;
  let o = base;
  while (i < end) {
    const tag = src[i++] as number;
    let len: number;
    let offset: number;
    switch (tag & 3) {
      case 0: {
        len = tag >>> 2;
        if (len >= 60) {
          const bytes = len - 59;
          if (i + bytes > end) throw corrupt();
          len = 0;
          for (let k = 0; k < bytes; k++) len += (src[i + k] as number) * 2 ** (8 * k);
          i += bytes;
        }
        len += 1;
        if (i + len > end || o + len > limit) throw corrupt();
        buf.set(src.subarray(i, i + len), o);
        o += len;
        i += len;
        continue;
      }
      case 1:
        if (i + 1 > end) throw corrupt();
        len = 4 + ((tag >>> 2) & 7);
        offset = ((tag >>> 5) << 8) | (src[i] as number);
        i += 1;
        break;
      case 2:
        if (i + 2 > end) throw corrupt();
        len = (tag >>> 2) + 1;
        offset = (src[i] as number) | ((src[i + 1] as number) << 8);
        i += 2;
        break;
      default:
        if (i + 4 > end) throw corrupt();
        len = (tag >>> 2) + 1;
        offset = u32(src, i);
        i += 4;
    }
    if (offset === 0 || offset > o - base || o + len > limit) throw corrupt();
    let from = o - offset;
    for (let k = 0; k < len; k++) buf[o++] = buf[from++] as number;
  }
  if (o !== limit) throw corrupt();
  out.len = o;
}
