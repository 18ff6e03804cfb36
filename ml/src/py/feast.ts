/**
 * Feast through its own SDK (ml/python/pep_ml/features.py): apply the definitions, read or write the online store,
 * point-in-time historical features. Used by training and by the tests that prove our Redis layout is Feast's.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MlConfig } from '../config.ts';
import type { EntityName } from '../features/spec.ts';
import { runPython } from './run.ts';

const base = (c: MlConfig) => ['--redis', c.redisUrl, '--state', c.stateDir, '--offline', c.offlineDir];

async function withFiles<T>(input: unknown, fn: (inPath: string, outPath: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'pep-feast-'));
  try {
    const inPath = join(dir, 'in.json');
    writeFileSync(inPath, JSON.stringify(input));
    return await fn(inPath, join(dir, 'out.json'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function feastApply(c: MlConfig): Promise<void> {
  await runPython('pep_ml.features', ['apply', ...base(c)]);
}

/** Feast's get_online_features for ids of one entity: id → feature → value (null when Feast has none). */
export async function feastOnlineRead(
  c: MlConfig,
  entity: EntityName,
  ids: readonly string[],
): Promise<Record<string, Record<string, number | null>>> {
  return withFiles(ids, async (i, o) => {
    await runPython('pep_ml.features', ['online-read', ...base(c), '--entity', entity, '--input', i, '--output', o]);
    return JSON.parse(readFileSync(o, 'utf8'));
  });
}

export interface FeastWriteRow {
  readonly entity: EntityName;
  readonly id: string;
  /** Row time, epoch µs. */
  readonly ts_us: number;
  readonly values: Record<string, number>;
}

/** Feast's write_to_online_store (every view of each row's entity). */
export async function feastOnlineWrite(c: MlConfig, rows: readonly FeastWriteRow[]): Promise<void> {
  await withFiles(rows, (i) => runPython('pep_ml.features', ['online-write', ...base(c), '--input', i]));
}

export interface HistoricalRow {
  readonly row: number;
  /** Point in time, epoch µs. */
  readonly ts_us: number;
  readonly customer_id?: string | null;
  readonly merchant_id?: string | null;
  readonly payment_method_id?: string | null;
  /**
   * Per-entity point in time (µs) overriding ts_us: the feature time of the event (the version time of the row
   * serving saw; processor.ts, "row versions"), as logged with the event or computed by `featureTimeUs`.
   */
  readonly ts_by_entity_us?: Partial<Record<EntityName, number>>;
}

/** Point-in-time-correct feature records per row and entity (null: no row within the views' ttls). */
export async function feastHistorical(
  c: MlConfig,
  rows: readonly HistoricalRow[],
): Promise<Record<string, Record<EntityName, Record<string, number> | null>>> {
  return withFiles(rows, async (i, o) => {
    await runPython('pep_ml.features', ['historical', ...base(c), '--input', i, '--output', o], {
      timeoutMs: 20 * 60_000,
    });
    return JSON.parse(readFileSync(o, 'utf8'));
  });
}
