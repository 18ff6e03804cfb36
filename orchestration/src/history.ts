/**
 * The run history in PostgreSQL (schema `orchestration`, migrations in ../migrations, own migrations table): one row
 * per run of a step on a partition, the latest state per step and partition, the chunks a run has committed, and the
 * per-step advisory lock that keeps two runs of one step on one partition from overlapping. Every function lets
 * errors propagate; the activity's retry policy decides. Not the decisions themselves (activities.ts).
 */
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@pep/contracts/log';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import type { Json, JsonObject } from './step.ts';

const poolLog = createLogger('warn', { component: 'pg-pool' });

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'migrations');
export const MIGRATIONS_TABLE = 'pgmigrations_orchestration';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'halted' | 'blocked' | 'unavailable' | 'interrupted';
export type StateStatus = 'succeeded' | 'failed' | 'halted' | 'blocked' | 'unavailable';

export function createPool(databaseUrl: string, max = 5): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, idleTimeoutMillis: 30_000 });
  pool.on('error', (err) => poolLog.warn('idle pg client error', { error: err.message }));
  return pool;
}

export async function migrate(databaseUrl: string, log: (msg: string) => void = () => {}): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await runner({
        databaseUrl,
        dir: MIGRATIONS_DIR,
        migrationsTable: MIGRATIONS_TABLE,
        direction: 'up',
        checkOrder: true,
        log,
      });
      return;
    } catch (err) {
      // node-pg-migrate's lock is shared by every migration set on the database: wait for the other run.
      if (attempt >= 20 || !/Another migration is already running/.test(String(err))) throw err;
      await sleep(250 * attempt);
    }
  }
}

/** JSON with sorted keys, so equal inputs give equal fingerprints whatever the order they were built in. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export function hashOf(v: unknown, length = 24): string {
  return createHash('sha256').update(stableJson(v)).digest('hex').slice(0, length);
}

export interface PartitionState {
  readonly step: string;
  readonly partition_key: string;
  readonly status: StateStatus;
  readonly reason: string | null;
  readonly last_run_id: string;
  readonly last_fingerprint: string | null;
  readonly last_retryable: boolean;
  readonly success_run_id: string | null;
  readonly output_version: string | null;
  readonly success_workflow_run_id: string | null;
}

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** Runs `fn` in one transaction on `client`: committed when it returns, rolled back when it throws. */
export async function inTransaction<T>(client: pg.PoolClient, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

export async function getStates(
  db: Queryable,
  steps: readonly string[],
  partitionKey: string,
): Promise<Map<string, PartitionState>> {
  if (steps.length === 0) return new Map();
  const { rows } = await db.query<PartitionState>(
    `SELECT s.step, s.partition_key, s.status, s.reason, s.last_run_id::text, s.last_fingerprint, s.last_retryable,
            s.success_run_id::text, s.output_version, r.workflow_run_id AS success_workflow_run_id
       FROM orchestration.partition_state s
       LEFT JOIN orchestration.step_runs r ON r.id = s.success_run_id
      WHERE s.step = ANY($1) AND s.partition_key = $2`,
    [steps, partitionKey],
  );
  return new Map(rows.map((r) => [r.step, r]));
}

/**
 * Holds a session-level advisory lock for (step, partition) on a dedicated client while `fn` runs; waits for it,
 * calling `onWait` about every second (the activity heartbeats there). A killed holder's session ends with its
 * connection, which releases the lock.
 */
export async function withStepLock<T>(
  pool: pg.Pool,
  step: string,
  partitionKey: string,
  onWait: () => void,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    for (;;) {
      const { rows } = await client.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok',
        [`orchestration:${step}`, partitionKey],
      );
      if (rows[0]?.ok) break;
      onWait();
      await sleep(1000);
    }
    try {
      return await fn(client);
    } finally {
      await client
        .query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', [`orchestration:${step}`, partitionKey])
        .catch(() => {
          broken = true;
        });
    }
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    // A client whose unlock failed may still hold the lock: destroy it rather than return it to the pool.
    client.release(broken);
  }
}

export interface RunIdentity {
  readonly step: string;
  readonly partitionKey: string;
  readonly trigger: string;
  readonly workflowId: string;
  readonly workflowRunId: string;
}

/**
 * The running row of this workflow run for (step, partition), created if absent. A running row of another workflow
 * run found while we hold the lock belongs to a worker that died: it becomes `interrupted`.
 */
