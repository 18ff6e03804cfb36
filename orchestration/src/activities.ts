/**
 * Activities of the batch graph, built by a factory from their dependencies (pool, step graph, environment): plan
 * a step for a partition (validate, availability, upstream state, input fingerprint), execute it under the per-step
 * lock with heartbeats and chunk bookkeeping, record runs that ended without output, and expand schedule ticks and
 * backfills into partitions. Errors thrown to Temporal are ApplicationFailures whose `nonRetryable` flag says
 * whether a retry can help. Not the control flow (workflows.ts).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import type { StepGraph } from './graph.ts';
import {
  beginRun,
  chunkResult,
  finishRun,
  getStates,
  hashOf,
  inTransaction,
  noteAttemptError,
  type PartitionState,
  type RunIdentity,
  recordChunk,
  recordEnd,
  withStepLock,
} from './history.ts';
import {
  assertNotFuture,
  dayRange,
  isOpen,
  lastClosedPartition,
  type Partition,
  PartitionError,
  parsePartition,
  partitionAt,
} from './partition.ts';
import {
  isDeterministic,
  type Json,
  type JsonObject,
  type RetryPolicy,
  retryPolicyOf,
  type StepDefinition,
  type StepEnv,
  StepFailure,
  type StepRunContext,
  TransientStepError,
} from './step.ts';
import type {
  BackfillPlan,
  BackfillRequest,
  EndRecord,
  ExecuteInput,
  ExecuteResult,
  PlanInput,
  StepPlan,
  TickInput,
  TickPlan,
} from './types.ts';

export interface ActivityMetrics {
  runEnded(step: string, status: string, errorType?: string, durationMs?: number): void;
}

export interface ActivityDeps {
  readonly graph: StepGraph;
  readonly env: StepEnv;
  readonly metrics?: ActivityMetrics;
}

/** How often a running step heartbeats (a third of its heartbeat timeout, at most every 10 s). */
function heartbeatEveryMs(timeoutMs: number): number {
  return Math.max(200, Math.min(10_000, Math.floor(timeoutMs / 3)));
}

export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 60_000;

function invalid(err: unknown, type: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable((err as Error).message, type);
}

function stepOf(graph: StepGraph, name: string): StepDefinition {
  try {
    return graph.get(name);
  } catch (err) {
    throw invalid(err, 'UnknownStep');
  }
}

function partitionOf(step: StepDefinition, key: string, now: Date): Partition {
  try {
    const p = parsePartition(key, step.partitioning);
    assertNotFuture(p, step.partitioning, now);
    return p;
  } catch (err) {
    if (err instanceof PartitionError) throw invalid(err, 'InvalidPartition');
    throw err;
  }
}

/** Output versions of the upstream steps, or why the step cannot run yet (waiting) or must not (blocked). */
function upstreamVersions(
  step: StepDefinition,
  states: Map<string, PartitionState>,
  partitionKey: string,
): { versions: Record<string, string> } | { action: 'waiting' | 'blocked'; reason: string } {
  const versions: Record<string, string> = {};
  for (const u of step.upstream ?? []) {
    const s = states.get(u);
    if (!s) return { action: 'waiting', reason: `upstream ${u} has not run for ${partitionKey}` };
    if (s.status !== 'succeeded') {
      return { action: 'blocked', reason: `upstream ${u} ${s.status} for ${partitionKey}: ${s.reason ?? 'no reason'}` };
    }
    versions[u] = s.output_version ?? '';
  }
  return { versions };
}

function fingerprintOf(step: StepDefinition, upstream: Record<string, string>, observed: JsonObject): string {
  return hashOf({ step: step.name, version: step.version ?? '1', upstream, observed });
}

/** Whether the latest state says this step has already done (or deterministically failed) on these inputs. */
function alreadyDone(state: PartitionState | undefined, fingerprint: string): string | null {
  if (!state || state.last_fingerprint !== fingerprint) return null;
  if (state.status === 'succeeded' || state.status === 'halted') return `unchanged since run ${state.last_run_id}`;
  if (state.status === 'failed' && !state.last_retryable) {
    return `inputs unchanged since run ${state.last_run_id} failed deterministically (${state.reason}); force to retry`;
  }
  return null;
}

function policyOf(step: StepDefinition): { retry: RetryPolicy; timeoutMs: number; heartbeatTimeoutMs: number } {
  return {
    retry: retryPolicyOf(step),
    timeoutMs: step.timeoutMs,
    heartbeatTimeoutMs: step.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS,
  };
}

/** Partition keys a schedule tick covers, from the time the schedule meant it to run. */
export function tickPartitions(rule: TickInput['partitions'], step: StepDefinition, scheduledAt: Date): string[] {
  const p = step.partitioning;
  switch (rule) {
    case 'last-closed':
      return [lastClosedPartition(scheduledAt, p).key];
    case 'current-and-previous': {
      const cur = partitionAt(scheduledAt, p);
      return [lastClosedPartition(scheduledAt, p).key, cur.key];
    }
  }
}

