/**
 * Schedules as code: the platform's Temporal Schedules (spec, the steps each tick runs, overlap policy and catch-up
 * window, all explicit), and `apply`, which makes the server match them idempotently: a missing schedule is created,
 * a changed one updated (compared by a hash of its definition carried in the tick's arguments), an unchanged one
 * left alone, and a schedule this code created that is no longer defined is deleted. A schedule none of whose steps
 * can run here is kept paused with a "not available yet" note, and resumed by a later apply once they can; a pause
 * someone made by hand is kept. Not the tick itself (workflows.ts TickWorkflow).
 */
import { envInt } from '@pep/contracts/env';
import {
  type Client,
  ScheduleNotFoundError,
  type ScheduleOptions,
  ScheduleOverlapPolicy,
  type ScheduleSpec,
} from '@temporalio/client';
import type { StepGraph } from './graph.ts';
import { hashOf } from './history.ts';
import type { StepEnv } from './step.ts';
import type { TickInput } from './types.ts';

export type OverlapPolicy = keyof typeof ScheduleOverlapPolicy;

export interface ScheduleDefinition {
  readonly name: string;
  readonly description: string;
  /** An interval (`5m`, `1h`) or a UTC cron expression; exactly one. */
  readonly every?: string;
  readonly cron?: string;
  readonly steps: readonly string[];
  readonly partitions: TickInput['partitions'];
  /** What happens when a tick is due while the previous one still runs. */
  readonly overlap: OverlapPolicy;
  /** How late a tick missed during an outage may still start (older ones are dropped). */
  readonly catchupWindow: string;
}

export const SCHEDULE_ID_PREFIX = 'orch-';
export const MANAGED_BY = '@pep/orchestration';
export const NOT_AVAILABLE_NOTE = 'not available yet:';

export function scheduleId(name: string, prefix = SCHEDULE_ID_PREFIX): string {
  return `${prefix}${name}`;
}

export function defaultSchedules(env: NodeJS.ProcessEnv = process.env): ScheduleDefinition[] {
  const reconcileMinutes = envInt(env, 'ORCH_RECONCILE_WINDOW_MINUTES', 5, 1, 60);
  return [
    {
      name: 'reconcile',
      description: 'pipeline reconciliation of the last window; a failing verdict is a failed run',
      every: `${reconcileMinutes}m`,
      steps: ['reconcile.check'],
      partitions: 'last-closed',
      overlap: 'SKIP',
      catchupWindow: `${2 * reconcileMinutes}m`,
    },
    {
      name: 'quarantine-review-timeouts',
      description: 'expired quarantine reviews of the last 15 minutes, orphaned reviews expired, overdue timers failed',
      every: '15m',
      steps: ['quarantine.review-timeouts'],
      partitions: 'last-closed',
      overlap: 'SKIP',
      catchupWindow: '1h',
    },
    {
      name: 'daily-graph',
      description: 'today and yesterday through the day graph; each step runs only when its inputs changed',
      every: '15m',
      steps: ['controls.daily-totals', 'lake.ingest', 'lake.compact', 'dbt.build', 'ml.train', 'ml.drift'],
      partitions: 'current-and-previous',
      overlap: 'SKIP',
      catchupWindow: '1h',
    },
    {
      name: 'dbt-full-checks',
      description:
        'yesterday: dbt build with every data test over every row (the 15-minute builds test the rows they wrote)',
      cron: '0 4 * * *',
      steps: ['dbt.check'],
      partitions: 'last-closed',
      overlap: 'SKIP',
      catchupWindow: '6h',
    },
    {
      name: 'lake-maintenance',
      description: 'snapshot expiry then orphan-file removal of the bronze tables, for yesterday',
      cron: '30 3 * * *',
      steps: ['lake.expire', 'lake.orphans'],
      partitions: 'last-closed',
      overlap: 'SKIP',
      catchupWindow: '6h',
    },
  ];
}

export class ScheduleDefinitionError extends Error {
  override readonly name = 'ScheduleDefinitionError';
}

const DURATION = /^(\d+)(s|m|h|d)$/;

function minutesOf(d: string): number {
  const m = DURATION.exec(d);
  if (!m) throw new ScheduleDefinitionError(`${JSON.stringify(d)} is not a duration like 5m, 1h`);
  return (Number(m[1]) * { s: 1 / 60, m: 1, h: 60, d: 1440 }[m[2] as 's' | 'm' | 'h' | 'd']) as number;
}

/** Checks a definition against the graph: known steps, one partitioning, ticks that cover every window. */
export function validateSchedule(def: ScheduleDefinition, graph: StepGraph): void {
  const where = `schedule ${def.name}`;
  if (!/^[a-z][a-z0-9-]*$/.test(def.name)) throw new ScheduleDefinitionError(`${where}: name must be kebab-case`);
  if (Boolean(def.every) === Boolean(def.cron)) throw new ScheduleDefinitionError(`${where}: set every or cron`);
  if (def.steps.length === 0) throw new ScheduleDefinitionError(`${where}: no steps`);
  minutesOf(def.catchupWindow);
  if (!(def.overlap in ScheduleOverlapPolicy)) throw new ScheduleDefinitionError(`${where}: overlap ${def.overlap}?`);
  const kinds = new Set(def.steps.map((s) => JSON.stringify(graph.get(s).partitioning)));
  if (kinds.size !== 1) throw new ScheduleDefinitionError(`${where}: its steps must share one partitioning`);
  const p = graph.get(def.steps[0] as string).partitioning;
  if (p.kind === 'window' && (!def.every || minutesOf(def.every) !== p.minutes)) {
    throw new ScheduleDefinitionError(`${where}: a ${p.minutes}-minute window step needs every: ${p.minutes}m`);
  }
}

