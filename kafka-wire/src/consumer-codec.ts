/**
 * Byte-level building blocks of the Kafka requests and responses (fetch.ts, group.ts, cluster.ts,
 * transaction-protocol.ts, and protocol.ts's response decoders): a growable request writer that writes the request
 * header (v1, or v2 for flexible versions), and a bounds-checked response reader with the compact (flexible-version)
 * types and tagged-field skipping (error names live in protocol.ts's KAFKA_ERRORS). Not for the hot produce path
 * (protocol.ts sizes and encodes that in one pass).
 */

/** Growable big-endian writer for requests; `finish()` fills in the 4-byte size prefix. */
export class RequestWriter {
  private buf: Buffer;
  private at = 4;
  constructor(initialBytes = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(64, initialBytes));
  }
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
  /** Request header v1 (non-flexible) or v2 (flexible: an empty tagged-field section after the client id). */
  header(apiKey: number, version: number, correlationId: number, clientId: Buffer, flexible: boolean): this {
    this.int16(apiKey).int16(version).int32(correlationId).int16(clientId.length).raw(clientId);
    return flexible ? this.uvarint(0) : this;
  }
  int8(v: number): this {
    this.room(1);
    this.buf.writeInt8(v, this.at);
    this.at += 1;
    return this;
  }
  int16(v: number): this {
    this.room(2);
    this.buf.writeInt16BE(v, this.at);
    this.at += 2;
    return this;
  }
  int32(v: number): this {
    this.room(4);
    this.buf.writeInt32BE(v, this.at);
    this.at += 4;
    return this;
  }
  int64(v: bigint): this {
    this.room(8);
    this.buf.writeBigInt64BE(v, this.at);
    this.at += 8;
    return this;
  }
  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }
  raw(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }
  /** Classic STRING / NULLABLE_STRING (int16 length). */
  string(s: string | null): this {
    if (s === null) return this.int16(-1);
    const b = Buffer.from(s, 'utf8');
    if (b.length > 0x7fff) throw new RangeError(`string of ${b.length} bytes is too long for the Kafka protocol`);
    return this.int16(b.length).raw(b);
  }
  /** Classic BYTES / NULLABLE_BYTES (int32 length). */
  bytes(b: Uint8Array | null): this {
    if (b === null) return this.int32(-1);
    return this.int32(b.length).raw(b);
  }
  /** Classic ARRAY (int32 count). */
  array<T>(items: readonly T[], each: (item: T) => void): this {
    this.int32(items.length);
    for (const it of items) each(it);
    return this;
  }
  uvarint(v: number): this {
    this.room(5);
    let z = v >>> 0;
    while (z >= 0x80) {
      this.buf[this.at++] = (z & 0x7f) | 0x80;
      z >>>= 7;
    }
    this.buf[this.at++] = z;
    return this;
  }
  /** COMPACT_STRING / COMPACT_NULLABLE_STRING (unsigned varint length + 1; 0 = null). */
  compactString(s: string | null): this {
    if (s === null) return this.uvarint(0);
    const b = Buffer.from(s, 'utf8');
    return this.uvarint(b.length + 1).raw(b);
  }
  /** COMPACT_ARRAY (unsigned varint count + 1; `null` = null array). */
  compactArray<T>(items: readonly T[] | null, each: (item: T) => void): this {
    if (items === null) return this.uvarint(0);
    this.uvarint(items.length + 1);
    for (const it of items) each(it);
    return this;
  }
  /** An empty tagged-field section (flexible versions end every struct with one). */
  tags(): this {
    return this.uvarint(0);
  }
  finish(): Buffer {
    this.buf.writeInt32BE(this.at - 4, 0);
    return this.buf.subarray(0, this.at);
  }
}

/** Bounds-checked reader over one response body (after the size and correlation id). */
export class ResponseReader {
  constructor(
    readonly buf: Buffer,
    public at = 0,
  ) {}
  private need(n: number): void {
    if (n < 0 || this.at + n > this.buf.length) throw new Error('truncated Kafka response');
  }
  get remaining(): number {
    return this.buf.length - this.at;
  }
  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.at++);
  }
  bool(): boolean {
    return this.int8() !== 0;
  }
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  int64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.at);
    this.at += 8;
    return v;
  }
  string(): string | null {
    const n = this.int16();
    if (n < 0) return null;
    this.need(n);
    const s = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
  /** NULLABLE_BYTES as a view into the response (no copy); null for length -1. */
  bytes(): Buffer | null {
    const n = this.int32();
    if (n < 0) return null;
    this.need(n);
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
  array<T>(item: () => T): T[] {
    const n = this.int32();
    if (n < 0) return [];
    // Every element takes at least one byte: a bigger count is corruption, not a reason to loop.
    if (n > this.remaining) throw new Error('corrupt Kafka response (array length)');
    const out: T[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = item();
    return out;
  }
  uvarint(): number {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      this.need(1);
      const b = this.buf[this.at++] as number;
      v |= (b & 0x7f) << shift;
      if (b < 0x80) return v >>> 0;
    }
    throw new Error('corrupt Kafka response (varint)');
  }
  compactString(): string | null {
    const n = this.uvarint() - 1;
    if (n < 0) return null;
    this.need(n);
    const s = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
  compactArray<T>(item: () => T): T[] {
    const n = this.uvarint() - 1;
    if (n < 0) return [];
    if (n > this.remaining) throw new Error('corrupt Kafka response (array length)');
    const out: T[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = item();
    return out;
  }
  /** Skips a tagged-field section (we ask for no tagged fields, but a newer broker may send some). */
  tags(): void {
    const n = this.uvarint();
    for (let i = 0; i < n; i++) {
      this.uvarint(); // tag
      const size = this.uvarint();
      this.need(size);
      this.at += size;
    }
  }
}
