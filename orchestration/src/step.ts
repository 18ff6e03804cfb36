/**
 * The step interface of the batch graph: what a package registers to put its batch work under the orchestrator
 * (a name, its partitioning, its upstream steps, how to observe its inputs and how to run it), the context a step
 * runs with, and the two kinds of failure it can throw. Not the scheduling or the run history: the orchestrator
 * derives those from the registration.
 *
 * Contract for a step's `run`: it is a function of its partition; it writes its output atomically (one
 * transaction, one Iceberg commit, a rename) or in chunks through `ctx.chunk`, so that a retry after a crash
 * neither redoes committed work nor writes twice; it returns what it wrote (row counts, snapshot ids) and may
 * return what it actually consumed.
 */
import type pg from 'pg';
import type { Partition, Partitioning } from './partition.ts';

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  readonly initialIntervalMs: number;
  readonly backoffCoefficient: number;
  readonly maxIntervalMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  maxAttempts: 4,
  initialIntervalMs: 10_000,
  backoffCoefficient: 3,
  maxIntervalMs: 5 * 60_000,
});

/** What every step gets: the platform's PostgreSQL, the repository root (for commands), a logger, the clock. */
export interface StepEnv {
  readonly pool: pg.Pool;
  readonly repoRoot: string;
  readonly env: NodeJS.ProcessEnv;
  readonly now: () => Date;
  readonly log: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface StepRunContext extends StepEnv {
  /** Stable for every attempt of one run of the step on one partition with the same inputs. */
  readonly runKey: string;
  /** The run's row in orchestration.step_runs (for output rows that reference it). */
  readonly runId: string;
  /** What `observe` returned for this run (under the step's lock). */
  readonly observed: JsonObject;
  /** Output versions of the upstream steps for this partition, by step name. */
  readonly upstream: Readonly<Record<string, string>>;
  /** Tells Temporal the step is alive (also sent periodically by the orchestrator); details are kept for a retry. */
  heartbeat(details?: JsonObject): void;
  /** Aborted when the run is cancelled or the worker shuts down. */
  readonly signal: AbortSignal;
  /**
   * Runs `work` once per run key and chunk key: a chunk committed by an earlier attempt of this run is not run
   * again, its recorded result is returned. With `tx`, `work` gets a client inside a transaction that also records
   * the chunk, so its writes and the record commit together. Without it (commands, external systems), the record is
   * written after `work` returns: `work` must then be idempotent for this run key.
   */
  chunk<T extends Json>(
    key: string,
    work: (tx: pg.PoolClient | null) => Promise<T>,
    opts?: { tx?: boolean },
  ): Promise<T>;
  /** Runs `work` in one transaction that commits together with this run's success record. */
  commitWithRun(work: (tx: pg.PoolClient) => Promise<void>): void;
}

export interface StepOutcome {
  /** What the step wrote: row counts, snapshot ids, file names. */
  readonly outputs: JsonObject;
  /**
   * The version of this step's output for the partition (e.g. a snapshot id, a content hash). Downstream steps run
   * when it differs from the one they last consumed. Default: a hash of `outputs`.
   */
  readonly outputVersion?: string;
  /** What the step actually consumed when it knows better than `observe` (e.g. the snapshot a command read). */
  readonly consumed?: JsonObject;
  /**
   * The step ran and its verdict stops the steps below it for this partition (e.g. a blocked model promotion):
   * the run is recorded as `halted` with this reason, and downstream steps are blocked, not started.
   */
  readonly halt?: { readonly code: string; readonly reason: string };
}

export interface StepDefinition {
  /** `<area>.<verb>`, e.g. `dbt.build`; also used in workflow ids and metric labels. */
  readonly name: string;
  readonly description: string;
  /** Which package or issue provides the work (shown when the step is not available). */
  readonly owner: string;
  readonly partitioning: Partitioning;
  /** Steps whose output for the same partition this step consumes. */
  readonly upstream?: readonly string[];
  /** Bump when the step's logic changes, so unchanged partitions run again (part of the input fingerprint). */
  readonly version?: string;
  /** Run only once the partition is over (a day before today, an ended window), e.g. training on a day. */
  readonly closedPartitionsOnly?: boolean;
  /** Bound on one attempt. */
  readonly timeoutMs: number;
  /** A worker that stops heartbeating for this long is presumed dead and the attempt is retried elsewhere. */
  readonly heartbeatTimeoutMs?: number;
  readonly retry?: Partial<RetryPolicy>;
  /** Null when the step can run here, else why not (e.g. `no "dbt" script in package.json`). Cheap. */
  available?(env: StepEnv): Promise<string | null>;
  /**
   * A cheap description of the inputs the step would consume for the partition (row counts, snapshot ids,
   * offsets). With the upstream output versions it forms the input fingerprint: an unchanged fingerprint means
   * the step does nothing. Without it, the step runs once per partition and again only when upstream changed.
   */
  observe?(env: StepEnv, partition: Partition): Promise<JsonObject>;
  run(ctx: StepRunContext, partition: Partition): Promise<StepOutcome>;
}

/**
 * A deterministic failure: retrying cannot help (a failed dbt test, a corrupt input, a rejected command line).
 * Becomes a non-retryable ApplicationFailure of type `code`; the run is recorded as failed with the reason.
 */
export class StepFailure extends Error {
  override readonly name = 'StepFailure';
  constructor(
    readonly code: string,
    message: string,
    readonly details: JsonObject = {},
  ) {
    super(message);
  }
}

/** A transient failure (a server down, a lock timeout): retried with the step's backoff, then failed visibly. */
export class TransientStepError extends Error {
  override readonly name = 'TransientStepError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Errors that are programming mistakes, not the weather: retrying them only delays the failure. */
export function isDeterministic(err: unknown): boolean {
  return (
    err instanceof StepFailure ||
    err instanceof TypeError ||
    err instanceof RangeError ||
    err instanceof SyntaxError ||
    err instanceof ReferenceError
  );
}

export function retryPolicyOf(step: StepDefinition): RetryPolicy {
  return { ...DEFAULT_RETRY, ...step.retry };
}
