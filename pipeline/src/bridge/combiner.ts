/**
 * Adaptive grouping of payment events into workflow starts, across the partitions of one fetch and scaled to the
 * load, independent of Kafka and Temporal so that its guarantees are unit-tested.
 *
 * Why: the Temporal dev server sustains only ~20 workflows/s, so one workflow per event caps the rate, while fixed
 * 25-event batches per partition add a fill delay and a coarse switch. Here every partition batch of a fetch is
 * submitted; after a short window (`windowMs`, from the first pending submission, so that the partition batches of
 * the same fetch join) the pending events are cut into groups whose size follows a workflow budget (token bucket, `workflowsPerS` with a small burst): while
 * tokens last, one workflow per event (lowest latency); when they run short, fewer and larger groups, up to
 * `maxGroupEvents`. A group of one event becomes a per-event workflow, a larger one a batch workflow (possibly spanning
 * partitions). After the starts, `pace()` waits off any token debt before the next fetch, so a backlog gathers in
 * Kafka (visible lag) and comes back as larger groups instead of queueing inside Temporal.
 *
 * Guarantees (same as core.ts): a submission resolves only after every workflow start holding one of its messages
 * was acknowledged; a failing start is retried with capped backoff until it succeeds or every submitter of its group
 * has stopped (then those submitters reject with BridgeStoppedError and commit nothing).
 */
import { BridgeStoppedError, type RetryOptions, retryUntilDone } from './core.ts';

export interface GroupPart<M> {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly M[];
}

export interface CombinerOptions<M> {
  /** Largest group (events per workflow). 1 disables grouping. */
  readonly maxGroupEvents: number;
  /** Workflow starts per second the budget allows in steady state (initially; see setWorkflowsPerS). */
  readonly workflowsPerS: number;
  /** Tokens the bucket holds when idle (a burst of per-event workflows after a quiet period). */
  readonly burstWorkflows: number;
  /** Longest a submission waits for other partitions of the same fetch to join it. */
  readonly windowMs: number;
  /** Workflow starts in flight at once (bounded concurrency). */
  readonly maxInFlight: number;
  /** Longest pace() waits (bounds the delay of one fetch even after a very large flush). */
  readonly maxPaceMs: number;
  /** Starts one workflow for `group`; resolves once Temporal acknowledged it, throws to be retried. */
  readonly start: (group: readonly GroupPart<M>[]) => Promise<void>;
  readonly retry: Omit<RetryOptions, 'isActive' | 'sleep'>;
  /** Awaited before each chunk of starts (backpressure on Temporal's task-queue backlog). */
  readonly beforeChunk?: (isActive: () => boolean, heartbeat: () => Promise<void>) => Promise<void>;
  /** Called once per flush with the group sizes and the tokens left after it (metrics, the budget controller). */
  readonly onFlush?: (groupSizes: readonly number[], tokensLeft: number) => void;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

interface Pending<M> {
  readonly part: GroupPart<M>;
  readonly isActive: () => boolean;
  readonly heartbeat: () => Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A slice of the part at `index` (in the list given to cutGroups). */
export interface Slice<M> extends GroupPart<M> {
  readonly index: number;
}

/** Cuts `parts` (in order) into groups of `size` consecutive events; a group may span parts. */
export function cutGroups<M>(parts: readonly GroupPart<M>[], size: number): Slice<M>[][] {
  const groups: Slice<M>[][] = [];
  let current: Slice<M>[] = [];
  let room = size;
  for (const [index, p] of parts.entries()) {
    let i = 0;
    while (i < p.messages.length) {
      const take = Math.min(room, p.messages.length - i);
      current.push({ index, topic: p.topic, partition: p.partition, messages: p.messages.slice(i, i + take) });
      i += take;
      room -= take;
      if (room === 0) {
        groups.push(current);
        current = [];
        room = size;
      }
    }
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** Events per group for `events` pending with `tokens` in the budget: one per event while tokens last. */
export function groupSizeFor(events: number, tokens: number, maxGroupEvents: number): number {
  if (events <= 0) return 1;
  const workflows = Math.max(1, Math.floor(tokens));
  return Math.min(maxGroupEvents, Math.max(1, Math.ceil(events / workflows)));
}

export class StartCombiner<M> {
  private pending: Pending<M>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private tokens: number;
  private lastRefill: number;
  private rate: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly o: CombinerOptions<M>) {
    if (o.maxGroupEvents < 1 || o.workflowsPerS <= 0 || o.burstWorkflows < 1) {
      throw new RangeError('maxGroupEvents and burstWorkflows must be >= 1, workflowsPerS > 0');
    }
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? defaultSleep;
    this.tokens = o.burstWorkflows;
    this.lastRefill = this.now();
    this.rate = o.workflowsPerS;
  }

  /** Workflow starts per second the budget allows now. */
  get workflowsPerS(): number {
    return this.rate;
  }

  /** Changes the budget's rate (the AIMD controller); tokens earned so far keep the old rate. */
  setWorkflowsPerS(perS: number): void {
    if (!(perS > 0)) throw new RangeError('workflowsPerS must be > 0');
    this.refill();
    this.rate = perS;
  }

  /** Tokens left in the budget (negative: debt that pace() waits off). */
  get budget(): number {
    this.refill();
    return this.tokens;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.o.burstWorkflows, this.tokens + ((t - this.lastRefill) / 1000) * this.rate);
    this.lastRefill = t;
  }

  /** Resolves once every message of `part` is in an acknowledged workflow start. */
  submit(part: GroupPart<M>, isActive: () => boolean, heartbeat: () => Promise<void>): Promise<void> {
    if (part.messages.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ part, isActive, heartbeat, resolve, reject });
      // One window per pending group; 0 still yields a turn (setImmediate) so batches handed over together join.
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.o.windowMs);
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    this.refill();
    const events = batch.reduce((n, p) => n + p.part.messages.length, 0);
    const size = groupSizeFor(events, this.tokens, this.o.maxGroupEvents);
    const parts = batch.map((p) => p.part);
    const groups = cutGroups(parts, size);
    this.tokens -= groups.length;
    this.o.onFlush?.(
      groups.map((g) => g.reduce((n, x) => n + x.messages.length, 0)),
      this.tokens,
    );

