/**
 * The raw-bytes path of the lake sink for bronze.payment_events: a Kafka batch's record values and the four headers
 * the row reads go to Rust in one call (one buffer + lengths), and the lake addon parses them into Arrow columns with
 * exactly the semantics of rows.ts (`paymentEventRow`) + arrow.ts (core-native/crates/lake/src/rawrows.rs). Records
 * the Rust side cannot reproduce exactly (not UTF-8, not a JSON object, no event_id, a lone surrogate, a date in a
 * form other than strict ISO 8601, …) come back one by one and take the TypeScript path (`rowFunctionFor`), in order.
 * The TypeScript path stays the reference: LAKE_SINK_ROWS=ts selects it for the whole sink.
 * Not Kafka I/O: the caller packs each record with `RawBatch.add`.
 */
import { LAKE_TABLES, type LakeTable, OUTPUT_HEADERS, RAW_HEADERS } from '@pep/contracts';
import { loadLakeAddon, type RawRowsBinding } from '@pep/core-native/lake';
import { type Row, TableBatchBuilder } from './arrow.ts';
import { type KafkaRecord, rowFunctionFor } from './rows.ts';

/** The headers the payment_events row reads, in the order of the Rust side's segments after the value. */
export const RAW_ROW_HEADERS = [
  OUTPUT_HEADERS.sourceTopic,
  OUTPUT_HEADERS.sourcePartition,
  OUTPUT_HEADERS.sourceOffset,
  RAW_HEADERS.receivedAt,
] as const;
const SEGMENTS = 1 + RAW_ROW_HEADERS.length;

export type HeaderValue = Uint8Array | string | undefined;

/** One Kafka batch's records, packed for one call. */
export class RawBatch {
  private parts: Uint8Array[] = [];
  private lens = new Int32Array(SEGMENTS * 64);
  private nums = new Float64Array(2 * 64);
  count = 0;

  private seg(i: number, v: HeaderValue | null): void {
    if (v === undefined || v === null) {
      this.lens[i] = -1;
      return;
    }
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    this.lens[i] = b.byteLength;
    if (b.byteLength > 0) this.parts.push(b);
  }

  /** `offset` and `timestampMs` as numbers (Kafka offsets and timestamps are safe integers). */
  add(
    value: Uint8Array | null,
    sourceTopic: HeaderValue,
    sourcePartition: HeaderValue,
    sourceOffset: HeaderValue,
    receivedAt: HeaderValue,
    offset: number,
    timestampMs: number,
  ): void {
    const n = this.count;
    if ((n + 1) * SEGMENTS > this.lens.length) {
      const lens = new Int32Array(this.lens.length * 2);
      lens.set(this.lens);
      this.lens = lens;
      const nums = new Float64Array(this.nums.length * 2);
      nums.set(this.nums);
      this.nums = nums;
    }
    const s = n * SEGMENTS;
    this.seg(s, value);
    this.seg(s + 1, sourceTopic);
    this.seg(s + 2, sourcePartition);
    this.seg(s + 3, sourceOffset);
    this.seg(s + 4, receivedAt);
    this.nums[2 * n] = offset;
    this.nums[2 * n + 1] = timestampMs;
    this.count = n + 1;
  }

  /** @internal */
  packed(): { data: Uint8Array; lens: Int32Array; nums: Float64Array } {
    return {
      data: Buffer.concat(this.parts),
      lens: this.lens.subarray(0, this.count * SEGMENTS),
      nums: this.nums.subarray(0, this.count * 2),
    };
  }
}

/** Why `RawRowsBuilder.create` returned null (for the sink's log). */
export let rawRowsUnavailable: string | null = null;

/** A table's rows built on the raw-bytes path (same surface as TableBatchBuilder where the sink uses it). */
export class RawRowsBuilder {
  private readonly row: (r: KafkaRecord) => Row;
  private constructor(
    readonly table: LakeTable,
    private readonly native: RawRowsBinding,
  ) {
    this.row = rowFunctionFor(table);
  }

  /** The raw path for `table`, or null when it has none (only payment_events has one; or the addon cannot fill it). */
  static create(table: LakeTable): RawRowsBuilder | null {
    if (table.name !== LAKE_TABLES.payment_events.name) return null;
    try {
      const cols = table.columns.map((c) => ({ name: c.name, type: c.type, required: c.required }));
      return new RawRowsBuilder(table, new (loadLakeAddon().RawRows)(JSON.stringify(cols)));
    } catch (err) {
      rawRowsUnavailable = (err as Error).message;
      return null;
    }
  }

  get rows(): number {
    return this.native.rows;
  }

  bytes(): number {
    return this.native.bytes();
  }

  /**
   * Appends the batch's rows in order. `record(i)` gives record i as rows.ts takes it, for those the Rust side leaves
   * to the TypeScript path (built by `rowFunctionFor`, checked by TableBatchBuilder: a ColumnError throws, as there).
   * Returns the TypeScript-built rows (the sink counts their lake_error).
   */
  append(topic: string, partition: number, batch: RawBatch, record: (i: number) => KafkaRecord): Row[] {
    const fallback: Row[] = [];
    if (batch.count === 0) return fallback;
    const { data, lens, nums } = batch.packed();
    let from = 0;
    while (from < batch.count) {
      const stop = this.native.append(topic, partition, data, lens, nums, from);
      if (stop >= batch.count) break;
      const row = this.row(record(stop));
      const one = new TableBatchBuilder(this.table);
      one.append(row);
      this.native.appendIpc(one.finishIpc());
      fallback.push(row);
      from = stop + 1;
    }
    return fallback;
  }

  /** Arrow IPC stream bytes of the rows (the builder is reset). */
  finishIpc(): Uint8Array {
    return this.native.finishIpc();
  }

  /** As finishIpc, with the stream written off the JS thread (the builder is reset now). */
  finishIpcAsync(): Promise<Uint8Array> {
    return this.native.take().ipc();
  }
}
