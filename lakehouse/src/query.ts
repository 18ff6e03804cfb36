/**
 * One query through either engine, same tables: DuckDB embedded (default) or Trino. Values are normalised for
 * printing and comparing (bigints and Trino's numeric strings become numbers when exact, timestamps ISO strings).
 */
import type { LakeConfig } from './config.ts';
import { openDuckSession } from './duckdb.ts';
import { trinoQuery } from './trino.ts';

export type Engine = 'duckdb' | 'trino';

export interface Answer {
  readonly engine: Engine;
  readonly columns: string[];
  readonly rows: Record<string, unknown>[];
  readonly ms: number;
}

export function normalizeValue(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v && typeof v === 'object' && 'toString' in v && v.constructor?.name?.startsWith('DuckDB')) return String(v);
  return v;
}

export async function runQuery(cfg: LakeConfig, sql: string, engine: Engine, log = (_: string) => {}): Promise<Answer> {
  const started = performance.now();
  if (engine === 'trino') {
    const r = await trinoQuery(cfg.trinoUrl, sql);
    return {
      engine,
      columns: r.columns,
      rows: r.rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, normalizeValue(v)]))),
      ms: performance.now() - started,
    };
  }
  const session = await openDuckSession(cfg, log);
  try {
    const r = await session.query(sql);
    return {
      engine,
      columns: r.columns,
      rows: r.rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, normalizeValue(v)]))),
      ms: performance.now() - started,
    };
  } finally {
    session.close();
  }
}

export function renderTable(a: Answer): string {
  const cells = a.rows.map((r) => a.columns.map((c) => (r[c] === null || r[c] === undefined ? 'NULL' : String(r[c]))));
  const widths = a.columns.map((c, i) =>
    Math.min(60, Math.max(c.length, ...cells.map((r) => (r[i] as string).length))),
  );
  const line = (vals: string[]) => vals.map((v, i) => v.slice(0, widths[i]).padEnd(widths[i] as number)).join(' | ');
  return [line(a.columns), widths.map((w) => '-'.repeat(w)).join('-+-'), ...cells.map(line)].join('\n');
}
