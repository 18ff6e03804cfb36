/**
 * The adaptive bridge's workflow budget (workflow starts per second), driven by the load Temporal shows instead of a
 * fixed number: an AIMD controller (additive increase, multiplicative decrease) on the observed workflow
 * start→complete latency (sampled by the bridge) and the payment task queue's workflow-task backlog, kept within a
 * configured [min, max], plus the start request latency (every start; Temporal's own persistence delay). Pure (time
 * is passed in), so it is unit-tested without Temporal.
 *
 * Why: a fixed budget is either too low for a quiet or bigger Temporal (events wait in Kafka for larger groups) or
 * too high for a saturated one (workflows queue inside Temporal and the p99 goes to seconds). Each interval:
 * - decrease (× decreaseFactor) when the median start acknowledgement latency is over its target or the backlog was
 *   over its bound — Temporal is falling behind — but only while groups still have room
 *   (no group of the interval reached maxGroupEvents): at full groups a lower rate carries fewer events, so it would only build
 *   lag in Kafka without relieving anything (the backlog gate already holds starts while Temporal is backed up);
 * - increase (+ increasePerS) when the budget itself was what limited the bridge (it ran short and grouped events or
 *   paced the next fetch) while the tails (p90) of the start and the sampled completion latencies were within their
 *   targets (a median let the rate climb to 30/s at 275 events/s, where the p99 tripled): more
 *   workflows/s means smaller groups and less waiting in Kafka (a completion over its target only holds the rate:
 *   it grows with the group size, so it cannot tell congestion from large groups);
 * - hold otherwise (no demand, or no latency sample to judge by).
 * Samples of workflows started before the last decrease are ignored: they show the old rate's congestion, and
 * counting them would cut the rate again for the same cause.
 */

export interface AimdOptions {
  readonly minPerS: number;
  readonly maxPerS: number;
  readonly initialPerS: number;
  /** Added per interval when the budget limited the bridge and Temporal kept up. */
  readonly increasePerS: number;
  /** Multiplied per interval when Temporal did not keep up (0 < f < 1). */
  readonly decreaseFactor: number;
  /** 90th percentile of sampled start→complete latency above which the rate no longer increases. */
  readonly targetLatencyMs: number;
  /** Median start request latency (until Temporal acknowledged it) above which the rate decreases; its 90th
   * percentile above it stops increases. */
  readonly targetStartLatencyMs: number;
  /** The bridge's largest group (events per workflow). */
  readonly maxGroupEvents: number;
  /** Workflow tasks waiting in the task queue above which the rate decreases (0: not used). */
  readonly maxBacklog: number;
  /** Length of one control interval. */
  readonly intervalMs: number;
}

export type BudgetDecision = 'increase' | 'decrease' | 'hold';

export interface BudgetStep {
  readonly atMs: number;
  readonly perS: number;
  readonly decision: BudgetDecision;
  readonly reason: string;
  /** Median of the interval's completion samples, null without samples. */
  readonly latencyMs: number | null;
  /** 90th percentile of the interval's completion samples (the increase guard), null without samples. */
  readonly latencyP90Ms: number | null;
  readonly samples: number;
  /** Median start request latency of the interval, null without starts. */
  readonly startLatencyMs: number | null;
  readonly starts: number;
  readonly backlog: number;
  /** Largest group cut in the interval (0: no flush). */
  readonly maxGroup: number;
}

