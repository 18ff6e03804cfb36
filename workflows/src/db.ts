/**
 * PostgreSQL access of the workflow worker: the connection pool, the migrations of workflows/migrations (own
 * migrations table `pgmigrations_workflows`, so the pipeline's migrations evolve independently), the upsert of an
 * enriched event, the customer history reads, and the quarantine review bookkeeping. Every function lets errors
 * propagate: the activity retry policy decides, nothing is swallowed.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@pep/contracts/log';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import type { Outcome } from './event.ts';
import type { HistoryRow, HistorySummary } from './history.ts';
import type { EnrichedEvent, PersistResult } from './types.ts';

const poolLog = createLogger('warn', { component: 'pg-pool' });

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'migrations');
export const MIGRATIONS_TABLE = 'pgmigrations_workflows';
/** Newest rows of a customer's history read for churn features. */
export const MAX_CHURN_HISTORY_ROWS = 500;

export function createPool(databaseUrl: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, idleTimeoutMillis: 30_000 });
  // An idle client error (server restart) must not crash the worker; the next query reconnects.
  pool.on('error', (err) => poolLog.warn('idle pg client error', { error: err.message }));
  return pool;
}

/** Attempts while another process holds node-pg-migrate's advisory lock (workers and tests start concurrently). */
const MIGRATE_LOCK_ATTEMPTS = 20;

export async function migrate(databaseUrl: string, log: (msg: string) => void = () => {}): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await runner({
        databaseUrl,
        dir: MIGRATIONS_DIR,
        migrationsTable: MIGRATIONS_TABLE,
        direction: 'up',
        // Two branches landed independent migrations with the same number (1764170000004: model-scoring and
        // review-groups); a database that ran either first must still take the other, so the order of already-run
        // migrations is not enforced (each migration here is additive and independent of the others' order).
        checkOrder: false,
        log,
      });
      return;
    } catch (err) {
      // The lock is shared by every migration set on the database; wait for the other run instead of failing.
      if (attempt >= MIGRATE_LOCK_ATTEMPTS || !/Another migration is already running/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }
}

/**
 * Whether the pipeline's validation_quarantine table has its review columns (pipeline/migrations declares them; the
 * review activities mirror decisions onto it only then). Read-only: this package does not alter the pipeline's table.
 */
export async function quarantineReviewColumnsPresent(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ has_table: boolean; has_cols: boolean }>(
    `SELECT to_regclass('public.validation_quarantine') IS NOT NULL AS has_table,
            EXISTS (SELECT 1 FROM information_schema.columns
                     WHERE table_name = 'validation_quarantine' AND column_name = 'review_workflow_id') AS has_cols`,
  );
  const r = rows[0];
  return Boolean(r?.has_table && r.has_cols);
}

