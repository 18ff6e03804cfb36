/**
 * Where batches go. `BatchSink.send` resolves only once every record of the batch is durably stored
 * (for Kafka: acks=all); it rejects otherwise. The in-memory sink exists for benchmarks and route tests only
 * (it "stores" by counting) and is refused in production by the config.
 */

import type { OutRecord } from '@pep/kafka-wire/idempotent-producer';

export type { OutRecord };

export interface BatchSink {
  readonly kind: string;
  /** Resolves when all records are durably written; rejects on any failure (nothing may be acknowledged then). */
  send(batch: readonly OutRecord[]): Promise<void>;
  /** After a failed or timed-out send: drop connection state so the next send starts clean. */
  reset(): void;
  /** True when the sink can currently take writes (used by /readyz). */
  probe(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Keeps the most recent records (at least `keepLast`, at most twice that) and a count; for benchmarks and tests, never
 * for production. Old records are dropped in blocks, not with one `shift()` per record on a full 10k-element array
 * (an O(n) move per request that the memory-sink benchmark arm was paying on top of the edge's own work).
 */
export class MemorySink implements BatchSink {
  readonly kind = 'memory';
  readonly records: OutRecord[] = [];
  written = 0;
  constructor(private readonly keepLast = 10_000) {}
  async send(batch: readonly OutRecord[]): Promise<void> {
    this.written += batch.length;
    for (const r of batch) this.records.push(r);
    if (this.records.length >= 2 * this.keepLast) this.records.splice(0, this.records.length - this.keepLast);
  }
  reset(): void {}
  async probe(): Promise<boolean> {
    return true;
  }
  async close(): Promise<void> {}
}
