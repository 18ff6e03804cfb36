/**
 * Reconciliation of the workflow stage (CONTRACT section 1: "workflows, rows"): for the distinct event_ids of
 * `payments.normalized` (optionally only those first seen since a given time), which Temporal executions processed
 * them and which `payment_events` rows hold them.
 *
 * Scope: the event ids actually present in the normalized topic, so rows written by tests or other runs into the same
 * table are neither counted nor blamed. Workflows are listed from Temporal's visibility store (task queue, payment
 * workflow types, started since the first record in scope) and matched by id: per-event `payment-<event_id>`, the
 * workflow id stored on each row, the owner of each claim, and batch ids cut from this topic.
 *
 * Per event: stored by a completed workflow (reconciled), stored but its workflow still running or not completed,
 * in flight (no row yet, a running workflow owns it), or missing (no row and nothing running: a failed workflow or
 * none at all). Rows whose workflow has aged out of Temporal's retention are counted apart, not blamed.
 */
import { WORKFLOW_TYPES } from '@pep/contracts';
import { temporalConnectionOptions } from '@pep/contracts/managed';
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';

export interface WorkflowStageOptions {
  readonly temporalAddress: string;
  readonly namespace: string;
  readonly taskQueue: string;
  /** Only events whose first normalized record is at or after this time (null: the whole topic). */
  readonly since: Date | null;
  /** Upper bound on executions listed from visibility (memory bound; the check fails clearly above it). */
  readonly maxListedWorkflows?: number;
  /** Workflow ids referenced by rows or claims but not listed are described one by one, up to this many. */
  readonly maxDescribes?: number;
}

export interface StatusCounts {
  completed: number;
  failed: number;
  running: number;
  /** Terminated, cancelled, timed out, continued as new. */
  other: number;
}

export interface FailedWorkflow {
  readonly workflow_id: string;
  readonly type: string;
  readonly status: string;
  /** Events of the scope this workflow owns (claim or per-event id) that have no row. */
  readonly events_without_row: number;
}

export interface WorkflowStage {
  readonly scope: string;
  readonly task_queue: string;
  readonly since: string | null;
  readonly events: number;
  readonly workflows: { readonly per_event: StatusCounts; readonly batch: StatusCounts };
  readonly rows: {
    readonly total: number;
    readonly passed: number;
    readonly rejected: number;
    readonly by_completed_workflow: number;
    readonly by_unfinished_workflow: number;
    /** Workflow not found in Temporal; persisted before the namespace's retention (aged out, not blamed). */
    readonly workflow_aged_out: number;
    /** Workflow not found in Temporal although within the retention. */
    readonly workflow_unknown: number;
  };
  readonly events_in_flight: number;
  readonly events_missing: number;
  readonly missing_examples: readonly string[];
  readonly failed_workflows: readonly FailedWorkflow[];
  readonly failed_workflows_total: number;
}

export interface WorkflowCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

const ID_CHUNK = 5_000;
const MAX_EXAMPLES = 5;
const MAX_FAILED_LISTED = 20;

type Status = 'completed' | 'failed' | 'running' | 'other';

function statusOf(name: string | undefined): Status {
  if (name === 'COMPLETED') return 'completed';
  if (name === 'FAILED') return 'failed';
  if (name === 'RUNNING') return 'running';
  return 'other';
}

interface Execution {
  readonly type: string;
  readonly status: Status;
  readonly statusName: string;
}

interface Row {
  readonly event_id: string;
  readonly workflow_id: string | null;
  readonly validation_status: string;
  readonly persisted_at: Date;
}

async function inChunks<T>(ids: readonly string[], q: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += ID_CHUNK) out.push(...(await q(ids.slice(i, i + ID_CHUNK))));
  return out;
}

const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

interface Claim {
  readonly event_id: string;
  readonly workflow_id: string;
}

