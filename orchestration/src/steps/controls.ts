/**
 * Step `controls.daily-totals`: the operational store's control totals for one day (events and integer minor units
 * per provider, currency, event type and validation status, from `payment_events`, by event day =
 * provider_created_at, else received_at, UTC). Written atomically with its run record (the day's rows are replaced
 * in the run's success transaction), so a crash leaves the previous totals or the new ones, never a mix. Inputs are
 * the day's row count, highest id and an order-independent hash of the columns that feed the totals: an unchanged
 * day is not recomputed. The reference the lake and the marts reconcile against.
 */
import type pg from 'pg';
import { hashOf } from '../history.ts';
import type { Partition } from '../partition.ts';
import type { JsonObject, StepDefinition, StepEnv } from '../step.ts';

const DAY_ROWS = `FROM payment_events WHERE coalesce(provider_created_at, received_at) >= $1
                     AND coalesce(provider_created_at, received_at) < $2`;

interface TotalRow {
  provider: string;
  currency: string;
  event_type: string;
  validation_status: string;
  events: string;
  amount_minor: string;
}

async function observeDay(db: Pick<pg.Pool | pg.PoolClient, 'query'>, p: Partition): Promise<JsonObject> {
  const { rows } = await db.query<{ rows: string; max_id: string | null; content: string | null }>(
    `SELECT count(*)::text AS rows, max(id)::text AS max_id,
            sum(('x' || left(md5(event_id || '|' || coalesce(amount_minor::text, '') || '|' || coalesce(currency, '')
              || '|' || coalesce(provider, '') || '|' || coalesce(event_type, '') || '|' || validation_status), 15)
            )::bit(60)::bigint)::text AS content
       ${DAY_ROWS}`,
    [p.start, p.end],
  );
  const r = rows[0];
  return {
    source: 'public.payment_events',
    rows: Number(r?.rows ?? 0),
    max_id: r?.max_id ?? null,
    content: r?.content ?? null,
  };
}

async function tableMissing(env: StepEnv): Promise<string | null> {
  const { rows } = await env.pool.query<{ ok: boolean }>(
    `SELECT to_regclass('public.payment_events') IS NOT NULL AS ok`,
  );
  return rows[0]?.ok ? null : 'table payment_events is missing (run the workflows migrations)';
}

export const dailyControlTotals: StepDefinition = {
  name: 'controls.daily-totals',
  description: 'control totals of payment_events per day, provider, currency, event type, validation status',
  owner: 'orchestration (#20)',
  partitioning: { kind: 'day' },
  version: '1',
  timeoutMs: 10 * 60_000,
  heartbeatTimeoutMs: 60_000,
  available: tableMissing,
  observe: (env, p) => observeDay(env.pool, p),
  async run(ctx, p) {
    const client = await ctx.pool.connect();
    let totals: TotalRow[];
    let consumed: JsonObject;
    try {
      // One snapshot for the totals and the record of what they were computed from.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      consumed = await observeDay(client, p);
      totals = (
        await client.query<TotalRow>(
          `SELECT coalesce(provider, 'unknown') AS provider, coalesce(currency, 'unknown') AS currency,
                  coalesce(event_type, 'unknown') AS event_type, validation_status,
                  count(*)::text AS events, coalesce(sum(amount_minor), 0)::text AS amount_minor
             ${DAY_ROWS}
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
          [p.start, p.end],
        )
      ).rows;
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    ctx.commitWithRun(async (tx) => {
      await tx.query('DELETE FROM orchestration.daily_control_totals WHERE day = $1', [p.key]);
      if (totals.length === 0) return;
      await tx.query(
        `INSERT INTO orchestration.daily_control_totals
           (day, provider, currency, event_type, validation_status, events, amount_minor, run_id)
         SELECT $1::date, t.provider, t.currency, t.event_type, t.validation_status, t.events::bigint,
                t.amount_minor::numeric, $3::bigint
           FROM jsonb_to_recordset($2::jsonb) AS t(provider text, currency text, event_type text,
                validation_status text, events text, amount_minor text)`,
        [p.key, JSON.stringify(totals), ctx.runId],
      );
    });
    const byCurrency: Record<string, string> = {};
    for (const t of totals) {
      if (t.validation_status !== 'passed') continue;
      byCurrency[t.currency] = (BigInt(byCurrency[t.currency] ?? '0') + BigInt(t.amount_minor)).toString();
    }
    return {
      outputs: {
        table: 'orchestration.daily_control_totals',
        day: p.key,
        rows_written: totals.length,
        events: totals.reduce((n, t) => n + Number(t.events), 0),
        amount_minor_passed_by_currency: byCurrency,
      },
      outputVersion: hashOf(totals),
      consumed,
    };
  },
};
