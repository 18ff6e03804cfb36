/**
 * Column builders that turn rows of a bronze table (contracts/src/lake.ts) into one Arrow record batch and its IPC
 * stream bytes (apache-arrow), the unit handed to the Rust writer in one call. Builders fill typed arrays directly
 * (UTF-8 bytes and offsets, 64-bit integers as two 32-bit halves, validity bitmaps) and hand them to Arrow with
 * `makeData`, so a row costs a few array stores rather than an Arrow Builder object per value: no allocation per
 * value (short ASCII strings are copied by a loop instead of a TextEncoder call on a fresh subarray, integers that fit
 * a double are never BigInts). Timestamps are microseconds, UTC.
 * Not a general Arrow library: only the column types of LakeColumnType.
 */
import type { LakeColumn, LakeColumnType, LakeTable } from '@pep/contracts';
import {
  Binary,
  Bool,
  type Data,
  type DataType,
  Field,
  Float64,
  Int32,
  Int64,
  makeData,
  RecordBatch,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Timestamp,
  TimeUnit,
  Utf8,
} from 'apache-arrow';

const encoder = new TextEncoder();

export type CellValue = string | number | bigint | boolean | Uint8Array | null | undefined;

function arrowType(t: LakeColumnType): DataType {
  switch (t) {
    case 'string':
      return new Utf8();
    case 'int':
      return new Int32();
    case 'long':
      return new Int64();
    case 'double':
      return new Float64();
    case 'boolean':
      return new Bool();
    case 'timestamptz':
      return new Timestamp(TimeUnit.MICROSECOND, 'UTC');
    case 'binary':
      return new Binary();
  }
}

export function arrowSchema(t: LakeTable): Schema {
  return new Schema(t.columns.map((c) => new Field(c.name, arrowType(c.type), !c.required)));
}

function grow<T extends Uint8Array | Int32Array | BigInt64Array | Float64Array>(a: T, need: number): T {
  if (need <= a.length) return a;
  let n = a.length * 2;
  while (n < need) n *= 2;
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a as never);
  return b;
}

export class ColumnError extends Error {
  readonly code = 'BAD_VALUE';
}

/** One column's values so far. */
abstract class ColumnBuilder {
  protected validity = new Uint8Array(64);
  length = 0;
  nullCount = 0;
  constructor(readonly column: LakeColumn) {}
  protected mark(valid: boolean): void {
    const i = this.length;
    if (i >> 3 >= this.validity.length) this.validity = grow(this.validity, (i >> 3) + 1);
    if (valid) this.validity[i >> 3] = (this.validity[i >> 3] as number) | (1 << (i & 7));
    else this.nullCount++;
  }
  /** Checks and converts a value without storing it (throws ColumnError). */
  convert(v: CellValue): unknown {
    if (v === null || v === undefined) {
      if (this.column.required) throw new ColumnError(`${this.column.name} is required but the value is null`);
      return null;
    }
    return this.toStored(v);
  }
  /** Stores a value `convert` returned. */
  store(x: unknown): void {
    if (x === null) {
      this.mark(false);
      this.pushNull();
    } else {
      this.pushValue(x);
      this.mark(true);
    }
    this.length++;
  }
  protected abstract toStored(v: Exclude<CellValue, null | undefined>): unknown;
  protected abstract pushNull(): void;
  protected abstract pushValue(x: unknown): void;
  abstract bytes(): number;
  abstract data(): Data;
  protected nulls(): Uint8Array | undefined {
    return this.nullCount === 0 ? undefined : this.validity.subarray(0, (this.length + 7) >> 3);
  }
}

