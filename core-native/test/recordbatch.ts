/**
 * Test helpers for transformRecordSets: an independent RecordBatch v2 encoder (written from the protocol spec,
 * CRC from kafkajs's crc32C) to build fetch responses, and a decoder of the produced records built on kafkajs's
 * own RecordBatch decoder. Not used by the library.
 */
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';

const require = createRequire(import.meta.url);
const kafkajsCrc32C = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;
const KafkajsDecoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => unknown;
const decodeKafkajsBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
  d: unknown,
) => Promise<{ records: KafkajsRecord[] }>;

export interface KafkajsRecord {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | null | (Buffer | null)[]>;
}

export interface TestRecord {
  key?: string | Buffer | null;
  value: string | Buffer | null;
  headers?: [string, string | Buffer | null][];
  offsetDelta?: number;
  timestampDelta?: number;
}

export interface TestBatch {
  baseOffset: bigint | number;
  records: TestRecord[];
  gzip?: boolean;
  /** Raw compression codec bits (overrides gzip). */
  codec?: number;
  transactional?: boolean;
  control?: boolean;
  logAppendTime?: boolean;
  producerId?: bigint;
  baseTimestamp?: bigint | number;
  maxTimestamp?: bigint | number;
  lastOffsetDelta?: number;
  /** Flip a byte after the CRC was computed. */
  corruptCrc?: boolean;
  magic?: number;
  /** The records section as written (e.g. hand-made gzip streams); `records` then only gives the count. */
  rawSection?: Buffer;
}

const zz = (n: number) => (n << 1) ^ (n >> 31);

function varint(n: number): number[] {
  let z = zz(n) >>> 0;
  const out: number[] = [];
  while (z >= 0x80) {
    out.push((z & 0x7f) | 0x80);
    z >>>= 7;
  }
  out.push(z);
  return out;
}

function varlong(n: bigint): number[] {
  let z = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return out;
}

const bytesOf = (v: string | Buffer | null | undefined): Buffer | null =>
  v === null || v === undefined ? null : typeof v === 'string' ? Buffer.from(v) : v;

function lenBytes(b: Buffer | null): number[] {
  return b === null ? varint(-1) : [...varint(b.length), ...b];
}

export function encodeRecord(r: TestRecord, index: number): Buffer {
  const body: number[] = [0, ...varlong(BigInt(r.timestampDelta ?? 0)), ...varint(r.offsetDelta ?? index)];
  body.push(...lenBytes(bytesOf(r.key)), ...lenBytes(bytesOf(r.value)));
  const headers = r.headers ?? [];
  body.push(...varint(headers.length));
  for (const [k, v] of headers) body.push(...lenBytes(Buffer.from(k)), ...lenBytes(bytesOf(v)));
  return Buffer.from([...varint(body.length), ...body]);
}

export function encodeBatch(b: TestBatch): Buffer {
  let records: Buffer = Buffer.concat(b.records.map((r, i) => encodeRecord(r, i)));
  const codec = b.codec ?? (b.gzip ? 1 : 0);
  if (codec === 1) records = gzipSync(records);
  if (b.rawSection) records = b.rawSection;
  const attributes = codec | (b.logAppendTime ? 8 : 0) | (b.transactional ? 16 : 0) | (b.control ? 32 : 0);
  const body = Buffer.alloc(40 + records.length);
  body.writeInt16BE(attributes, 0);
  const lastDelta = b.lastOffsetDelta ?? Math.max(0, ...b.records.map((r, i) => r.offsetDelta ?? i));
  body.writeInt32BE(lastDelta, 2);
  body.writeBigInt64BE(BigInt(b.baseTimestamp ?? 1_767_225_000_000), 6);
  body.writeBigInt64BE(BigInt(b.maxTimestamp ?? b.baseTimestamp ?? 1_767_225_000_000), 14);
  body.writeBigInt64BE(b.producerId ?? -1n, 22);
  body.writeInt16BE(0, 30);
  body.writeInt32BE(0, 32);
  body.writeInt32BE(b.records.length, 36);
  records.copy(body, 40);
  const out = Buffer.alloc(21 + body.length);
  out.writeBigInt64BE(BigInt(b.baseOffset), 0);
  out.writeInt32BE(out.length - 12, 8);
  out.writeInt32BE(0, 12);
  out.writeInt8(b.magic ?? 2, 16);
  out.writeUInt32BE(kafkajsCrc32C(body), 17);
  body.copy(out, 21);
  if (b.corruptCrc) out[out.length - 1] = (out[out.length - 1] as number) ^ 0xff;
  return out;
}

/** A control batch (transaction marker): ABORT (type 0) or COMMIT (type 1). */
export function encodeMarker(baseOffset: bigint | number, producerId: bigint, type: 'abort' | 'commit'): Buffer {
  const key = Buffer.from([0, 0, 0, type === 'abort' ? 0 : 1]);
  const value = Buffer.from([0, 0, 0, 0, 0, 0]);
  return encodeBatch({ baseOffset, records: [{ key, value }], control: true, transactional: true, producerId });
}

/** Decodes one output partition's records with kafkajs (wrapped in a RecordBatch header first). */
export async function decodeOutput(records: Uint8Array, count: number, timestampMs: number): Promise<KafkajsRecord[]> {
  const body = Buffer.alloc(40 + records.length);
  body.writeInt16BE(0, 0);
  body.writeInt32BE(count - 1, 2);
  body.writeBigInt64BE(BigInt(timestampMs), 6);
  body.writeBigInt64BE(BigInt(timestampMs), 14);
  body.writeBigInt64BE(-1n, 22);
  body.writeInt32BE(count, 36);
  Buffer.from(records).copy(body, 40);
  const batch = Buffer.alloc(21 + body.length);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt8(2, 16);
  batch.writeUInt32BE(kafkajsCrc32C(body), 17);
  body.copy(batch, 21);
  const { records: out } = await decodeKafkajsBatch(new KafkajsDecoder(batch));
  return out;
}

/** Header values as strings (first value when repeated). */
export function headerStrings(h: KafkajsRecord['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    const one = Array.isArray(v) ? v[0] : v;
    if (one) out[k] = one.toString('utf8');
  }
  return out;
}
