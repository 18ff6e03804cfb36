/**
 * Reads what a dbt run built, on either target, through `python/query.py` (DuckDB's Python module, the trino client):
 * for the tests and the benchmark, which compare marts across runs and targets. Not a query service (`npm run query`
 * is the lakehouse's).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_DIR } from './bronze.ts';
import { type DbtTarget, dbtPaths, trinoAddress } from './run.ts';
import type { DbtToolchain } from './venv.ts';

export type Row = Record<string, unknown>;

export function queryTarget(
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
  return new Promise((resolve, reject) => {
    const child = spawn(tools.python, [join(PACKAGE_DIR, 'python', 'query.py'), JSON.stringify(request)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr = (stderr + c).slice(-4000);
    });
    child.once('error', reject);
    child.once('close', (code) => {
      let answer: { columns?: string[]; rows?: unknown[][]; error?: string } = {};
      try {
        answer = JSON.parse(stdout.trim().split('\n').pop() ?? '{}');
      } catch {
        answer = { error: stderr || stdout };
      }
      if (code !== 0 || answer.error || !answer.columns || !answer.rows) {
        reject(new Error(`query on ${target} failed: ${answer.error ?? stderr}\n${sql}`));
        return;
      }
      const cols = answer.columns;
      resolve(answer.rows.map((r) => Object.fromEntries(cols.map((c, i) => [c, r[i]]))));
    });
  });
}