/** Upper bound on the samples kept per interval (memory bound; the median of the first ones is enough). */
const MAX_SAMPLES_PER_INTERVAL = 1000;

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Nearest-rank percentile (p in (0, 100]), null for no samples. */
export function percentileOf(xs: readonly number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

export class AimdBudget {
  private rate: number;
  private samples: number[] = [];
  private startSamples: number[] = [];
  private backlogMax = 0;
  private maxGroup = 0;
  private limited = false;
  private intervalStart: number;
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly o: AimdOptions,
    nowMs: number,
  ) {
    if (!(o.minPerS > 0) || o.maxPerS < o.minPerS) throw new RangeError('need 0 < minPerS <= maxPerS');
    if (!(o.decreaseFactor > 0 && o.decreaseFactor < 1)) throw new RangeError('decreaseFactor must be in (0, 1)');
    if (!(o.increasePerS >= 0) || !(o.targetLatencyMs > 0) || !(o.targetStartLatencyMs > 0) || !(o.intervalMs > 0)) {
      throw new RangeError('increasePerS >= 0, latency targets > 0 and intervalMs > 0 required');
    }
    if (!(o.maxGroupEvents >= 1)) throw new RangeError('maxGroupEvents must be >= 1');
    this.rate = Math.min(o.maxPerS, Math.max(o.minPerS, o.initialPerS));
    this.intervalStart = nowMs;
  }

  /** Workflow starts per second allowed now. */
  get perS(): number {
    return this.rate;
  }

  /** A sampled workflow took `latencyMs` from its start request (at `startedAtMs`) to completion. */
  observeLatency(latencyMs: number, startedAtMs: number): void {
    if (startedAtMs < this.lastDecreaseAt) return;
    if (this.samples.length < MAX_SAMPLES_PER_INTERVAL) this.samples.push(latencyMs);
  }

  /** A start request (sent at `startedAtMs`) was acknowledged after `latencyMs`. */
  observeStartLatency(latencyMs: number, startedAtMs: number): void {
    if (startedAtMs < this.lastDecreaseAt) return;
    if (this.startSamples.length < MAX_SAMPLES_PER_INTERVAL) this.startSamples.push(latencyMs);
  }

  /** A flush cut these groups; `limited`: the budget ran short (it grouped events or left a debt to pace off). */
  noteFlush(groupSizes: readonly number[], limited: boolean): void {
    for (const n of groupSizes) this.maxGroup = Math.max(this.maxGroup, n);
    if (limited) this.limited = true;
  }

  observeBacklog(workflowTasks: number): void {
    this.backlogMax = Math.max(this.backlogMax, workflowTasks);
  }

  /** Whether the next tick(nowMs) ends the interval (a caller adds what it observes only then, once). */
  intervalDue(nowMs: number): boolean {
    return nowMs - this.intervalStart >= this.o.intervalMs;
  }

  /** Ends the interval if it is over and returns the decision taken, else null. */
  tick(nowMs: number): BudgetStep | null {
    if (!this.intervalDue(nowMs)) return null;
    const latencyMs = median(this.samples);
    const latencyP90Ms = percentileOf(this.samples, 90);
    const startP90Ms = percentileOf(this.startSamples, 90);
    const samples = this.samples.length;
    const startLatencyMs = median(this.startSamples);
    const starts = this.startSamples.length;
    const backlog = this.backlogMax;
    const maxGroup = this.maxGroup;
    // Congestion is judged by Temporal's own signals only: a group's completion time grows with its size, so a slow
    // completion must not cut the rate (fewer workflows → larger groups → slower completions, a trap); it only stops
    // increases.
    let congestion: string | null = null;
    if (this.o.maxBacklog > 0 && backlog > this.o.maxBacklog) congestion = `backlog ${backlog} > ${this.o.maxBacklog}`;
    else if (startLatencyMs !== null && startLatencyMs > this.o.targetStartLatencyMs) {
      congestion = `start latency ${Math.round(startLatencyMs)} ms > ${this.o.targetStartLatencyMs} ms`;
    }
    let decision: BudgetDecision = 'hold';
    let reason: string;
    if (congestion !== null) {
      // Room to batch: no group reached the cap (no flush at all, starts held by the backlog gate, counts as room).
      if (maxGroup < this.o.maxGroupEvents) {
        decision = 'decrease';
        reason = congestion;
      } else {
        reason = `${congestion}, but groups are full (${maxGroup} events): a lower rate would only add lag`;
      }
    } else if (!this.limited) {
      reason = 'budget not limiting';
    } else if (latencyP90Ms === null || startP90Ms === null) {
      reason = 'no latency sample';
    } else if (latencyP90Ms > this.o.targetLatencyMs) {
      reason = `completion p90 ${Math.round(latencyP90Ms)} ms > ${this.o.targetLatencyMs} ms: not increasing`;
    } else if (startP90Ms > this.o.targetStartLatencyMs) {
      reason = `start p90 ${Math.round(startP90Ms)} ms > ${this.o.targetStartLatencyMs} ms: not increasing`;
    } else {
      decision = 'increase';
      reason = 'limiting, latencies within targets';
    }
    // A step the bounds do not allow is a hold (so the counts say what the rate did).
    if (decision === 'increase' && this.rate >= this.o.maxPerS) {
      decision = 'hold';
      reason = `at max ${this.o.maxPerS}/s (${reason})`;
    } else if (decision === 'decrease' && this.rate <= this.o.minPerS) {
      decision = 'hold';
      reason = `at min ${this.o.minPerS}/s (${reason})`;
    }
    if (decision === 'decrease') {
      this.rate = Math.max(this.o.minPerS, this.rate * this.o.decreaseFactor);
      this.lastDecreaseAt = nowMs;
    } else if (decision === 'increase') {
      this.rate = Math.min(this.o.maxPerS, this.rate + this.o.increasePerS);
    }
    this.samples = [];
    this.startSamples = [];
    this.backlogMax = 0;
    this.maxGroup = 0;
    this.limited = false;
    this.intervalStart = nowMs;
    return {
      atMs: nowMs,
      perS: this.rate,
      decision,
      reason,
      latencyMs,
      latencyP90Ms,
      samples,
      startLatencyMs,
      starts,
      backlog,
      maxGroup,
    };
  }
}