export async function beginRun(
  db: Queryable,
  id: RunIdentity,
  run: { runKey: string; fingerprint: string; inputs: JsonObject; attempt: number },
): Promise<string> {
  const { rows } = await db.query<{ id: string; workflow_run_id: string | null }>(
    `SELECT id::text, workflow_run_id FROM orchestration.step_runs
      WHERE step = $1 AND partition_key = $2 AND status = 'running'`,
    [id.step, id.partitionKey],
  );
  const existing = rows[0];
  if (existing && existing.workflow_run_id === id.workflowRunId) {
    await db.query(
      `UPDATE orchestration.step_runs SET attempts = $2, run_key = $3, input_fingerprint = $4, inputs = $5
        WHERE id = $1`,
      [existing.id, run.attempt, run.runKey, run.fingerprint, JSON.stringify(run.inputs)],
    );
    return existing.id;
  }
  if (existing) {
    await db.query(
      `UPDATE orchestration.step_runs SET status = 'interrupted', finished_at = now(),
              reason = coalesce(reason || '; ', '') || 'its worker stopped mid-run; taken over by ' || $2::text
        WHERE id = $1`,
      [existing.id, id.workflowId],
    );
  }
  const ins = await db.query<{ id: string }>(
    `INSERT INTO orchestration.step_runs (step, partition_key, status, trigger, run_key, input_fingerprint, inputs,
        attempts, workflow_id, workflow_run_id)
     VALUES ($1, $2, 'running', $3, $4, $5, $6, $7, $8, $9) RETURNING id::text`,
    [
      id.step,
      id.partitionKey,
      id.trigger,
      run.runKey,
      run.fingerprint,
      JSON.stringify(run.inputs),
      run.attempt,
      id.workflowId,
      id.workflowRunId,
    ],
  );
  return (ins.rows[0] as { id: string }).id;
}

/** Notes an attempt's error on the running row (the run goes on being retried). */
export async function noteAttemptError(db: Queryable, runId: string, message: string): Promise<void> {
  await db.query(`UPDATE orchestration.step_runs SET reason = $2 WHERE id = $1 AND status = 'running'`, [
    runId,
    message.slice(0, 2000),
  ]);
}

async function upsertState(
  db: Queryable,
  s: {
    step: string;
    partitionKey: string;
    status: StateStatus;
    reason: string | null;
    runId: string;
    fingerprint: string | null;
    retryable: boolean;
    success?: { outputVersion: string };
  },
): Promise<void> {
  await db.query(
    `INSERT INTO orchestration.partition_state (step, partition_key, status, reason, last_run_id, last_fingerprint,
        last_retryable, success_run_id, output_version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (step, partition_key) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason,
        last_run_id = EXCLUDED.last_run_id, last_fingerprint = EXCLUDED.last_fingerprint,
        last_retryable = EXCLUDED.last_retryable,
        success_run_id = coalesce(EXCLUDED.success_run_id, orchestration.partition_state.success_run_id),
        output_version = coalesce(EXCLUDED.output_version, orchestration.partition_state.output_version),
        updated_at = now()`,
    [
      s.step,
      s.partitionKey,
      s.status,
      s.reason,
      s.runId,
      s.fingerprint,
      s.retryable,
      s.success ? s.runId : null,
      s.success?.outputVersion ?? null,
    ],
  );
}

/** Marks the run succeeded (or halted) and moves the partition state, inside the caller's transaction. */
export async function finishRun(
  tx: pg.PoolClient,
  id: RunIdentity,
  r: {
    runId: string;
    runKey: string;
    fingerprint: string;
    inputs: JsonObject;
    outputs: JsonObject;
    outputVersion: string;
    changed: boolean;
    halt?: { code: string; reason: string } | undefined;
  },
): Promise<void> {
  const status = r.halt ? 'halted' : 'succeeded';
  await tx.query(
    `UPDATE orchestration.step_runs SET status = $2, inputs = $3, outputs = $4, output_version = $5, changed = $6,
            error_type = $7, reason = $8, finished_at = now()
      WHERE id = $1`,
    [
      r.runId,
      status,
      JSON.stringify(r.inputs),
      JSON.stringify(r.outputs),
      r.outputVersion,
      r.changed,
      r.halt?.code ?? null,
      r.halt ? r.halt.reason : null,
    ],
  );
  await upsertState(tx, {
    step: id.step,
    partitionKey: id.partitionKey,
    status,
    reason: r.halt ? `${r.halt.code}: ${r.halt.reason}` : null,
    runId: r.runId,
    fingerprint: r.fingerprint,
    retryable: false,
    success: { outputVersion: r.outputVersion },
  });
  await tx.query('DELETE FROM orchestration.step_chunks WHERE run_key = $1', [r.runKey]);
}