/** The payment_events rows and the claims of exactly these events. */
async function rowsAndClaims(pool: pg.Pool, events: readonly string[]): Promise<{ rows: Row[]; claims: Claim[] }> {
  const rows = await inChunks(events, async (chunk) => {
    const r = await pool.query<Row>(
      `SELECT event_id, workflow_id, validation_status, persisted_at FROM payment_events WHERE event_id = ANY($1::text[])`,
      [chunk],
    );
    return r.rows;
  });
  const hasClaims = (await pool.query(`SELECT to_regclass('public.payment_event_claims') IS NOT NULL AS t`)).rows[0]
    ?.t as boolean;
  const claims = hasClaims
    ? await inChunks(events, async (chunk) => {
        const r = await pool.query<Claim>(
          'SELECT event_id, workflow_id FROM payment_event_claims WHERE event_id = ANY($1::text[])',
          [chunk],
        );
        return r.rows;
      })
    : [];
  return { rows, claims };
}

/**
 * Executions from visibility (this task queue, payment types, started since the first record in scope), plus the
 * workflows that rows and claims name outside that listing (another task queue, started earlier), described one by
 * one; and the namespace's retention.
 */
async function listExecutions(
  firstSeen: ReadonlyMap<string, number>,
  events: readonly string[],
  referenced: ReadonlySet<string>,
  o: WorkflowStageOptions,
): Promise<{ executions: Map<string, Execution>; retentionMs: number }> {
  const connection = await Connection.connect(temporalConnectionOptions(o.temporalAddress));
  const executions = new Map<string, Execution>();
  let retentionMs = 24 * 3_600_000;
  try {
    const client = new Client({ connection, namespace: o.namespace });
    const ns = await connection.workflowService.describeNamespace({ namespace: o.namespace });
    const ttl = ns.config?.workflowExecutionRetentionTtl;
    if (ttl?.seconds) retentionMs = Number(ttl.seconds) * 1000;
    let minTs = Number.POSITIVE_INFINITY;
    for (const id of events) minTs = Math.min(minTs, firstSeen.get(id) as number);
    if (events.length > 0) {
      // A workflow starts after its record was written; a minute of slack for clock differences.
      const from = new Date(Math.max(0, minTs - 60_000)).toISOString();
      const query =
        `TaskQueue = ${quote(o.taskQueue)} AND (WorkflowType = '${WORKFLOW_TYPES.paymentEvent}' OR ` +
        `WorkflowType = '${WORKFLOW_TYPES.paymentBatch}') AND StartTime >= '${from}'`;
      const max = o.maxListedWorkflows ?? 2_000_000;
      for await (const w of client.workflow.list({ query, pageSize: 1000 })) {
        if (executions.size >= max)
          throw new Error(`more than ${max} workflow executions to list; narrow with --since`);
        executions.set(w.workflowId, { type: w.type, status: statusOf(w.status.name), statusName: w.status.name });
      }
    }
    let describes = 0;
    for (const id of referenced) {
      if (executions.has(id) || describes >= (o.maxDescribes ?? 200)) continue;
      describes++;
      try {
        const d = await client.workflow.getHandle(id).describe();
        executions.set(id, { type: d.type, status: statusOf(d.status.name), statusName: d.status.name });
      } catch {
        // Not found: aged out of retention or never existed; classified per row in rowCounts.
      }
    }
  } finally {
    await connection.close();
  }
  return { executions, retentionMs };
}

/** The executions that belong to the scope, and their statuses counted per workflow kind. */
function scopeExecutions(
  events: readonly string[],
  rows: readonly Row[],
  claims: readonly Claim[],
  executions: ReadonlyMap<string, Execution>,
  normalizedTopic: string,
): { relevant: Set<string>; perEvent: StatusCounts; batch: StatusCounts } {
  const batchPrefix = `payment-batch-${normalizedTopic}-`;
  const relevant = new Set<string>();
  for (const id of events) if (executions.has(`payment-${id}`)) relevant.add(`payment-${id}`);
  for (const r of rows) if (r.workflow_id && executions.has(r.workflow_id)) relevant.add(r.workflow_id);
  for (const c of claims) if (executions.has(c.workflow_id)) relevant.add(c.workflow_id);
  for (const id of executions.keys()) if (id.startsWith(batchPrefix)) relevant.add(id);
  const counts = () => ({ completed: 0, failed: 0, running: 0, other: 0 });
  const perEvent: StatusCounts = counts();
  const batch: StatusCounts = counts();
  for (const id of relevant) {
    const e = executions.get(id) as Execution;
    (e.type === WORKFLOW_TYPES.paymentBatch ? batch : perEvent)[e.status]++;
  }
  return { relevant, perEvent, batch };
}

