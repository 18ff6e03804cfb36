/**
 * `npm run query -- "<sql>" [--engine duckdb|trino] [--json]`: one SQL query over the lakehouse. DuckDB (embedded,
 * the default) sees every catalog table as a view `<namespace>.<table>` over its current snapshot; Trino sees the
 * same tables as `iceberg.<namespace>.<table>` (default schema bronze). Exit 1 with a clear message on errors.
 */
import { loadLakeConfig } from './config.ts';
import { type Engine, renderTable, runQuery } from './query.ts';

const argv = process.argv.slice(2);
const json = argv.includes('--json');
const engineAt = argv.indexOf('--engine');
const engine = (engineAt >= 0 ? argv[engineAt + 1] : 'duckdb') as Engine;
const sql = argv.find((a, i) => !a.startsWith('--') && !(engineAt >= 0 && i === engineAt + 1));

async function main(): Promise<number> {
  if (!sql || (engine !== 'duckdb' && engine !== 'trino')) {
    console.error('usage: npm run query -- "<sql>" [--engine duckdb|trino] [--json]');
    return 2;
  }
  const answer = await runQuery(loadLakeConfig(), sql, engine, (m) => console.error(`query: ${m}`));
  if (json) {
    console.log(
      JSON.stringify({ engine, columns: answer.columns, rows: answer.rows, ms: Math.round(answer.ms) }, (_k, v) =>
        typeof v === 'bigint' ? v.toString() : v,
      ),
    );
  } else {
    console.log(renderTable(answer));
    console.error(`${answer.rows.length} row(s), ${engine}, ${answer.ms.toFixed(0)} ms`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    console.error(`query failed${e.code ? ` (${e.code})` : ''}: ${e.message ?? String(err)}`);
    process.exit(1);
  },
);
