/**
 * Where the lake sink's time goes, per stage (opt-in: the bench and profiling runs; the service does not pay for the
 * clock reads). Stages on the JS thread are timed per record or per call by the wall clock; their CPU time is the
 * thread's own CPU time over each kafkajs batch (`process.threadCpuUsage`, one read per batch: a read per record would
 * cost more than the stages) shared out in proportion to the stages' wall time in that batch (the shared machine
 * preempts the thread; wall minus CPU is that). The Rust writer's calls (write = IPC read + Parquet zstd files, commit = catalog
 * round trips) run on the addon's threads while JS goes on fetching, so they have their wall time per call and the
 * process's CPU outside the JS thread over the whole run (`offThreadCpuMs`: Rust, libuv, V8's GC helpers).
 *
 * - fetch: JS-thread time between two batches handed over by kafkajs (the fetch response's decoding into messages,
 *   waiting for the broker, timers, the flush loop's continuations); wall minus CPU there is idle.
 * - decode: message → KafkaRecord (offset, headers as text); parse: the value's JSON.parse; row: parsed → row of
 *   cells; arrow: the row into the column builders; ipc: builders → Arrow IPC bytes (one per flush).
 * - On the raw-bytes path (LAKE_SINK_ROWS=rust, bronze.payment_events): decode is packing a batch's values and headers
 *   into one buffer, raw the lake addon's call that parses them into Arrow columns (JSON parse + row + Arrow in Rust,
 *   on the JS thread, with the rare records it leaves to the TypeScript path); parse, row and arrow stay 0; ipc is only
 *   taking the columns out (the IPC stream is written on a libuv thread, and awaited in write).
 * - write / commit: the Rust calls' wall time; group_commit: the consumer group offset commit after a table commit.
 */
import { performance } from 'node:perf_hooks';

export const LAKE_SINK_STAGES = [
  'fetch',
  'decode',
  'parse',
  'row',
  'arrow',
  'raw',
  'ipc',
  'write',
  'commit',
  'group_commit',
] as const;
export type LakeSinkStage = (typeof LAKE_SINK_STAGES)[number];

export interface StageTotals {
  wallMs: number;
  /** CPU time of the JS thread in the stage (0 for the Rust calls, whose CPU is in `offThreadCpuMs`). */
  cpuMs: number;
  calls: number;
}

const threadCpuUs = (): number => {
  const u = (process as unknown as { threadCpuUsage(): NodeJS.CpuUsage }).threadCpuUsage();
  return u.user + u.system;
};
const processCpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

export class SinkProfile {
  readonly stages: Record<LakeSinkStage, StageTotals>;
  /** performance.now() when the first record was handled (0: none yet). */
  firstRecordAt = 0;
  /** When the first batch was done and how many records it held (the bench's window before 2026-12-06 began there). */
  firstBatchEndAt = 0;
  firstBatchRecords = 0;
  /** When the last batch so far was done: what comes after it (the last flush) is the drain tail. */
  lastBatchEndAt = 0;
  records = 0;
  writes = 0;
  commits = 0;
  private batchEndWall = 0;
  private batchStartWall = 0;
  private batchStartCpu = 0;
  private batchWalls: Partial<Record<LakeSinkStage, number>> = {};
  private batchEndCpu = 0;
  private startWall = 0;
  private startThreadCpu = 0;
  private startProcessCpu = 0;

  constructor() {
    this.stages = Object.fromEntries(LAKE_SINK_STAGES.map((s) => [s, { wallMs: 0, cpuMs: 0, calls: 0 }])) as Record<
      LakeSinkStage,
      StageTotals
    >;
  }

  now(): number {
    return performance.now();
  }
  /** The JS thread's CPU time, µs (for per-call stages). */
  cpuUs(): number {
    return threadCpuUs();
  }

  add(stage: LakeSinkStage, wallMs: number, cpuUs: number, calls = 1): void {
    const s = this.stages[stage];
    s.wallMs += wallMs;
    s.cpuMs += cpuUs / 1000;
    s.calls += calls;
  }

  /** A per-record stage inside a batch: wall time now, its CPU share at `batchEnd`. */
  addWall(stage: LakeSinkStage, wallMs: number): void {
    this.stages[stage].wallMs += wallMs;
    this.stages[stage].calls++;
    this.batchWalls[stage] = (this.batchWalls[stage] ?? 0) + wallMs;
  }

  /** A kafkajs batch arrives: the time since the previous one ended is `fetch`. */
  batchStart(): void {
    const w = performance.now();
    const c = threadCpuUs();
    if (this.firstRecordAt === 0) {
      this.firstRecordAt = w;
      this.startWall = w;
      this.startThreadCpu = c;
      this.startProcessCpu = processCpuUs();
    } else this.add('fetch', w - this.batchEndWall, c - this.batchEndCpu);
    this.batchStartWall = w;
    this.batchStartCpu = c;
    this.batchWalls = {};
  }

  batchEnd(): void {
    const w = performance.now();
    if (this.firstBatchEndAt === 0) {
      this.firstBatchEndAt = w;
      this.firstBatchRecords = this.records;
    }
    const c = threadCpuUs();
    const share = Math.min(1, (c - this.batchStartCpu) / 1000 / Math.max(1e-6, w - this.batchStartWall));
    for (const [stage, wall] of Object.entries(this.batchWalls)) {
      this.stages[stage as LakeSinkStage].cpuMs += (wall as number) * share;
    }
    this.batchWalls = {};
    this.lastBatchEndAt = w;
    this.batchEndWall = w;
    this.batchEndCpu = c;
  }

  /** Totals from the first record to now: wall, JS-thread CPU, CPU outside the JS thread. */
  totals(): { wallMs: number; threadCpuMs: number; offThreadCpuMs: number } {
    if (this.firstRecordAt === 0) return { wallMs: 0, threadCpuMs: 0, offThreadCpuMs: 0 };
    const thread = (threadCpuUs() - this.startThreadCpu) / 1000;
    const proc = (processCpuUs() - this.startProcessCpu) / 1000;
    return {
      wallMs: performance.now() - this.startWall,
      threadCpuMs: thread,
      offThreadCpuMs: Math.max(0, proc - thread),
    };
  }
}