/** The rows by validation outcome and by the state of the workflow that wrote them. */
function rowCounts(
  rows: readonly Row[],
  executions: ReadonlyMap<string, Execution>,
  retentionMs: number,
): Omit<WorkflowStage['rows'], 'total'> {
  const now = Date.now();
  let passed = 0;
  let rejected = 0;
  let byCompleted = 0;
  let byUnfinished = 0;
  let agedOut = 0;
  let unknown = 0;
  for (const r of rows) {
    if (r.validation_status === 'failed') rejected++;
    else passed++;
    const e = r.workflow_id ? executions.get(r.workflow_id) : undefined;
    if (e?.status === 'completed') byCompleted++;
    else if (e) byUnfinished++;
    else if (now - r.persisted_at.getTime() > retentionMs) agedOut++;
    else unknown++;
  }
  return {
    passed,
    rejected,
    by_completed_workflow: byCompleted,
    by_unfinished_workflow: byUnfinished,
    workflow_aged_out: agedOut,
    workflow_unknown: unknown,
  };
}

/**
 * The events without a row: in flight (a running workflow owns them) or missing; for the missing ones, how many each
 * failed or otherwise ended owner left without a row.
 */
function eventsWithoutRow(
  events: readonly string[],
  rows: readonly Row[],
  claims: readonly Claim[],
  executions: ReadonlyMap<string, Execution>,
): { inFlight: number; missing: string[]; unstoredBy: Map<string, number> } {
  const rowOf = new Set(rows.map((r) => r.event_id));
  const claimOf = new Map(claims.map((c) => [c.event_id, c.workflow_id]));
  let inFlight = 0;
  const missing: string[] = [];
  const unstoredBy = new Map<string, number>();
  for (const id of events) {
    if (rowOf.has(id)) continue;
    const owners = [...new Set([claimOf.get(id), `payment-${id}`])].filter(
      (w): w is string => !!w && executions.has(w),
    );
    if (owners.some((w) => executions.get(w)?.status === 'running')) {
      inFlight++;
      continue;
    }
    missing.push(id);
    for (const w of owners) {
      const st = executions.get(w)?.status;
      if (st === 'failed' || st === 'other') unstoredBy.set(w, (unstoredBy.get(w) ?? 0) + 1);
    }
  }
  return { inFlight, missing, unstoredBy };
}

/** The failed or otherwise ended workflows of the scope (the first MAX_FAILED_LISTED) and how many there are. */
function failedWorkflows(
  relevant: ReadonlySet<string>,
  executions: ReadonlyMap<string, Execution>,
  unstoredBy: ReadonlyMap<string, number>,
): { failed: FailedWorkflow[]; failedTotal: number } {
  const failed: FailedWorkflow[] = [];
  let failedTotal = 0;
  for (const id of relevant) {
    const e = executions.get(id) as Execution;
    if (e.status !== 'failed' && e.status !== 'other') continue;
    failedTotal++;
    if (failed.length < MAX_FAILED_LISTED) {
      failed.push({ workflow_id: id, type: e.type, status: e.statusName, events_without_row: unstoredBy.get(id) ?? 0 });
    }
  }
  return { failed, failedTotal };
}

/** The stage's pass/fail checks. */
function stageChecks(stage: WorkflowStage, leftUnprocessed: number): WorkflowCheck[] {
  const { per_event: perEvent, batch } = stage.workflows;
  const running = perEvent.running + batch.running;
  const { rows, events_in_flight: inFlight, events_missing: missing, failed_workflows_total: failedTotal } = stage;
  return [
    {
      name: 'payment workflows settled',
      ok: running === 0,
      detail: `${running} payment workflows still running (${perEvent.running} per-event, ${batch.running} batch)`,
    },
    {
      name: 'every normalized event has a payment_events row',
      ok: missing === 0 && inFlight === 0,
      detail:
        `${rows.total} rows for ${stage.events} distinct event_ids; ${inFlight} in flight, ${missing} missing` +
        (missing > 0 ? ` (e.g. ${stage.missing_examples.join(', ')})` : ''),
    },
    {
      name: 'every row written by a completed workflow',
      ok: rows.by_unfinished_workflow === 0 && rows.workflow_unknown === 0,
      detail:
        `${rows.by_completed_workflow} by a completed workflow, ${rows.by_unfinished_workflow} by one not completed, ` +
        `${rows.workflow_unknown} by one Temporal does not know` +
        (rows.workflow_aged_out > 0
          ? `, ${rows.workflow_aged_out} older than the namespace retention (not checked)`
          : ''),
    },
    {
      name: 'no failed workflow left an event unprocessed',
      ok: leftUnprocessed === 0,
      detail:
        `${failedTotal} failed/terminated payment workflows in scope, ${leftUnprocessed} events they own without a row` +
        (failedTotal > leftUnprocessed && leftUnprocessed === 0 && failedTotal > 0
          ? ' (their events were re-driven and stored)'
          : ''),
    },
  ];
}

