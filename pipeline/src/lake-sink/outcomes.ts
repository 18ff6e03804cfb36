/**
 * bronze.payment_outcomes from PostgreSQL: what the workflows decided (rules verdict, fraud score and model version,
 * retry strategy, churn), loaded incrementally from the workflows' `payment_events` table, exactly once per row
 * version.
 *
 * Why PostgreSQL and not a topic: PostgreSQL is where the workflows record their decisions (the system of record);
 * a topic emitted by the workflow would be a second write path that can diverge from it (a retried activity
 * publishes twice, a publish after a failed persist publishes something that is not true), and it would change the
 * workflows for the lake's sake.
 *
 * Why a transaction-id horizon and not `id > cursor`: concurrent inserts commit out of id order, so a row with a
 * smaller id can become visible after a larger one was loaded, and an `id` cursor skips it for ever; an upsert
 * (a retried persist activity) changes a row without changing its id. Instead each load takes a REPEATABLE READ
 * snapshot and its `xmin` H' (every transaction below H' has ended, so all its rows are visible in the snapshot),
 * and loads the row versions written by transactions in [H, H'), H being the table's horizon from the last commit.
 * The rows and the new horizon go into the lake in one commit (the horizon in the snapshot summary), so a crash
 * loads nothing twice and skips nothing. A re-persisted row is a new row version: bronze keeps every version
 * (`persisted_at` says which is current). Limits: `persisted_at >= horizon time − 1 h` narrows the scan, so a
 * transaction that stayed open for over an hour before writing would be missed (the worker's inserts are single
 * statements); a row's 32-bit xmin is widened against the snapshot (valid for rows younger than 2^31 transactions).
 */
import { randomUUID } from 'node:crypto';
import { LAKE_SUMMARY_KEYS, LAKE_TABLES } from '@pep/contracts';
import type { Logger } from '@pep/contracts/log';
import type { Registry } from '@pep/contracts/metrics';
import { TableBatchBuilder } from '@pep/lakehouse/arrow';
import type { LakeWriter } from '@pep/lakehouse/writer';
import pg from 'pg';

const TABLE = LAKE_TABLES.payment_outcomes;
const KEY = LAKE_SUMMARY_KEYS.pgXidHorizon;
const SCAN_MARGIN_MS = 3600_000;

/** 64-bit transaction id of a row's 32-bit xmin, relative to the snapshot's xmax (same epoch or the one before). */
const FULL_XID = `(x.xmax - ((x.xmax % 4294967296 - e.xmin::text::bigint + 4294967296) % 4294967296))`;

export interface OutcomesOptions {
  readonly databaseUrl: string;
  readonly intervalMs: number;
  readonly batchRows: number;
  readonly writerId: string;
}

export class OutcomesLoader {
  private readonly pool: pg.Pool;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private horizon: { xid: string; at: string } | null = null;
  private readonly rows;
  private readonly commits;

  constructor(
    private readonly opts: OutcomesOptions,
    private readonly writer: LakeWriter,
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.pool = new pg.Pool({ connectionString: opts.databaseUrl, max: 1 });
    // An idle connection that loses its server (PostgreSQL restarted) emits 'error' on the pool; without a listener
    // it would crash the whole sink. The next load reconnects.
    this.pool.on('error', (err) => this.log.warn('outcomes database connection lost', { err }));
    this.rows = registry.counter(
      'lake_outcomes_rows_total',
      'Outcome row versions committed to bronze.payment_outcomes',
    );
    this.commits = registry.counter('lake_outcomes_commits_total', 'Outcome loads, by result');
  }

  async start(): Promise<void> {
    const info = await this.writer.ensureTable(TABLE, KEY);
    this.setHorizon(info.cursors);
    this.timer = setInterval(() => void this.loadOnce().catch(() => 0), this.opts.intervalMs);
    this.timer.unref();
  }

  private setHorizon(c: Record<string, string>): void {
    this.horizon = c.xid && c.at ? { xid: c.xid, at: c.at } : null;
  }

  /** One load; resolves to the rows committed (0 when there was nothing new or the table did not exist yet). */
  loadOnce(): Promise<number> {
    if (!this.running) this.running = this.load().finally(() => (this.running = null));
    return this.running;
  }