/** Plans a step for a partition: validate, availability, upstream state, input fingerprint. */
async function planStep({ graph, env }: ActivityDeps, input: PlanInput): Promise<StepPlan> {
  const step = stepOf(graph, input.step);
  const now = env.now();
  const part = partitionOf(step, input.partition, now);
  const policy = policyOf(step);
  const base = { step: step.name, partition: part.key, ...policy };
  const unavailable = (await step.available?.(env)) ?? null;
  if (unavailable) return { ...base, action: 'unavailable', reason: `not available yet: ${unavailable}` };
  if (step.closedPartitionsOnly && isOpen(part, now)) {
    return { ...base, action: 'waiting', reason: `${part.key} is still open; ${step.name} runs once it is over` };
  }
  const states = await getStates(env.pool, [step.name, ...(step.upstream ?? [])], part.key);
  const up = upstreamVersions(step, states, part.key);
  if ('action' in up) return { ...base, action: up.action, reason: up.reason };
  if (input.force) return { ...base, action: 'run', reason: 'forced' };
  const observed = (await step.observe?.(env, part)) ?? {};
  const done = alreadyDone(states.get(step.name), fingerprintOf(step, up.versions, observed));
  if (done) return { ...base, action: 'unchanged', reason: done };
  return { ...base, action: 'run', reason: states.has(step.name) ? 'inputs changed' : 'first run' };
}

/**
 * `ctx.chunk` of one run: `work` runs once per run key and chunk key; its result is recorded with it, in the same
 * transaction unless `tx: false`.
 */
function chunkRunner(pool: pg.Pool, runKey: string): StepRunContext['chunk'] {
  return async <T extends Json>(
    key: string,
    work: (tx: pg.PoolClient | null) => Promise<T>,
    opts: { tx?: boolean } = {},
  ): Promise<T> => {
    const prior = await chunkResult(pool, runKey, key);
    if (prior !== undefined) return prior as T;
    if (opts.tx === false) {
      const result = await work(null);
      await recordChunk(pool, runKey, key, result);
      return result;
    }
    const client = await pool.connect();
    try {
      return await inTransaction(client, async () => {
        const result = await work(client);
        await recordChunk(client, runKey, key, result);
        return result;
      });
    } finally {
      client.release();
    }
  };
}

/** What a run of this very workflow that committed before its worker died reports when it resumes. */
function resumedResult(state: PartitionState): ExecuteResult {
  return {
    status: state.status === 'halted' ? 'halted' : 'succeeded',
    runId: state.last_run_id,
    outputVersion: state.output_version ?? '',
    changed: true,
    resumed: true,
    ...(state.status === 'halted' ? { reason: state.reason ?? '' } : {}),
  };
}

/** One execution of a step, everything it needs once the step lock is held. */
interface LockedRun {
  readonly deps: ActivityDeps;
  readonly step: StepDefinition;
  readonly part: Partition;
  readonly id: RunIdentity;
  readonly input: ExecuteInput;
  readonly ctx: Context;
  readonly beat: (details?: JsonObject) => void;
  readonly started: number;
}

/**
 * Under the step lock: re-checks the upstream state and the input fingerprint (resume, unchanged), begins the run,
 * runs the step and commits its deferred writes together with the run's end.
 */