class VarBytesBuilder extends ColumnBuilder {
  private offsets = new Int32Array(64);
  private values = new Uint8Array(1024);
  private end = 0;
  constructor(
    column: LakeColumn,
    private readonly binary: boolean,
  ) {
    super(column);
  }
  protected pushNull(): void {
    if (this.length + 2 > this.offsets.length) this.offsets = grow(this.offsets, this.length + 2);
    this.offsets[this.length + 1] = this.end;
  }
  protected toStored(v: Exclude<CellValue, null | undefined>): unknown {
    if (typeof v === 'string' || v instanceof Uint8Array) {
      if (this.end + v.length * 3 > 0x7fff_ffff) throw new ColumnError(`${this.column.name}: over 2 GiB in one batch`);
      return v;
    }
    throw new ColumnError(`${this.column.name}: expected ${this.binary ? 'bytes' : 'a string'}, got ${typeof v}`);
  }
  protected pushValue(x: unknown): void {
    const v = x as string | Uint8Array;
    if (typeof v === 'string') {
      const n = v.length;
      // At most 3 bytes per UTF-16 unit.
      if (this.end + n * 3 > this.values.length) this.values = grow(this.values, this.end + n * 3);
      const out = this.values;
      const end = this.end;
      let i = 0;
      // Short ASCII (ids, codes, currencies): a copy loop; anything else from the first non-ASCII unit on, and long
      // strings, by TextEncoder.
      if (n <= 64) {
        for (; i < n; i++) {
          const c = v.charCodeAt(i);
          if (c >= 0x80) break;
          out[end + i] = c;
        }
      }
      this.end =
        i === n ? end + n : end + i + encoder.encodeInto(i === 0 ? v : v.slice(i), out.subarray(end + i)).written;
    } else {
      if (this.end + v.length > this.values.length) this.values = grow(this.values, this.end + v.length);
      this.values.set(v, this.end);
      this.end += v.length;
    }
    if (this.length + 2 > this.offsets.length) this.offsets = grow(this.offsets, this.length + 2);
    this.offsets[this.length + 1] = this.end;
  }
  bytes(): number {
    return this.end + this.length * 4;
  }
  data(): Data {
    const type = this.binary ? new Binary() : new Utf8();
    return makeData({
      type,
      length: this.length,
      nullCount: this.nullCount,
      nullBitmap: this.nulls(),
      valueOffsets: this.offsets.subarray(0, this.length + 1),
      data: this.values.subarray(0, this.end),
    } as never);
  }
}

/** 2^32: the high half of a 64-bit integer held in a double. */
const TWO_32 = 4_294_967_296;

class Int64Builder extends ColumnBuilder {
  private values = new BigInt64Array(64);
  /** The same memory as two 32-bit halves per value (little-endian): safe integers are stored without a BigInt. */
  private halves = new Int32Array(this.values.buffer);
  constructor(
    column: LakeColumn,
    private readonly micros: boolean,
  ) {
    super(column);
  }
  private room(): void {
    if (this.length + 1 > this.values.length) {
      this.values = grow(this.values, this.length + 1);
      this.halves = new Int32Array(this.values.buffer);
    }
  }
  protected pushNull(): void {
    this.room();
    this.values[this.length] = 0n;
  }
  /** A safe integer (number) or a bigint within int64. */
  protected toStored(v: Exclude<CellValue, null | undefined>): unknown {
    let x: number | bigint;
    if (typeof v === 'bigint') x = v;
    else if (typeof v === 'number' && Number.isFinite(v)) {
      // Timestamps arrive as Unix milliseconds (fractions kept down to the microsecond).
      if (this.micros) {
        const us = Math.round(v * 1000);
        x = Number.isSafeInteger(us) ? us : BigInt(us);
      } else x = Number.isSafeInteger(v) ? v : NaNError(this.column, v);
    } else if (typeof v === 'string' && this.micros) {
      const ms = Date.parse(v);
      if (Number.isNaN(ms)) throw new ColumnError(`${this.column.name}: ${JSON.stringify(v)} is not a timestamp`);
      x = Number.isSafeInteger(ms * 1000) ? ms * 1000 : BigInt(ms) * 1000n;
    } else throw new ColumnError(`${this.column.name}: expected an integer, got ${typeof v}`);
    if (typeof x === 'bigint' && (x > 9223372036854775807n || x < -9223372036854775808n))
      throw new ColumnError(`${this.column.name}: out of int64 range`);
    return x;
  }
  protected pushValue(x: unknown): void {
    this.room();
    if (typeof x === 'number') {
      const i = this.length << 1;
      this.halves[i] = (x % TWO_32) | 0;
      this.halves[i + 1] = Math.floor(x / TWO_32) | 0;
    } else this.values[this.length] = x as bigint;
  }
  bytes(): number {
    return this.length * 8;
  }
  data(): Data {
    const type = this.micros ? new Timestamp(TimeUnit.MICROSECOND, 'UTC') : new Int64();
    return makeData({
      type,
      length: this.length,
      nullCount: this.nullCount,
      nullBitmap: this.nulls(),
      data: this.values.subarray(0, this.length),
    } as never);
  }
}

function NaNError(c: LakeColumn, v: number): never {
  throw new ColumnError(`${c.name}: ${v} is not a safe integer`);
}

class Int32Builder extends ColumnBuilder {
  private values = new Int32Array(64);
  protected pushNull(): void {
    if (this.length + 1 > this.values.length) this.values = grow(this.values, this.length + 1);
  }
  protected toStored(v: Exclude<CellValue, null | undefined>): unknown {
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 31) {
      throw new ColumnError(`${this.column.name}: ${String(v)} is not a 32-bit integer`);
    }
    return n;
  }
  protected pushValue(x: unknown): void {
    if (this.length + 1 > this.values.length) this.values = grow(this.values, this.length + 1);
    this.values[this.length] = x as number;
  }
  bytes(): number {
    return this.length * 4;
  }
  data(): Data {
    return makeData({
      type: new Int32(),
      length: this.length,
      nullCount: this.nullCount,
      nullBitmap: this.nulls(),
      data: this.values.subarray(0, this.length),
    } as never);
  }
}