  private async load(): Promise<number> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const exists = await client.query(`SELECT to_regclass('public.payment_events') IS NOT NULL AS ok`);
      if (!exists.rows[0]?.ok) {
        await client.query('COMMIT');
        return 0;
      }
      const snap = await client.query<{ xmin: string; xmax: string; now: string }>(
        `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin, pg_snapshot_xmax(pg_current_snapshot())::text AS xmax,
                to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS now`,
      );
      const s = snap.rows[0] as { xmin: string; xmax: string; now: string };
      const from = this.horizon?.xid ?? '0';
      if (BigInt(s.xmin) <= BigInt(from)) {
        await client.query('COMMIT');
        return 0;
      }
      const since = this.horizon ? new Date(Date.parse(this.horizon.at) - SCAN_MARGIN_MS).toISOString() : null;
      const res = await client.query(
        `WITH x AS (SELECT $1::bigint AS xmax)
         SELECT ${FULL_XID}::text AS full_xid, e.id::text AS pg_id, e.event_id, e.provider, e.event_type, e.merchant_id,
                e.customer_id, e.amount_minor::text AS amount_minor, e.currency, e.status, e.outcome,
                e.validation_status, e.validation_errors::text AS validation_errors, e.fraud_score::float8 AS fraud_score,
                e.fraud_risk_level, e.fraud_model_version, e.retry_action, e.retry_delay_seconds,
                e.retry_strategy::text AS retry_strategy, e.churn_score::float8 AS churn_score, e.churn_risk_level,
                e.churn_model_version, e.days_to_churn_estimate, e.workflow_id,
                e.provider_created_at, e.received_at, e.persisted_at
           FROM payment_events e, x
          WHERE ($4::timestamptz IS NULL OR e.persisted_at >= $4::timestamptz)
            AND ${FULL_XID} >= $2::bigint AND ${FULL_XID} < $3::bigint
          ORDER BY ${FULL_XID}, e.id
          LIMIT $5`,
        [s.xmax, from, s.xmin, since, this.opts.batchRows + 1],
      );
      await client.query('COMMIT');
      let rows = res.rows as Record<string, unknown>[];
      let nextXid = s.xmin;
      if (rows.length > this.opts.batchRows) {
        // Cut at a transaction boundary: everything below the first left-out transaction is in this load.
        const cut = (rows[this.opts.batchRows] as { full_xid: string }).full_xid;
        rows = rows.filter((r) => BigInt(r.full_xid as string) < BigInt(cut));
        nextXid = cut;
        if (rows.length === 0) throw new Error(`one transaction wrote more than ${this.opts.batchRows} outcome rows`);
      }
      if (rows.length === 0) return 0;
      const b = new TableBatchBuilder(TABLE);
      for (const r of rows) {
        b.append({
          ...r,
          amount_minor: r.amount_minor === null ? null : BigInt(r.amount_minor as string),
          pg_id: BigInt(r.pg_id as string),
          provider_created_at: (r.provider_created_at as Date | null)?.getTime() ?? null,
          received_at: (r.received_at as Date | null)?.getTime() ?? null,
          persisted_at: (r.persisted_at as Date).getTime(),
        } as never);
      }
      const w = await this.writer.write(TABLE.qualifiedName, b.finishIpc(), this.opts.writerId);
      try {
        const expected = { xid: this.horizon?.xid ?? null, at: this.horizon?.at ?? null };
        const next = { xid: nextXid, at: s.now };
        await this.writer.commit(w.handle, {
          cursorKey: KEY,
          expected,
          next,
          writer: this.opts.writerId,
          commitId: randomUUID(),
          summary: { 'pep.rows': String(rows.length) },
        });
        this.horizon = next;
      } catch (err) {
        await this.writer.abort(w.handle).catch(() => 0);
        this.commits.inc({ result: (err as { code?: string }).code ?? 'error' });
        // Someone else (or our own earlier commit) moved the horizon: take the table's.
        this.setHorizon((await this.writer.tableInfo(TABLE.qualifiedName, KEY)).cursors);
        throw err;
      }
      this.rows.inc({}, rows.length);
      this.commits.inc({ result: 'ok' });
      this.log.debug('outcomes loaded', { rows: rows.length, horizon: nextXid });
      return rows.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      this.log.warn('outcomes load failed (retried next interval)', { err });
      throw err;
    } finally {
      client.release();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => 0);
    await this.pool.end();
  }
}