/**
 * `firstSeen`: distinct event_id → Kafka timestamp (ms) of its first normalized record. `normalizedTopic` names the
 * batch workflows cut from this topic (`payment-batch-<topic>-…`).
 */
export async function reconcileWorkflows(
  firstSeen: ReadonlyMap<string, number>,
  normalizedTopic: string,
  pool: pg.Pool,
  o: WorkflowStageOptions,
): Promise<{ stage: WorkflowStage; checks: WorkflowCheck[] }> {
  const sinceMs = o.since?.getTime() ?? Number.NEGATIVE_INFINITY;
  const events = [...firstSeen].filter(([, ts]) => ts >= sinceMs).map(([id]) => id);
  // An empty window reconciles trivially: say so, so that a replay of old event ids is not read as a checked run.
  const emptyNote = events.length === 0 && o.since ? ' (nothing to check: no event_id is new in this window)' : '';
  const scope = `${events.length} distinct event_ids in ${normalizedTopic}${o.since ? ` first seen since ${o.since.toISOString()}` : ''}${emptyNote}`;

  const { rows, claims } = await rowsAndClaims(pool, events);
  const referenced = new Set<string>();
  for (const r of rows) if (r.workflow_id) referenced.add(r.workflow_id);
  for (const c of claims) referenced.add(c.workflow_id);
  const { executions, retentionMs } = await listExecutions(firstSeen, events, referenced, o);
  const { relevant, perEvent, batch } = scopeExecutions(events, rows, claims, executions, normalizedTopic);
  const { inFlight, missing, unstoredBy } = eventsWithoutRow(events, rows, claims, executions);
  const { failed, failedTotal } = failedWorkflows(relevant, executions, unstoredBy);
  const stage: WorkflowStage = {
    scope,
    task_queue: o.taskQueue,
    since: o.since?.toISOString() ?? null,
    events: events.length,
    workflows: { per_event: perEvent, batch },
    rows: { total: rows.length, ...rowCounts(rows, executions, retentionMs) },
    events_in_flight: inFlight,
    events_missing: missing.length,
    missing_examples: missing.slice(0, MAX_EXAMPLES),
    failed_workflows: failed,
    failed_workflows_total: failedTotal,
  };
  const leftUnprocessed = [...unstoredBy.values()].reduce((a, b) => a + b, 0);
  return { stage, checks: stageChecks(stage, leftUnprocessed) };
}

/** Lines of the human-readable report for this stage. */
export function workflowStageLines(w: WorkflowStage): string[] {
  const c = (s: StatusCounts) => `${s.completed} completed, ${s.failed} failed, ${s.running} running, ${s.other} other`;
  return [
    `workflows       scope: ${w.scope}; task queue ${w.task_queue}`,
    `  per-event     ${c(w.workflows.per_event)}`,
    `  batch         ${c(w.workflows.batch)}`,
    `rows            ${w.rows.total} payment_events rows (${w.rows.passed} passed, ${w.rows.rejected} rejected by rules), ${w.rows.by_completed_workflow} written by a completed workflow`,
    `unprocessed     ${w.events_missing} events without a row, ${w.events_in_flight} in flight${w.missing_examples.length > 0 ? ` (e.g. ${w.missing_examples.join(', ')})` : ''}`,
    ...w.failed_workflows.map(
      (f) => `  failed        ${f.workflow_id} (${f.type}, ${f.status}): ${f.events_without_row} events without a row`,
    ),
    ...(w.failed_workflows_total > w.failed_workflows.length
      ? [`  failed        … ${w.failed_workflows_total - w.failed_workflows.length} more`]
      : []),
  ];
}
