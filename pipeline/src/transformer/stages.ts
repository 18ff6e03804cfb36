/**
 * The transformer's stage timeline: where its wall time and its CPU time go, per stage of its loop (fetch and decode,
 * native transform, the transaction's round trips, offset commit, bookkeeping). Off unless a caller passes one to
 * the transformer (the pipeline bench does): the transformer then calls `enter(stage)` at each boundary, and the
 * timeline charges the wall time and this process's CPU time (user + system, every thread: `process.cpuUsage`) since
 * the previous boundary to the stage that ran. Wall minus CPU is time the process waited (for the broker, mostly).
 * Without a timeline the transformer's only cost is an `undefined` check per boundary.
 *
 * The stages partition time exactly when one step runs after the other (the default loop). With
 * TRANSFORMER_PIPELINE_FETCH the next fetch overlaps the commit in flight, and a stage is charged until the next
 * boundary of either, so the split between overlapping stages is approximate (the totals stay exact).
 */
import type { StageHook } from '@pep/kafka-wire/transaction';

/** The stages, in loop order. */
export const TRANSFORMER_STAGES = [
  /** GroupConsumer.poll(): Fetch request, the broker's answer (incl. its max wait), reading and decoding the response. */
  'fetch',
  /** core.transformRecordSets: record-batch decode, normalize, output encode (native or twin), plus its JS glue. */
  'transform',
  /** Offsets and output batches of the step, checks. */
  'prepare',
  /** AddPartitionsToTxn + AddOffsetsToTxn (one round trip to the transaction coordinator). */
  'txn_add',
  /** Produce (+ TxnOffsetCommit in parallel, exactly-once): the round trip and reading the answers. */
  'txn_produce',
  /** Building the Produce requests (batch headers, CRC-32C), inside txn_produce. */
  'txn_encode',
  /** EndTxn(commit): the coordinator writes the markers. */
  'txn_end',
  /** at_least_once: OffsetCommit after the acknowledged produce. */
  'offset_commit',
  /** Waiting for the commit in flight to end (prefetch / pipelined loops). */
  'commit_wait',
  /** Metrics and positions after a commit. */
  'after_commit',
  /** Anything else: failure handling, rejoins, waiting for a commit in flight. */
  'other',
] as const;
export type TransformerStage = (typeof TRANSFORMER_STAGES)[number];

export interface StageTotals {
  readonly stage: string;
  /** How many times the stage was entered. */
  readonly entries: number;
  readonly wallMs: number;
  /** This process's CPU (user + system) while the stage ran. */
  readonly cpuMs: number;
}

export interface TimelineSnapshot {
  readonly stages: readonly StageTotals[];
  readonly wallMs: number;
  readonly cpuMs: number;
}

const cpuNowMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export class StageTimeline implements StageHook {
  private current: string | null = null;
  private since = 0;
  private cpuSince = 0;
  private readonly totals = new Map<string, { entries: number; wallMs: number; cpuMs: number }>();

  /** Ends the running stage (charging it) and starts `stage`. */
  enter(stage: string): void {
    const now = performance.now();
    const cpu = cpuNowMs();
    this.charge(now, cpu);
    this.current = stage;
    this.since = now;
    this.cpuSince = cpu;
    const t = this.totals.get(stage);
    if (t) t.entries++;
    else this.totals.set(stage, { entries: 1, wallMs: 0, cpuMs: 0 });
  }

  /** Charges the running stage up to now and stops timing (the next `enter` starts again). */
  pause(): void {
    this.charge(performance.now(), cpuNowMs());
    this.current = null;
  }

  /** Forgets everything measured so far (e.g. after a warm-up); a running stage keeps running from now. */
  reset(): void {
    this.totals.clear();
    if (this.current !== null) {
      this.totals.set(this.current, { entries: 1, wallMs: 0, cpuMs: 0 });
      this.since = performance.now();
      this.cpuSince = cpuNowMs();
    }
  }

  /** Totals so far (the running stage charged up to now), stages in TRANSFORMER_STAGES order, then any others. */
  snapshot(): TimelineSnapshot {
    this.charge(performance.now(), cpuNowMs());
    const known: readonly string[] = TRANSFORMER_STAGES;
    const stages = [...this.totals]
      .map(([stage, t]) => ({ stage, ...t }))
      .sort((a, b) => rank(known, a.stage) - rank(known, b.stage));
    return {
      stages,
      wallMs: stages.reduce((s, t) => s + t.wallMs, 0),
      cpuMs: stages.reduce((s, t) => s + t.cpuMs, 0),
    };
  }

  private charge(now: number, cpu: number): void {
    if (this.current === null) return;
    const t = this.totals.get(this.current);
    if (t) {
      t.wallMs += now - this.since;
      t.cpuMs += cpu - this.cpuSince;
    }
    this.since = now;
    this.cpuSince = cpu;
  }
}

const rank = (known: readonly string[], stage: string): number => {
  const i = known.indexOf(stage);
  return i < 0 ? known.length : i;
};