function tsOrNull(v: string | null): string | null {
  if (v === null) return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

const PERSIST_COLUMNS = [
  'event_id',
  'provider',
  'provider_event_id',
  'object_id',
  'event_type',
  'merchant_id',
  'customer_id',
  'amount_minor',
  'currency',
  'payment_method_type',
  'card_brand',
  'card_last_four',
  'status',
  'outcome',
  'failure_code',
  'failure_message',
  'metadata',
  'provider_created_at',
  'received_at',
  'normalized_at',
  'schema_version',
  'validation_status',
  'validation_errors',
  'validation_warnings',
  'fraud_score',
  'fraud_risk_level',
  'fraud_risk_factors',
  'fraud_model_version',
  'retry_strategy',
  'retry_action',
  'retry_delay_seconds',
  'churn_score',
  'churn_risk_level',
  'churn_risk_factors',
  'days_to_churn_estimate',
  'churn_model_version',
  'churn_features',
  'feature_spec_version',
  'fraud_scoring',
  'churn_scoring',
  'workflow_id',
  'workflow_run_id',
] as const;

const PERSIST_SQL = `INSERT INTO payment_events (${PERSIST_COLUMNS.join(', ')})
VALUES (${PERSIST_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})
ON CONFLICT (event_id) DO UPDATE SET
${PERSIST_COLUMNS.filter((c) => c !== 'event_id')
  .map((c) => `  ${c} = EXCLUDED.${c}`)
  .join(',\n')},
  persisted_at = now()
RETURNING id::text AS id, (xmax = 0) AS inserted`;

export function persistValues(x: EnrichedEvent): unknown[] {
  const e = x.event;
  const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
  const amount =
    e.amount_minor !== null && Number.isSafeInteger(e.amount_minor) && e.amount_minor >= 0 ? e.amount_minor : null;
  const row: Record<(typeof PERSIST_COLUMNS)[number], unknown> = {
    event_id: e.event_id,
    provider: e.provider,
    provider_event_id: e.provider_event_id,
    object_id: e.object_id,
    event_type: e.event_type,
    merchant_id: e.merchant_id,
    customer_id: e.customer_id,
    amount_minor: amount,
    currency: e.currency?.toUpperCase() ?? null,
    payment_method_type: e.payment_method_type,
    card_brand: e.card_brand,
    card_last_four: e.card_last_four,
    status: e.status,
    outcome: x.outcome,
    failure_code: e.failure_code,
    failure_message: e.failure_message,
    metadata: JSON.stringify(e.metadata),
    provider_created_at: tsOrNull(e.provider_created_at),
    received_at: tsOrNull(e.received_at),
    normalized_at: tsOrNull(e.normalized_at),
    schema_version: e.schema_version,
    validation_status: x.validation.isValid ? 'passed' : 'failed',
    validation_errors: JSON.stringify(x.validation.errors),
    validation_warnings: JSON.stringify(x.validation.warnings),
    fraud_score: x.fraud?.fraud_score ?? null,
    fraud_risk_level: x.fraud?.risk_level ?? null,
    fraud_risk_factors: json(x.fraud?.risk_factors),
    fraud_model_version: x.fraud?.model_version ?? null,
    retry_strategy: json(x.retryStrategy),
    retry_action: x.retryStrategy?.action ?? null,
    retry_delay_seconds: x.retryStrategy?.delay_seconds ?? null,
    churn_score: x.churn?.churn_score ?? null,
    churn_risk_level: x.churn?.risk_level ?? null,
    churn_risk_factors: json(x.churn?.risk_factors),
    days_to_churn_estimate: x.churn?.days_to_churn_estimate ?? null,
    churn_model_version: x.churn?.model_version ?? null,
    churn_features: json(x.churn?.features),
    feature_spec_version: x.fraud?.scoring?.feature_spec_version ?? x.churn?.scoring?.feature_spec_version ?? null,
    fraud_scoring: json(x.fraud?.scoring),
    churn_scoring: json(x.churn?.scoring),
    workflow_id: x.workflowId,
    workflow_run_id: x.runId,
  };
  return PERSIST_COLUMNS.map((c) => row[c]);
}

/** Multi-row form of persistEnrichedEvent: one statement for the whole batch (at most MAX_BATCH_EVENTS rows). */
export async function persistEnrichedEvents(pool: pg.Pool, xs: readonly EnrichedEvent[]): Promise<PersistResult[]> {
  if (xs.length === 0) return [];
  const n = PERSIST_COLUMNS.length;
  const values: unknown[] = [];
  const tuples = xs.map((x, r) => {
    values.push(...persistValues(x));
    return `(${PERSIST_COLUMNS.map((_, c) => `$${r * n + c + 1}`).join(', ')})`;
  });
  const sql = PERSIST_SQL.replace(/VALUES \([^)]*\)/, `VALUES ${tuples.join(',\n')}`).replace(
    'RETURNING id::text AS id',
    'RETURNING event_id, id::text AS id',
  );
  const { rows } = await pool.query<{ event_id: string; id: string; inserted: boolean }>(sql, values);
  const byId = new Map(rows.map((r) => [r.event_id, r]));
  return xs.map((x) => {
    const row = byId.get(x.event.event_id);
    if (!row) throw new Error(`upsert of ${x.event.event_id} returned no row`);
    return { rowId: row.id, table: 'payment_events', inserted: row.inserted };
  });
}

