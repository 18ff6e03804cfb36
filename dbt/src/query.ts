/**
 * Reads what a dbt run built, on either target, through `python/query.py` (DuckDB's Python module, the trino client):
 * for the tests and the benchmark, which compare marts across runs and targets. Not a query service (`npm run query`
 * is the lakehouse's).
 */
import { join } from 'node:path';
import { PACKAGE_DIR } from './bronze.ts';
import { type DbtTarget, dbtPaths, trinoAddress } from './run.ts';
import { type DbtToolchain, runPython } from './venv.ts';

export type Row = Record<string, unknown>;

export async function queryTarget(
  tools: DbtToolchain,
  target: DbtTarget,
  sql: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Row[]> {
  const t = trinoAddress(env);
  const request =
    target === 'duckdb'
      ? { engine: 'duckdb', path: dbtPaths(env).duckdbPath, sql }
      : { engine: 'trino', host: t.host, port: t.port, scheme: t.scheme, catalog: 'iceberg', sql };
  const r = await runPython(tools, [join(PACKAGE_DIR, 'python', 'query.py'), JSON.stringify(request)], {
    env,
    timeoutMs: 30 * 60_000,
  });
  const answer = (r.answer ?? { error: r.stderr || r.stdout }) as {
    columns?: string[];
    rows?: unknown[][];
    error?: string;
  };
  if (r.code !== 0 || answer.error || !answer.columns || !answer.rows) {
    throw new Error(`query on ${target} failed: ${answer.error ?? r.stderr}\n${sql}`);
  }
  const cols = answer.columns;
  return answer.rows.map((row) => Object.fromEntries(cols.map((c, i) => [c, row[i]])));
}