/**
 * Records a run that ended without output: `failed` (after its retries, or at once for a deterministic error) closes
 * this workflow run's running row; `blocked` and `unavailable` add a row unless the partition is already in that
 * state for the same reason (a repeated check of an unchanged situation writes nothing). Returns the row id, or null
 * when nothing was written.
 */
export async function recordEnd(
  db: pg.Pool,
  id: RunIdentity,
  e: { status: 'failed' | 'blocked' | 'unavailable'; reason: string; errorType: string; retryable: boolean },
): Promise<string | null> {
  const client = await db.connect();
  try {
    return await inTransaction(client, async () => {
      const state = (await getStates(client, [id.step], id.partitionKey)).get(id.step);
      if (e.status !== 'failed' && state?.status === e.status && state.reason === e.reason) return null;
      let runId: string | undefined;
      let fingerprint: string | null = null;
      if (e.status === 'failed') {
        const { rows } = await client.query<{ id: string; input_fingerprint: string | null }>(
          `UPDATE orchestration.step_runs SET status = 'failed', error_type = $3, reason = $4, finished_at = now()
            WHERE step = $1 AND partition_key = $2 AND status = 'running' AND workflow_run_id = $5
            RETURNING id::text, input_fingerprint`,
          [id.step, id.partitionKey, e.errorType, e.reason.slice(0, 4000), id.workflowRunId],
        );
        runId = rows[0]?.id;
        fingerprint = rows[0]?.input_fingerprint ?? null;
      }
      if (!runId) {
        const { rows } = await client.query<{ id: string }>(
          `INSERT INTO orchestration.step_runs (step, partition_key, status, trigger, error_type, reason, workflow_id,
              workflow_run_id, finished_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) RETURNING id::text`,
          [
            id.step,
            id.partitionKey,
            e.status,
            id.trigger,
            e.errorType,
            e.reason.slice(0, 4000),
            id.workflowId,
            id.workflowRunId,
          ],
        );
        runId = (rows[0] as { id: string }).id;
      }
      await upsertState(client, {
        step: id.step,
        partitionKey: id.partitionKey,
        status: e.status,
        reason: e.reason.slice(0, 4000),
        runId,
        fingerprint,
        retryable: e.retryable,
      });
      return runId;
    });
  } finally {
    client.release();
  }
}

export async function chunkResult(db: Queryable, runKey: string, chunkKey: string): Promise<Json | undefined> {
  const { rows } = await db.query<{ result: Json }>(
    'SELECT result FROM orchestration.step_chunks WHERE run_key = $1 AND chunk_key = $2',
    [runKey, chunkKey],
  );
  return rows[0]?.result;
}

export async function recordChunk(db: Queryable, runKey: string, chunkKey: string, result: Json): Promise<void> {
  await db.query(
    `INSERT INTO orchestration.step_chunks (run_key, chunk_key, result) VALUES ($1, $2, $3)
     ON CONFLICT (run_key, chunk_key) DO NOTHING`,
    [runKey, chunkKey, JSON.stringify(result)],
  );
}

export interface RunRow {
  readonly id: string;
  readonly step: string;
  readonly partition_key: string;
  readonly status: RunStatus;
  readonly trigger: string;
  readonly inputs: JsonObject;
  readonly outputs: JsonObject | null;
  readonly output_version: string | null;
  readonly changed: boolean | null;
  readonly error_type: string | null;
  readonly reason: string | null;
  readonly attempts: number;
  readonly workflow_id: string | null;
  readonly started_at: string;
  readonly finished_at: string | null;
  readonly duration_ms: number | null;
}

/** Runs listed at most per call. */
export const MAX_RUNS_LISTED = 1000;

export async function listRuns(
  db: Queryable,
  f: { step?: string; partition?: string; status?: string; limit?: number } = {},
): Promise<RunRow[]> {
  const limit = Math.min(Math.max(1, f.limit ?? 50), MAX_RUNS_LISTED);
  const { rows } = await db.query<RunRow>(
    `SELECT id::text, step, partition_key, status, trigger, inputs, outputs, output_version, changed, error_type,
            reason, attempts, workflow_id, started_at::text, finished_at::text,
            (extract(epoch FROM (coalesce(finished_at, now()) - started_at)) * 1000)::bigint::float8 AS duration_ms
       FROM orchestration.step_runs
      WHERE ($1::text IS NULL OR step = $1) AND ($2::text IS NULL OR partition_key = $2)
        AND ($3::text IS NULL OR status = $3)
      ORDER BY id DESC LIMIT $4`,
    [f.step ?? null, f.partition ?? null, f.status ?? null, limit],
  );
  return rows;
}
