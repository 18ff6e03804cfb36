/**
 * Workflows of the batch graph (deterministic: only @temporalio/workflow and type imports, checked by the import lint).
 *
 * - StepWorkflow: one step on one partition. Plans it (unknown step, bad or future partition: fails at once), then
 *   runs it with the step's own timeout, heartbeat timeout and retry policy (transient errors back off, deterministic
 *   ones are non-retryable), and records a run that ended without output. A failed run fails the workflow.
 * - PartitionWorkflow: a set of steps on one partition in graph order; a step runs only when its inputs changed
 *   (its upstream produced a new output for the partition, or what it observes moved), so a step right below one
 *   that just produced data runs in the same pass. A failed, halted or blocked step stops the steps below it.
 * - TickWorkflow: what a schedule starts; resolves its partitions from the scheduled time and runs them.
 * - BackfillWorkflow: day partitions with bounded concurrency, one PartitionWorkflow each; progress by query.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  defineQuery,
  executeChild,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from './activities.ts';
import {
  type BackfillProgress,
  type BackfillRequest,
  MAX_BACKFILL_CONCURRENCY,
  type PartitionResult,
  type PartitionWorkflowInput,
  type StepResult,
  type StepWorkflowInput,
  type TickInput,
} from './types.ts';

/** Planning and bookkeeping: short database work, retried on transient errors. */
const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 10, initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export const backfillProgressQuery = defineQuery<BackfillProgress>('backfillProgress');

function failureOf(err: unknown): { message: string; type: string; nonRetryable: boolean; details: unknown[] } {
  let cause: unknown = err;
  while ((cause instanceof ActivityFailure || cause instanceof ChildWorkflowFailure) && cause.cause) {
    cause = cause.cause;
  }
  if (cause instanceof ApplicationFailure) {
    return {
      message: cause.message,
      type: cause.type ?? 'Error',
      nonRetryable: cause.nonRetryable === true,
      details: [...(cause.details ?? [])],
    };
  }
  const e = cause as { message?: string; name?: string };
  return { message: e?.message ?? String(cause), type: e?.name ?? 'Error', nonRetryable: false, details: [] };
}

function identity(input: StepWorkflowInput) {
  const { workflowId, runId } = workflowInfo();
  return { step: input.step, partitionKey: input.partition, trigger: input.trigger, workflowId, workflowRunId: runId };
}

async function planOrFail(input: { step: string; partition: string; force?: boolean }) {
  try {
    return await bookkeeping.planStep(input);
  } catch (err) {
    const f = failureOf(err);
    throw ApplicationFailure.create({ message: f.message, type: f.type, nonRetryable: true });
  }
}

export async function StepWorkflow(input: StepWorkflowInput): Promise<StepResult> {
  const base = { step: input.step, partition: input.partition, workflowId: workflowInfo().workflowId };
  const plan = await planOrFail(input);
  switch (plan.action) {
    case 'unchanged':
    case 'waiting':
      return { ...base, status: plan.action, reason: plan.reason };
    case 'blocked': {
      const runId = await bookkeeping.recordStepEnd({
        identity: identity(input),
        status: 'blocked',
        reason: plan.reason,
        errorType: 'UpstreamNotSucceeded',
        retryable: true,
      });
      return { ...base, status: 'blocked', reason: plan.reason, runId };
    }
    case 'unavailable':
      await bookkeeping.recordStepEnd({
        identity: identity(input),
        status: 'unavailable',
        reason: plan.reason,
        errorType: 'StepNotAvailable',
        retryable: true,
      });
      throw ApplicationFailure.create({ message: plan.reason, type: 'StepNotAvailable', nonRetryable: true });
    case 'run':
      break;
  }
  const run = proxyActivities<Activities>({
    startToCloseTimeout: plan.timeoutMs,
    heartbeatTimeout: plan.heartbeatTimeoutMs,
    retry: {
      maximumAttempts: plan.retry.maxAttempts,
      initialInterval: plan.retry.initialIntervalMs,
      backoffCoefficient: plan.retry.backoffCoefficient,
      maximumInterval: plan.retry.maxIntervalMs,
    },
  });
  try {
    const r = await run.executeStep({
      step: input.step,
      partition: input.partition,
      trigger: input.trigger,
      force: input.force ?? false,
    });
    return {
      ...base,
      status: r.status,
      changed: r.changed,
      runId: r.runId ?? null,
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
      ...(r.outputs ? { outputs: r.outputs } : {}),
    };
  } catch (err) {
    const f = failureOf(err);
    await bookkeeping.recordStepEnd({
      identity: identity(input),
      status: 'failed',
      reason: f.message,
      errorType: f.type,
      retryable: !f.nonRetryable,
    });
    throw ApplicationFailure.create({
      message: `${input.step} failed for ${input.partition}: ${f.message}`,
      type: f.type,
      nonRetryable: true,
      details: f.details,
    });
  }
}

/**
 * The steps of one partition in graph order, each run as a child StepWorkflow only when its plan says so. Child ids
 * are `<prefix>/<step>`. Used by PartitionWorkflow and TickWorkflow.
 */
