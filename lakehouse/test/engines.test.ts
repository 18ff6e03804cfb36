/**
 * DuckDB (embedded, iceberg extension from the PyPI wheels) and Trino 476 (the stack's) read the same Iceberg
 * snapshot and give the same answers to the analytical queries of the lakehouse benchmark. Data: generated history
 * written through the lake writer into a private namespace of the shared `pep` catalog (the one Trino is configured
 * with). Trino down: a clear TRINO_UNAVAILABLE, nothing else touched. Needs `npm run stack:up` (PostgreSQL, Trino).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LAKE_CATALOG_NAME } from '@pep/contracts';
import { analyticalQueries } from '../src/analytics.ts';
import { writeHistory } from '../src/generate.ts';
import { runQuery } from '../src/query.ts';
import { type TrinoError, trinoQuery } from '../src/trino.ts';
import { LakeWriter } from '../src/writer.ts';
import { removeWarehouse, tableIn, tag, testConfig } from './helpers.ts';

const cfg = testConfig({ catalogName: LAKE_CATALOG_NAME });
const ns = `t_${tag()}`;
const table = tableIn(ns);
const END = Date.UTC(2026, 10, 30);

before(async () => {
  const writer = await LakeWriter.open(cfg);
  await writeHistory(
    writer,
    { events: 6000, days: 30, seed: 7, run: `cmp${tag()}`, endMs: END },
    { batchRows: 2500, table },
  );
});
after(() => removeWarehouse(cfg, ns));

/** Rows with numbers as numbers (Trino answers bigint as number, DuckDB as bigint). */
const canon = (rows: Record<string, unknown>[]) =>
  rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));

describe('DuckDB and Trino over the same tables', () => {
  it('give identical answers to every analytical query', async () => {
    const duck = await runQuery(
      cfg,
      `SELECT customer_id, count(*) AS n FROM ${table.qualifiedName} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1`,
      'duckdb',
    );
    const customer = String(duck.rows[0]?.customer_id);
    const onTrino = analyticalQueries(table.qualifiedName, customer, '2026-09-01', 'trino');
    for (const [i, q] of analyticalQueries(table.qualifiedName, customer, '2026-09-01', 'duckdb').entries()) {
      const d = await runQuery(cfg, q.sql, 'duckdb');
      const t = await runQuery(cfg, (onTrino[i] as { sql: string }).sql, 'trino');
      assert.ok(d.rows.length > 0, `${q.name}: no rows`);
      assert.deepEqual(d.columns, t.columns, q.name);
      assert.deepEqual(canon(d.rows), canon(t.rows), q.name);
    }
    const total = await runQuery(cfg, `SELECT count(*) AS n FROM ${table.qualifiedName}`, 'trino');
    assert.equal(Number(total.rows[0]?.n), 6000);
  });

  it("DuckDB's utc_day macro is the UTC calendar day, as CAST(ts AS DATE) in UTC gives it", async () => {
    // Instants at and around midnight, before 1970 (negative epochs), far dates and NULL.
    const instants = [
      '2026-11-30 00:00:00',
      '2026-11-29 23:59:59.999999',
      '2026-12-01 00:00:00.000001',
      '1969-12-31 23:59:59.999999',
      '1970-01-01 00:00:00',
      '1900-03-01 12:00:00',
      '2400-02-29 23:00:00',
    ];
    const values = [...instants.map((i) => `(TIMESTAMPTZ '${i}+00')`), '(CAST(NULL AS TIMESTAMPTZ))'].join(', ');
    const r = await runQuery(
      cfg,
      `SELECT CAST(utc_day(ts) AS VARCHAR) AS fast, CAST(CAST(ts AS DATE) AS VARCHAR) AS cast_day FROM (VALUES ${values}) v(ts)`,
      'duckdb',
    );
    assert.equal(r.rows.length, instants.length + 1);
    for (const row of r.rows) assert.equal(row.fast, row.cast_day);
    assert.deepEqual(
      r.rows.slice(0, 4).map((row) => row.fast),
      ['2026-11-30', '2026-11-29', '2026-12-01', '1969-12-31'],
    );
  });

  it('reports Trino down as TRINO_UNAVAILABLE with the address and the way to start it', async () => {
    await assert.rejects(
      trinoQuery('http://127.0.0.1:1', 'SELECT 1'),
      (e: TrinoError) =>
        e.code === 'TRINO_UNAVAILABLE' && /127\.0\.0\.1:1/.test(e.message) && /stack:up/.test(e.message),
    );
    // DuckDB does not depend on Trino.
    const d = await runQuery(
      { ...cfg, trinoUrl: 'http://127.0.0.1:1' },
      `SELECT count(*) AS n FROM ${table.qualifiedName}`,
      'duckdb',
    );
    assert.equal(Number(d.rows[0]?.n), 6000);
  });
});