/** Idempotent upsert keyed by event_id: a retried activity (same run) rewrites the same values. */
export async function persistEnrichedEvent(pool: pg.Pool, x: EnrichedEvent): Promise<PersistResult> {
  const { rows } = await pool.query<{ id: string; inserted: boolean }>(PERSIST_SQL, persistValues(x));
  const row = rows[0];
  if (!row) throw new Error(`upsert of ${x.event.event_id} returned no row`);
  return { rowId: row.id, table: 'payment_events', inserted: row.inserted };
}

/**
 * SQL of a customer's newest MAX_CHURN_HISTORY_ROWS rows at or before `at` (undated rows last), without the excluded
 * event ids; columns id, outcome, at. Dated and undated rows are two separate ordered index range scans
 * (payment_events_customer_history_idx) that stop at the limit: a single `(at IS NULL OR at <= $at)` condition
 * made PostgreSQL bitmap-scan and sort every row of the customer (13 ms for 19,000 rows, per event).
 */
function newestHistorySql(customer: string, at: string, excludeIds: string): string {
  const common = `customer_id = ${customer} AND event_id <> ALL(${excludeIds}::text[]) AND outcome <> 'other'`;
  return `SELECT * FROM (
      (SELECT id, outcome, provider_created_at AS at FROM payment_events
        WHERE ${common} AND provider_created_at <= ${at}
        ORDER BY provider_created_at DESC NULLS LAST, id DESC LIMIT ${MAX_CHURN_HISTORY_ROWS})
      UNION ALL
      (SELECT id, outcome, provider_created_at AS at FROM payment_events
        WHERE ${common} AND provider_created_at IS NULL
        ORDER BY provider_created_at DESC NULLS LAST, id DESC LIMIT ${MAX_CHURN_HISTORY_ROWS})) u
    ORDER BY at DESC NULLS LAST, id DESC LIMIT ${MAX_CHURN_HISTORY_ROWS}`;
}

/**
 * The customer's earlier payments (newest first, up to `at`, at most MAX_CHURN_HISTORY_ROWS), excluding
 * `excludeEventIds` (the event itself, or a batch's own events, which the batch adds from memory).
 */
export async function customerHistory(
  pool: pg.Pool,
  customerId: string,
  excludeEventIds: readonly string[],
  at: Date,
): Promise<HistoryRow[]> {
  const { rows } = await pool.query<{ outcome: Outcome; at: Date | null }>(
    `SELECT outcome, at FROM (${newestHistorySql('$1', '$3', '$2')}) h ORDER BY at DESC NULLS LAST, id DESC`,
    [customerId, excludeEventIds, at.toISOString()],
  );
  return rows;
}

/**
 * The summary of exactly the rows customerHistory returns, for each `(customerId, at)` (aligned with `queries`),
 * reduced inside PostgreSQL: one index range scan per query (payment_events_customer_history_idx) and one row back,
 * instead of up to MAX_CHURN_HISTORY_ROWS rows per event to transfer, parse and sort in the worker.
 */
export async function historySummaries(
  pool: pg.Pool,
  queries: readonly { readonly customerId: string; readonly at: Date }[],
  excludeEventIds: readonly string[],
): Promise<HistorySummary[]> {
  if (queries.length === 0) return [];
  const { rows } = await pool.query<{
    succeeded: number;
    failed: number;
    first_success_rn: string | null;
    newest_success_at: Date | null;
    newest_failure_at: Date | null;
    newest_at: Date | null;
    oldest_at: Date | null;
  }>(
    `SELECT s.* FROM unnest($1::text[], $2::timestamptz[]) WITH ORDINALITY AS q(customer_id, at, n)
      CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE outcome = 'succeeded')::int AS succeeded,
               count(*) FILTER (WHERE outcome <> 'succeeded')::int AS failed,
               min(rn) FILTER (WHERE outcome = 'succeeded') AS first_success_rn,
               max(at) FILTER (WHERE outcome = 'succeeded') AS newest_success_at,
               max(at) FILTER (WHERE outcome <> 'succeeded') AS newest_failure_at,
               max(at) AS newest_at,
               min(at) AS oldest_at
          FROM (SELECT outcome, at, row_number() OVER (ORDER BY at DESC NULLS LAST, id DESC) AS rn
                  FROM (${newestHistorySql('q.customer_id', 'q.at', '$3')}) newest) h) s
      ORDER BY q.n`,
    [queries.map((q) => q.customerId), queries.map((q) => q.at.toISOString()), excludeEventIds],
  );
  if (rows.length !== queries.length) throw new Error(`history summaries: ${rows.length} rows for ${queries.length}`);
  return rows.map((r) => ({
    succeeded: r.succeeded,
    failed: r.failed,
    // Failures before the first success (newest first) form the leading streak.
    leadingFailures: r.first_success_rn === null ? r.failed : Number(r.first_success_rn) - 1,
    newestSuccessAt: r.newest_success_at,
    newestFailureAt: r.newest_failure_at,
    newestAt: r.newest_at,
    oldestAt: r.oldest_at,
  }));
}

