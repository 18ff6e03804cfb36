/**
 * Bronze histories for tests and benchmarks, written through pyiceberg into the lake's own SQL catalog layout (so
 * DuckDB's iceberg extension and Trino read them exactly as they read the lake sink's tables): a deterministic
 * generated history (`python/bronze.py generate`) and explicit rows (a late event, a duplicate delivery, a restated
 * refund, a broken row). Each test uses a private namespace (DBT_BRONZE_NAMESPACE) and drops it afterwards.
 * Not for the product's bronze tables: the lake sink owns those.
 */
import { LAKE_TABLES, type LakeTableName } from '@pep/contracts';
import { bronzeCommand, createBronzeTables } from './bronze.ts';
import type { DbtToolchain, Log } from './venv.ts';

export interface GenerateOptions {
  readonly days: number;
  readonly paymentsPerDay: number;
  /** First day of the history (UTC, default 2026-01-01). */
  readonly start?: string;
  /** Day offset to continue from (append day N of an existing history). */
  readonly firstDay?: number;
  readonly seed?: number;
  readonly chunkDays?: number;
  readonly customers?: number;
  readonly merchants?: number;
  readonly duplicateRate?: number;
  /** Written into the last snapshot's summary as `pep.bench.days` (a benchmark recognises a complete history). */
  readonly markDays?: number;
}

export interface GenerateResult {
  readonly payment_events: number;
  readonly payment_outcomes: number;
  readonly validation_dlq: number;
  readonly snapshots: string[];
  readonly seconds: number;
}

/** Creates the namespace's bronze tables (idempotent) and appends a generated history. */
export async function generateHistory(
  tools: DbtToolchain,
  opts: GenerateOptions,
  env: NodeJS.ProcessEnv,
  log?: Log,
): Promise<GenerateResult> {
  await createBronzeTables(tools, env);
  return bronzeCommand<GenerateResult>(
    tools,
    'generate',
    {
      days: opts.days,
      payments_per_day: opts.paymentsPerDay,
      ...(opts.start ? { start: opts.start } : {}),
      ...(opts.firstDay !== undefined ? { first_day: opts.firstDay } : {}),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.chunkDays !== undefined ? { chunk_days: opts.chunkDays } : {}),
      ...(opts.customers !== undefined ? { customers: opts.customers } : {}),
      ...(opts.merchants !== undefined ? { merchants: opts.merchants } : {}),
      ...(opts.duplicateRate !== undefined ? { duplicate_rate: opts.duplicateRate } : {}),
      ...(opts.markDays !== undefined ? { mark_days: opts.markDays } : {}),
    },
    { env, ...(log ? { onProgress: log } : {}) },
  );
}

export type BronzeRow = Record<string, string | number | boolean | null>;

/**
 * Appends rows to one bronze table as a new snapshot (payment_events: the Kafka coordinates continue the table's
 * offsets when left out). Every key must be a column of the table.
 */
export function appendBronze(
  tools: DbtToolchain,
  table: LakeTableName,
  rows: readonly BronzeRow[],
  env: NodeJS.ProcessEnv,
) {
  const columns = new Set(LAKE_TABLES[table].columns.map((c) => c.name));
  for (const r of rows) {
    for (const k of Object.keys(r)) {
      if (!columns.has(k)) throw new Error(`bronze.${table} has no column ${k}`);
    }
  }
  return bronzeCommand<{ appended: number; snapshot_id: string }>(tools, 'append', { table, rows }, { env });
}

/** Drops the namespace's tables (files included) and the namespace. */
export function dropHistory(tools: DbtToolchain, env: NodeJS.ProcessEnv) {
  return bronzeCommand<{ dropped: string[] }>(tools, 'drop', {}, { env });
}
