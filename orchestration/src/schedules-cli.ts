/**
 * `npm run schedules -- apply|list|pause|unpause|trigger [<name>] [--json] [--note <text>]`: the platform's Temporal
 * Schedules as code (schedules.ts). `apply` creates, updates and deletes so that the server matches the definitions
 * (idempotent; `npm start` runs it); `list` shows each schedule's spec, policies, state, next and recent runs;
 * `pause`/`unpause` keep their note; `trigger` starts a tick now (after a running one, if any).
 */
import { parseArgs } from 'node:util';
import { ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import { type CliContext, hasWorker, openCli, runCli, table, UsageError, workflowLink } from './cli-common.ts';
import { applySchedules, defaultSchedules, type ScheduleDefinition, scheduleId } from './schedules.ts';

const USAGE = 'usage: npm run schedules -- apply|list|pause|unpause|trigger [<name>] [--json] [--note <text>]';

function definition(name: string | undefined, defs: readonly ScheduleDefinition[]): ScheduleDefinition {
  if (!name) throw new UsageError(`a schedule name is required; schedules: ${defs.map((d) => d.name).join(', ')}`);
  const d = defs.find((x) => x.name === name);
  if (!d)
    throw new UsageError(`unknown schedule ${JSON.stringify(name)}; schedules: ${defs.map((x) => x.name).join(', ')}`);
  return d;
}

async function list(ctx: CliContext, defs: readonly ScheduleDefinition[], json: boolean): Promise<number> {
  const out = [];
  for (const d of defs) {
    try {
      const s = await ctx.client.schedule.getHandle(scheduleId(d.name)).describe();
      out.push({
        name: d.name,
        id: s.scheduleId,
        spec: d.every ? `every ${d.every}` : `cron ${d.cron} UTC`,
        steps: d.steps,
        overlap: s.policies.overlap,
        catchup_window_ms: s.policies.catchupWindow,
        paused: s.state.paused,
        note: s.state.note ?? null,
        next: s.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
        recent: s.info.recentActions.slice(-3).map((a) => ({
          scheduled_at: a.scheduledAt.toISOString(),
          workflow_id: a.action.workflow.workflowId,
        })),
        missed_catchup_window: s.info.numActionsMissedCatchupWindow,
        skipped_overlap: s.info.numActionsSkippedOverlap,
      });
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
      out.push({ name: d.name, id: scheduleId(d.name), missing: true });
    }
  }
  if (json) {
    console.log(JSON.stringify({ schedules: out }, null, 2));
    return 0;
  }
  const rows: string[][] = [['schedule', 'spec', 'overlap', 'catch-up', 'state', 'next run', 'steps']];
  for (const s of out) {
    if ('missing' in s) {
      rows.push([s.name, '-', '-', '-', 'NOT APPLIED (npm run schedules -- apply)', '-', '-']);
      continue;
    }
    rows.push([
      s.name,
      s.spec,
      String(s.overlap),
      `${Math.round(s.catchup_window_ms / 60_000)}m`,
      s.paused ? `paused: ${s.note ?? ''}` : 'active',
      s.next[0] ?? '-',
      s.steps.join(' → '),
    ]);
  }
  console.log(table(rows));
  for (const s of out) {
    if ('missing' in s || s.recent.length === 0) continue;
    console.log(`\n${s.name}: recent ticks`);
    for (const r of s.recent) console.log(`  ${r.scheduled_at}  ${workflowLink(ctx.config, r.workflow_id)}`);
  }
  return 0;
}

async function trigger(ctx: CliContext, def: ScheduleDefinition): Promise<number> {
  const handle = ctx.client.schedule.getHandle(scheduleId(def.name));
  const before = await handle.describe();
  if (!(await hasWorker(ctx))) {
    console.error(`schedules: warning: no worker polls ${ctx.config.taskQueue}; the tick waits until one does`);
  }
  await handle.trigger(ScheduleOverlapPolicy.BUFFER_ONE);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const now = await handle.describe();
    if (now.info.numActionsTaken > before.info.numActionsTaken) {
      const last = now.info.recentActions.at(-1);
      console.log(`schedules: triggered ${def.name}: ${last?.action.workflow.workflowId ?? '?'}`);
      if (last) console.log(`  ${workflowLink(ctx.config, last.action.workflow.workflowId)}`);
      return 0;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  console.log(`schedules: trigger of ${def.name} accepted; it starts after the tick that is running now`);
  return 0;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, note: { type: 'string' } },
  });
  const [command, name, ...extra] = positionals;
  if (!command || !['apply', 'list', 'pause', 'unpause', 'trigger'].includes(command) || extra.length > 0) {
    throw new UsageError(USAGE);
  }
  const defs = defaultSchedules();
  if (command !== 'apply' && command !== 'list') definition(name, defs);
  const ctx = await openCli();
  try {
    switch (command) {
      case 'apply': {
        const changes = await applySchedules(
          { client: ctx.client, graph: ctx.graph, env: ctx.env, taskQueue: ctx.config.taskQueue },
          defs,
        );
        if (values.json) console.log(JSON.stringify({ changes }, null, 2));
        else {
          for (const c of changes) {
            console.log(
              `schedules: ${c.schedule.padEnd(28)} ${c.action}${c.paused ? ` (paused: ${c.note ?? ''})` : ''}`,
            );
          }
        }
        return 0;
      }
      case 'list':
        return await list(ctx, defs, values.json);
      case 'pause':
        await ctx.client.schedule
          .getHandle(scheduleId(name as string))
          .pause(values.note ?? `paused by ${process.env.USER ?? 'an operator'} with npm run schedules`);
        console.log(`schedules: paused ${name}`);
        return 0;
      case 'unpause':
        await ctx.client.schedule.getHandle(scheduleId(name as string)).unpause(values.note ?? 'unpaused');
        console.log(`schedules: unpaused ${name}`);
        return 0;
      default:
        return await trigger(ctx, definition(name, defs));
    }
  } finally {
    await ctx.close();
  }
}

runCli('schedules', main);