async function executeLocked(r: LockedRun, lock: pg.PoolClient): Promise<ExecuteResult> {
  const { deps, step, part, id, input, ctx } = r;
  const { env } = deps;
  const states = await getStates(lock, [step.name, ...(step.upstream ?? [])], part.key);
  const up = upstreamVersions(step, states, part.key);
  if ('action' in up) return { status: up.action, reason: up.reason, changed: false };
  const observed = (await step.observe?.(env, part)) ?? {};
  const fingerprint = fingerprintOf(step, up.versions, observed);
  const state = states.get(step.name);
  // A run of this very workflow that committed before its worker died: resume by reporting it, not redoing it.
  if (state?.success_workflow_run_id === id.workflowRunId && state.last_fingerprint === fingerprint) {
    return resumedResult(state);
  }
  const done = input.force ? null : alreadyDone(state, fingerprint);
  if (done) return { status: 'unchanged', reason: done, runId: state?.last_run_id ?? '', changed: false };

  const runKey = hashOf({ step: step.name, partition: part.key, fingerprint, force: input.force ?? false });
  const inputs: JsonObject = { upstream: up.versions, observed };
  const runId = await beginRun(lock, id, { runKey, fingerprint, inputs, attempt: ctx.info.attempt });
  const commits: ((tx: pg.PoolClient) => Promise<void>)[] = [];
  const runCtx: StepRunContext = {
    ...env,
    runKey,
    runId,
    observed,
    upstream: up.versions,
    signal: ctx.cancellationSignal,
    heartbeat: r.beat,
    commitWithRun: (work) => {
      commits.push(work);
    },
    chunk: chunkRunner(env.pool, runKey),
  };
  try {
    const outcome = await step.run(runCtx, part);
    const outputVersion = outcome.outputVersion ?? hashOf(outcome.outputs);
    const changed = outputVersion !== (state?.output_version ?? null);
    const consumed: JsonObject = outcome.consumed ? { ...inputs, consumed: outcome.consumed } : inputs;
    await inTransaction(lock, async () => {
      for (const c of commits) await c(lock);
      await finishRun(lock, id, {
        runId,
        runKey,
        fingerprint,
        inputs: consumed,
        outputs: outcome.outputs,
        outputVersion,
        changed,
        halt: outcome.halt,
      });
    });
    const status = outcome.halt ? 'halted' : 'succeeded';
    deps.metrics?.runEnded(step.name, status, outcome.halt?.code, Date.now() - r.started);
    return {
      status,
      runId,
      outputVersion,
      changed,
      outputs: outcome.outputs,
      ...(outcome.halt ? { reason: `${outcome.halt.code}: ${outcome.halt.reason}` } : {}),
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await noteAttemptError(env.pool, runId, `attempt ${ctx.info.attempt}: ${message}`).catch(() => {});
    throw err;
  }
}

/** Executes a step for a partition under the per-step lock, heartbeating all along. */
async function executeStep(deps: ActivityDeps, input: ExecuteInput): Promise<ExecuteResult> {
  const { graph, env } = deps;
  const step = stepOf(graph, input.step);
  const ctx = Context.current();
  const info = ctx.info;
  const part = partitionOf(step, input.partition, env.now());
  const wf = info.workflowExecution;
  if (!wf) throw ApplicationFailure.nonRetryable('executeStep runs inside a workflow only', 'NoWorkflow');
  const id: RunIdentity = {
    step: step.name,
    partitionKey: part.key,
    trigger: input.trigger,
    workflowId: wf.workflowId,
    workflowRunId: wf.runId,
  };
  let lastDetails: JsonObject = {};
  const beat = (details?: JsonObject) => {
    if (details) lastDetails = details;
    ctx.heartbeat(lastDetails);
  };
  const timer = setInterval(() => beat(), heartbeatEveryMs(info.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS));
  const run: LockedRun = { deps, step, part, id, input, ctx, beat, started: Date.now() };
  try {
    return await withStepLock(
      env.pool,
      step.name,
      part.key,
      () => beat(),
      (lock) => executeLocked(run, lock),
    );
  } catch (err) {
    throw toFailure(err);
  } finally {
    clearInterval(timer);
  }
}

export function createActivities(deps: ActivityDeps) {
  const { graph, env } = deps;
  return {
    async planStep(input: PlanInput): Promise<StepPlan> {
      return planStep(deps, input);
    },

    async executeStep(input: ExecuteInput): Promise<ExecuteResult> {
      return executeStep(deps, input);
    },

    async recordStepEnd(input: EndRecord): Promise<string | null> {
      const runId = await recordEnd(env.pool, input.identity, {
        status: input.status,
        reason: input.reason,
        errorType: input.errorType,
        retryable: input.retryable,
      });
      if (runId !== null) deps.metrics?.runEnded(input.identity.step, input.status, input.errorType);
      return runId;
    },

    /** The (partition, steps) pairs of one schedule tick. */
    async planTick(input: TickInput & { scheduledAt: string }): Promise<TickPlan> {
      const at = new Date(input.scheduledAt);
      const steps = graph.sort(input.steps);
      const first = stepOf(graph, steps[0] ?? '');
      return { partitions: tickPartitions(input.partitions, first, at), steps };
    },

    /** Validates a backfill request and expands it into day partitions and steps in graph order. */
    async planBackfill(input: BackfillRequest): Promise<BackfillPlan> {
      return planBackfill(graph, input, env.now());
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;

/** The checks of `npm run backfill`, shared by the CLI (before anything starts) and the workflow. */
export function planBackfill(graph: StepGraph, input: BackfillRequest, now: Date): BackfillPlan {
  try {
    const names =
      input.steps && input.steps.length > 0
        ? input.steps
        : graph.ordered.filter((s) => s.partitioning.kind === 'day').map((s) => s.name);
    const steps = graph.sort(names);
    for (const s of steps) {
      const p = graph.get(s).partitioning;
      if (p.kind !== 'day') {
        throw new PartitionError(`${s} is partitioned by ${p.minutes}-minute windows; a backfill runs day steps`);
      }
    }
    const partitions = dayRange(input.from, input.to, now).map((p) => p.key);
    return { partitions, steps };
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, 'InvalidBackfill');
  }
}

/** Maps a step's error onto Temporal's retry semantics. */
export function toFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof StepFailure) {
    return ApplicationFailure.create({
      message: err.message,
      type: err.code,
      nonRetryable: true,
      details: [err.details],
    });
  }
  if (err instanceof TransientStepError) return ApplicationFailure.retryable(err.message, err.code);
  if (isDeterministic(err)) return ApplicationFailure.nonRetryable((err as Error).message, (err as Error).name);
  return err;
}
