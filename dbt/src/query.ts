/**
 * Reads what a dbt run built, on either target, through `python/query.py` (DuckDB's Python module, the trino client):
 * for the tests and the benchmark, which compare marts across runs and targets. Not a query service (`npm run query`
 * is the lakehouse's).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/**
 * Several statements in order on one connection of one Python process (each `queryTarget` pays a process start and
 * the engine's import: seconds on a loaded 2-core machine): the rows of each, in the order given. The answers go
 * through a file (whole tables can be larger than the output a helper's stdout keeps). Throws on the first statement
 * that failed, naming it.
 */
export async function queryTargetMany(
  tools: DbtToolchain,
  target: DbtTarget,
  sqls: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Row[][]> {
  if (sqls.length === 0) return [];
  const t = trinoAddress(env);
  const dir = mkdtempSync(join(tmpdir(), 'pep-dbt-query-'));
  const out = join(dir, 'answers.json');
  try {
    const request =
      target === 'duckdb'
        ? { engine: 'duckdb', path: dbtPaths(env).duckdbPath, sqls, out }
        : { engine: 'trino', host: t.host, port: t.port, scheme: t.scheme, catalog: 'iceberg', sqls, out };
    const r = await runPython(tools, [join(PACKAGE_DIR, 'python', 'query.py'), JSON.stringify(request)], {
      env,
      timeoutMs: 30 * 60_000,
    });
    const answers =
      r.code === 0 && existsSync(out)
        ? (JSON.parse(readFileSync(out, 'utf8')) as { answers?: QueryAnswer[] }).answers
        : undefined;
    if (!answers || answers.length !== sqls.length) {
      const error = (r.answer as QueryAnswer | undefined)?.error ?? (r.stderr || r.stdout);
      throw new Error(`queries on ${target} failed: ${error}\n${sqls.join(';\n')}`);
    }
    return sqls.map((sql, i) => {
      const a = answers[i];
      if (!a || a.error || !a.columns || !a.rows) throw new Error(`query on ${target} failed: ${a?.error}\n${sql}`);
      const cols = a.columns;
      return a.rows.map((row) => Object.fromEntries(cols.map((c, j) => [c, row[j]])));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface QueryAnswer {
  columns?: string[];
  rows?: unknown[][];
  error?: string;
}