    const failedOwners = new Map<Pending<M>, unknown>();
    // The submissions a group holds messages of.
    const ownersOf = (g: readonly Slice<M>[]) => [...new Set(g.map((x) => batch[x.index] as Pending<M>))];
    const strip = (g: readonly Slice<M>[]): GroupPart<M>[] =>
      g.map((x) => ({ topic: x.topic, partition: x.partition, messages: x.messages }));
    for (let i = 0; i < groups.length; i += this.o.maxInFlight) {
      const chunk = groups.slice(i, i + this.o.maxInFlight);
      const anyActive = () => batch.some((p) => !failedOwners.has(p) && p.isActive());
      try {
        await this.o.beforeChunk?.(anyActive, async () => {
          await Promise.all(batch.filter((p) => p.isActive()).map((p) => p.heartbeat()));
        });
      } catch (err) {
        for (const p of batch) failedOwners.set(p, err);
        break;
      }
      const results = await Promise.allSettled(
        chunk.map((g) => {
          const owners = ownersOf(g);
          const part = strip(g);
          return retryUntilDone(() => this.o.start(part), {
            ...this.o.retry,
            sleep: this.sleep,
            isActive: () => owners.some((p) => !failedOwners.has(p) && p.isActive()),
          });
        }),
      );
      results.forEach((r, j) => {
        if (r.status === 'rejected') {
          for (const p of ownersOf(chunk[j] as Slice<M>[])) if (!failedOwners.has(p)) failedOwners.set(p, r.reason);
        }
      });
      if (!anyActive()) {
        for (const p of batch)
          if (!failedOwners.has(p)) failedOwners.set(p, new BridgeStoppedError('consumer stopped'));
        break;
      }
    }
    for (const p of batch) {
      const err = failedOwners.get(p);
      if (err === undefined) p.resolve();
      else p.reject(err);
    }
  }

  /** Waits off the budget's debt (bounded by maxPaceMs), so the next fetch gathers more events per workflow. */
  async pace(isActive: () => boolean): Promise<void> {
    this.refill();
    if (this.tokens >= 0 || !isActive()) return;
    await this.sleep(Math.min(this.o.maxPaceMs, Math.ceil((-this.tokens / this.rate) * 1000)));
  }

  /** Rejects pending submissions (the consumer is stopping). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    for (const p of batch) p.reject(new BridgeStoppedError('bridge stopped'));
  }
}