async function runPartition(input: PartitionWorkflowInput, idPrefix: string): Promise<PartitionResult> {
  const results: StepResult[] = [];
  for (const step of input.steps) {
    const plan = await planOrFail({ step, partition: input.partition, force: input.force ?? false });
    const base = { step, partition: input.partition };
    if (plan.action === 'unchanged' || plan.action === 'waiting' || plan.action === 'unavailable') {
      results.push({ ...base, status: plan.action, reason: plan.reason });
      continue;
    }
    if (plan.action === 'blocked') {
      const { workflowId, runId } = workflowInfo();
      const id = await bookkeeping.recordStepEnd({
        identity: { step, partitionKey: input.partition, trigger: input.trigger, workflowId, workflowRunId: runId },
        status: 'blocked',
        reason: plan.reason,
        errorType: 'UpstreamNotSucceeded',
        retryable: true,
      });
      results.push({ ...base, status: 'blocked', reason: plan.reason, runId: id });
      continue;
    }
    const childId = `${idPrefix}/${step}`;
    try {
      const r = await executeChild(StepWorkflow, {
        workflowId: childId,
        args: [{ step, partition: input.partition, trigger: input.trigger, force: input.force ?? false }],
      });
      results.push(r);
    } catch (err) {
      if (!(err instanceof ChildWorkflowFailure)) throw err;
      const f = failureOf(err);
      results.push({ ...base, status: 'failed', reason: f.message, errorType: f.type, workflowId: childId });
    }
  }
  return { partition: input.partition, steps: results };
}

function failIfAnyFailed(what: string, results: readonly PartitionResult[]): void {
  const failed = results.flatMap((p) => p.steps.filter((s) => s.status === 'failed'));
  if (failed.length === 0) return;
  throw ApplicationFailure.create({
    message: `${what}: ${failed.map((s) => `${s.step} failed for ${s.partition} (${s.errorType}: ${s.reason})`).join('; ')}`,
    type: 'StepsFailed',
    nonRetryable: true,
    details: [results],
  });
}

export async function PartitionWorkflow(input: PartitionWorkflowInput): Promise<PartitionResult> {
  const result = await runPartition(input, workflowInfo().workflowId);
  failIfAnyFailed(`partition ${input.partition}`, [result]);
  return result;
}

/** The time the schedule meant this run for (a catch-up run starts later than that), else the start time. */
function scheduledAt(): Date {
  const info = workflowInfo();
  // The typed accessor needs @temporalio/common at runtime, which workflow files do not import.
  const v = info.searchAttributes?.TemporalScheduledStartTime?.[0];
  return v instanceof Date ? v : typeof v === 'string' ? new Date(v) : info.startTime;
}

export async function TickWorkflow(input: TickInput): Promise<PartitionResult[]> {
  const plan = await bookkeeping.planTick({ ...input, scheduledAt: scheduledAt().toISOString() });
  const { workflowId } = workflowInfo();
  const results: PartitionResult[] = [];
  for (const partition of plan.partitions) {
    results.push(
      await runPartition(
        { partition, steps: plan.steps, trigger: `schedule:${input.schedule}` },
        `${workflowId}/${partition}`,
      ),
    );
  }
  failIfAnyFailed(`schedule ${input.schedule}`, results);
  return results;
}

export async function BackfillWorkflow(req: BackfillRequest): Promise<BackfillProgress> {
  const plan = await planOrFailBackfill(req);
  const { workflowId } = workflowInfo();
  const concurrency = Math.min(Math.max(1, Math.floor(req.concurrency ?? 2)), MAX_BACKFILL_CONCURRENCY);
  const results: PartitionResult[] = [];
  const running = new Set<string>();
  let next = 0;
  setHandler(backfillProgressQuery, () => ({
    total: plan.partitions.length,
    done: results.length,
    running: [...running],
    results,
  }));
  const lane = async () => {
    while (next < plan.partitions.length) {
      const partition = plan.partitions[next++] as string;
      running.add(partition);
      try {
        results.push(
          await executeChild(PartitionWorkflow, {
            workflowId: `${workflowId}/${partition}`,
            args: [{ partition, steps: plan.steps, trigger: `backfill:${workflowId}`, force: req.force ?? false }],
          }),
        );
      } catch (err) {
        if (!(err instanceof ChildWorkflowFailure)) throw err;
        const f = failureOf(err);
        const detail = (f.details[0] as PartitionResult[] | undefined)?.[0];
        results.push(
          detail ?? {
            partition,
            steps: [{ step: '*', partition, status: 'failed', reason: f.message, errorType: f.type }],
          },
        );
      } finally {
        running.delete(partition);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  results.sort((a, b) => (a.partition < b.partition ? -1 : a.partition > b.partition ? 1 : 0));
  const progress = { total: plan.partitions.length, done: results.length, running: [], results };
  failIfAnyFailed(`backfill ${req.from}..${req.to}`, results);
  return progress;
}

async function planOrFailBackfill(req: BackfillRequest) {
  try {
    return await bookkeeping.planBackfill(req);
  } catch (err) {
    const f = failureOf(err);
    throw ApplicationFailure.create({ message: f.message, type: f.type, nonRetryable: true });
  }
}
