/**
 * The fixed set of analytical queries of the lakehouse benchmark and the engine-comparison test (issue #16):
 * daily revenue per provider and currency, the decline funnel, top merchants by dispute rate, one customer's
 * 90-day history. The same SQL on both engines with the same meaning (dates in UTC; rates rounded), so their answers
 * compare row for row, except for the UTC day of an instant: `CAST(ts AS DATE)` on Trino, the session's `utc_day(ts)`
 * macro on DuckDB (see lakehouse/src/duckdb.ts: DuckDB's cast of a TIMESTAMPTZ goes through ICU's calendar, 2.1 s
 * over 10 million rows on this machine, against 0.18 s for the arithmetic). `table` is `<namespace>.<table>` (Trino
 * resolves it in catalog `iceberg`).
 */
export interface NamedQuery {
  readonly name: string;
  readonly sql: string;
}

export type AnalyticsEngine = 'duckdb' | 'trino';

/** The UTC calendar day of a TIMESTAMPTZ column, in each engine's fastest exact form. */
function utcDay(column: string, engine: AnalyticsEngine): string {
  return engine === 'duckdb' ? `utc_day(${column})` : `CAST(${column} AS DATE)`;
}

export function analyticalQueries(
  table: string,
  customerId: string,
  sinceDate: string,
  engine: AnalyticsEngine,
): NamedQuery[] {
  const day = utcDay('received_at', engine);
  return [
    {
      name: 'daily_revenue_per_provider_currency',
      sql: `SELECT ${day} AS day, provider, currency, sum(amount_minor) AS revenue_minor, count(*) AS n
              FROM ${table} WHERE event_type IN ('payment.succeeded', 'payment.captured')
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    },
    {
      name: 'decline_funnel',
      sql: `SELECT provider,
                   count(*) FILTER (WHERE event_type = 'payment.authorized') AS authorized,
                   count(*) FILTER (WHERE event_type IN ('payment.succeeded', 'payment.captured')) AS succeeded,
                   count(*) FILTER (WHERE event_type = 'payment.failed') AS failed,
                   round(CAST(count(*) FILTER (WHERE event_type = 'payment.failed') AS DOUBLE)
                         / greatest(count(*) FILTER (WHERE event_type = 'payment.authorized'), 1), 6) AS decline_rate
              FROM ${table} GROUP BY provider ORDER BY provider`,
    },
    {
      name: 'top_merchants_by_dispute_rate',
      sql: `SELECT merchant_id,
                   count(*) FILTER (WHERE event_type = 'dispute.opened') AS disputes,
                   count(*) FILTER (WHERE event_type = 'payment.succeeded') AS payments,
                   round(CAST(count(*) FILTER (WHERE event_type = 'dispute.opened') AS DOUBLE)
                         / greatest(count(*) FILTER (WHERE event_type = 'payment.succeeded'), 1), 6) AS dispute_rate
              FROM ${table} WHERE merchant_id IS NOT NULL
             GROUP BY merchant_id HAVING count(*) FILTER (WHERE event_type = 'payment.succeeded') >= 20
             ORDER BY dispute_rate DESC, merchant_id LIMIT 10`,
    },
    {
      name: 'customer_90_day_history',
      sql: `SELECT event_id, event_type, amount_minor, currency, ${day} AS day
              FROM ${table}
             WHERE customer_id = '${customerId.replaceAll("'", "''")}' AND received_at >= TIMESTAMP '${sinceDate} 00:00:00 UTC'
             ORDER BY received_at, event_id`,
    },
  ];
}