function specOf(def: ScheduleDefinition): ScheduleSpec {
  return def.every
    ? { intervals: [{ every: def.every as `${number}m` }] }
    : { cronExpressions: [def.cron as string], timezone: 'UTC' };
}

export function tickInputOf(def: ScheduleDefinition, taskQueue: string): TickInput {
  const definition = { ...def, taskQueue, workflowType: 'TickWorkflow' };
  return { schedule: def.name, steps: [...def.steps], partitions: def.partitions, definitionHash: hashOf(definition) };
}

function optionsOf(def: ScheduleDefinition, taskQueue: string, prefix: string) {
  return {
    spec: specOf(def),
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'TickWorkflow',
      workflowId: `${prefix}tick-${def.name}`,
      taskQueue,
      args: [tickInputOf(def, taskQueue)],
      workflowExecutionTimeout: '12 hours',
    },
    policies: {
      overlap: ScheduleOverlapPolicy[def.overlap],
      catchupWindow: def.catchupWindow as `${number}m`,
      pauseOnFailure: false,
    },
  };
}

/** Why none of the schedule's steps can run here, or null when at least one can. */
async function unavailableReason(def: ScheduleDefinition, graph: StepGraph, env: StepEnv): Promise<string | null> {
  const reasons: string[] = [];
  for (const s of def.steps) {
    const why = (await graph.get(s).available?.(env)) ?? null;
    if (!why) return null;
    reasons.push(`${s}: ${why}`);
  }
  return `${NOT_AVAILABLE_NOTE} ${reasons.join('; ')}`;
}

export interface ApplyChange {
  readonly schedule: string;
  readonly action: 'created' | 'updated' | 'unchanged' | 'deleted';
  readonly paused: boolean;
  readonly note?: string;
}

export interface ScheduleContext {
  readonly client: Client;
  readonly graph: StepGraph;
  readonly env: StepEnv;
  readonly taskQueue: string;
  /** Schedule id prefix and owner marker (tests use their own, so they never touch the platform's schedules). */
  readonly idPrefix?: string;
  readonly managedBy?: string;
}

/** Makes the server's schedules match `defs`. Idempotent: a second apply reports every schedule unchanged. */
export async function applySchedules(
  ctx: ScheduleContext,
  defs: readonly ScheduleDefinition[],
): Promise<ApplyChange[]> {
  for (const d of defs) validateSchedule(d, ctx.graph);
  const names = new Set<string>();
  for (const d of defs) {
    if (names.has(d.name)) throw new ScheduleDefinitionError(`schedule ${d.name} is defined twice`);
    names.add(d.name);
  }
  const prefix = ctx.idPrefix ?? SCHEDULE_ID_PREFIX;
  const managedBy = ctx.managedBy ?? MANAGED_BY;
  const changes: ApplyChange[] = [];
  for (const def of defs) {
    const id = scheduleId(def.name, prefix);
    const handle = ctx.client.schedule.getHandle(id);
    const opts = optionsOf(def, ctx.taskQueue, prefix);
    const hash = opts.action.args[0]?.definitionHash;
    const unavailable = await unavailableReason(def, ctx.graph, ctx.env);
    let current: Awaited<ReturnType<typeof handle.describe>> | null = null;
    try {
      current = await handle.describe();
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
    if (!current) {
      const create: ScheduleOptions = {
        scheduleId: id,
        ...opts,
        memo: { managedBy, description: def.description },
        state: unavailable ? { paused: true, note: unavailable } : { note: def.description },
      };
      await ctx.client.schedule.create(create);
      changes.push({
        schedule: def.name,
        action: 'created',
        paused: Boolean(unavailable),
        ...(unavailable ? { note: unavailable } : {}),
      });
      continue;
    }
    const ours = (note: string | undefined) => note?.startsWith(NOT_AVAILABLE_NOTE) ?? false;
    const currentHash = (current.action as { args?: { definitionHash?: string }[] }).args?.[0]?.definitionHash;
    let paused = current.state.paused;
    let note = current.state.note;
    // Availability decides only pauses it made itself; a pause by hand stays.
    if (unavailable && (!paused || ours(note))) {
      paused = true;
      note = unavailable;
    } else if (!unavailable && paused && ours(note)) {
      paused = false;
      note = def.description;
    }
    const stateChanged = paused !== current.state.paused || note !== current.state.note;
    if (currentHash === hash && !stateChanged) {
      changes.push({ schedule: def.name, action: 'unchanged', paused, ...(note ? { note } : {}) });
      continue;
    }
    await handle.update((prev) => ({
      ...opts,
      state: {
        paused,
        ...(note !== undefined ? { note } : {}),
        ...(prev.state.remainingActions !== undefined ? { remainingActions: prev.state.remainingActions } : {}),
      },
    }));
    changes.push({ schedule: def.name, action: 'updated', paused, ...(note ? { note } : {}) });
  }
  for await (const s of ctx.client.schedule.list()) {
    if (!s.scheduleId.startsWith(prefix)) continue;
    const name = s.scheduleId.slice(prefix.length);
    if (names.has(name)) continue;
    if ((s.memo as { managedBy?: string } | undefined)?.managedBy !== managedBy) continue;
    await ctx.client.schedule.getHandle(s.scheduleId).delete();
    changes.push({ schedule: name, action: 'deleted', paused: false });
  }
  return changes;
}