class Float64Builder extends ColumnBuilder {
  private values = new Float64Array(64);
  protected pushNull(): void {
    this.values = grow(this.values, this.length + 1);
  }
  protected toStored(v: Exclude<CellValue, null | undefined>): unknown {
    const n = typeof v === 'string' ? Number(v) : v;
    if (typeof n !== 'number' || Number.isNaN(n))
      throw new ColumnError(`${this.column.name}: ${String(v)} is not a number`);
    return n;
  }
  protected pushValue(x: unknown): void {
    this.values = grow(this.values, this.length + 1);
    this.values[this.length] = x as number;
  }
  bytes(): number {
    return this.length * 8;
  }
  data(): Data {
    return makeData({
      type: new Float64(),
      length: this.length,
      nullCount: this.nullCount,
      nullBitmap: this.nulls(),
      data: this.values.subarray(0, this.length),
    } as never);
  }
}

class BoolBuilder extends ColumnBuilder {
  private bits = new Uint8Array(64);
  protected pushNull(): void {
    this.bits = grow(this.bits, (this.length >> 3) + 1);
  }
  protected toStored(v: Exclude<CellValue, null | undefined>): unknown {
    if (typeof v !== 'boolean') throw new ColumnError(`${this.column.name}: expected a boolean, got ${typeof v}`);
    return v;
  }
  protected pushValue(x: unknown): void {
    const i = this.length;
    this.bits = grow(this.bits, (i >> 3) + 1);
    if (x) this.bits[i >> 3] = (this.bits[i >> 3] as number) | (1 << (i & 7));
  }
  bytes(): number {
    return this.length >> 3;
  }
  data(): Data {
    return makeData({
      type: new Bool(),
      length: this.length,
      nullCount: this.nullCount,
      nullBitmap: this.nulls(),
      data: this.bits.subarray(0, (this.length + 7) >> 3),
    } as never);
  }
}

function builderFor(c: LakeColumn): ColumnBuilder {
  switch (c.type) {
    case 'string':
      return new VarBytesBuilder(c, false);
    case 'binary':
      return new VarBytesBuilder(c, true);
    case 'long':
      return new Int64Builder(c, false);
    case 'timestamptz':
      return new Int64Builder(c, true);
    case 'int':
      return new Int32Builder(c);
    case 'double':
      return new Float64Builder(c);
    case 'boolean':
      return new BoolBuilder(c);
  }
}

export type Row = Readonly<Record<string, CellValue>>;

/**
 * Rows of one table, column by column. `append` checks every value against the contract (a bad row throws
 * ColumnError and leaves the builder as it was before the row: callers route such rows elsewhere, never drop them).
 */
export class TableBatchBuilder {
  private builders: ColumnBuilder[];
  private readonly names: readonly string[];
  /** Scratch for `append` (one row's converted values). */
  private readonly converted: unknown[];
  readonly schema: Schema;
  constructor(readonly table: LakeTable) {
    this.builders = table.columns.map(builderFor);
    this.names = table.columns.map((c) => c.name);
    this.converted = new Array(table.columns.length).fill(undefined);
    this.schema = arrowSchema(table);
  }

  get rows(): number {
    return this.builders[0]?.length ?? 0;
  }

  /** Approximate bytes buffered (the sink's flush trigger). */
  bytes(): number {
    let n = 0;
    for (const b of this.builders) n += b.bytes();
    return n;
  }

  append(row: Row): void {
    // Every value is checked and converted before any is stored: a bad row leaves the builder untouched.
    const builders = this.builders;
    const names = this.names;
    const converted = this.converted;
    const n = builders.length;
    try {
      for (let i = 0; i < n; i++) converted[i] = (builders[i] as ColumnBuilder).convert(row[names[i] as string]);
    } catch (err) {
      if (err instanceof ColumnError) throw new ColumnError(`${this.table.qualifiedName}: ${err.message}`);
      throw err;
    }
    for (let i = 0; i < n; i++) {
      (builders[i] as ColumnBuilder).store(converted[i]);
      converted[i] = undefined;
    }
  }

  /** The batch as an Arrow RecordBatch (the builder is reset). */
  finish(): RecordBatch {
    const children = this.builders.map((b) => b.data());
    const length = this.rows;
    const struct = makeData({ type: new Struct(this.schema.fields), length, nullCount: 0, children } as never);
    this.builders = this.table.columns.map(builderFor);
    return new RecordBatch(this.schema, struct as never);
  }

  /** Arrow IPC stream bytes of the batch (the builder is reset). */
  finishIpc(): Uint8Array {
    return RecordBatchStreamWriter.writeAll([this.finish()]).toUint8Array(true);
  }
}