/** Earlier failed events of the same provider object (payment intent, transaction): the retry attempt number − 1. */
export async function earlierFailures(pool: pg.Pool, provider: string, objectId: string, excludeEventId: string) {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM payment_events
      WHERE provider = $1 AND object_id = $2 AND outcome = 'failed' AND event_id <> $3`,
    [provider, objectId, excludeEventId],
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Claims `eventIds` for `workflowId` and returns those it owns. An event already stored by a different workflow
 * (processed by a per-event workflow, say) is not claimable.
 */
export async function claimEvents(pool: pg.Pool, eventIds: readonly string[], workflowId: string): Promise<string[]> {
  const { rows } = await pool.query<{ event_id: string }>(
    `WITH wanted AS (SELECT unnest($1::text[]) AS event_id),
          ins AS (
            INSERT INTO payment_event_claims (event_id, workflow_id)
            SELECT w.event_id, $2 FROM wanted w
             WHERE NOT EXISTS (SELECT 1 FROM payment_events p WHERE p.event_id = w.event_id AND p.workflow_id <> $2)
            ON CONFLICT (event_id) DO NOTHING
            RETURNING event_id)
     SELECT event_id FROM ins
     UNION
     SELECT c.event_id FROM payment_event_claims c JOIN wanted w USING (event_id) WHERE c.workflow_id = $2`,
    [eventIds, workflowId],
  );
  return rows.map((r) => r.event_id);
}

/** Moves claims held by `fromWorkflowId` to the given workflows (only those it holds); returns the ids they hold. */
export async function transferClaims(
  pool: pg.Pool,
  fromWorkflowId: string,
  to: readonly { eventId: string; workflowId: string }[],
): Promise<string[]> {
  if (to.length === 0) return [];
  // Moves what `from` holds and reports every target that now holds its claim (so a retried call reports the same).
  const { rows } = await pool.query<{ event_id: string }>(
    `WITH x AS (SELECT * FROM unnest($2::text[], $3::text[]) AS x(event_id, workflow_id)),
          moved AS (
            UPDATE payment_event_claims c SET workflow_id = x.workflow_id FROM x
             WHERE c.event_id = x.event_id AND c.workflow_id = $1
            RETURNING c.event_id)
     SELECT event_id FROM moved
     UNION
     SELECT c.event_id FROM payment_event_claims c JOIN x ON c.event_id = x.event_id AND c.workflow_id = x.workflow_id`,
    [fromWorkflowId, to.map((t) => t.eventId), to.map((t) => t.workflowId)],
  );
  return rows.map((r) => r.event_id);
}

/** Failed events per `provider object_id` among `objects`, for the retry attempt numbers of a batch. */
export async function failuresByObject(
  pool: pg.Pool,
  objects: readonly { provider: string; objectId: string }[],
): Promise<{ provider: string; object_id: string; event_id: string }[]> {
  if (objects.length === 0) return [];
  const { rows } = await pool.query<{ provider: string; object_id: string; event_id: string }>(
    `SELECT provider, object_id, event_id FROM payment_events
      WHERE outcome = 'failed' AND object_id = ANY($1::text[]) AND provider = ANY($2::text[])`,
    [objects.map((o) => o.objectId), [...new Set(objects.map((o) => o.provider))]],
  );
  return rows;
}
