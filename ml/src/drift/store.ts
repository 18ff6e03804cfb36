/**
 * Drift reports in PostgreSQL (schema `ml`, migrations in ml/migrations, own migrations table), where the dashboards
 * read them: `ml.drift_reports` (one row per model version and window) and `ml.drift_features` (per feature and the
 * score). Writing a window again replaces its report in one transaction.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import type { DriftReport } from './report.ts';

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');
export const MIGRATIONS_TABLE = 'pgmigrations_ml';

export async function migrate(databaseUrl: string, log: (msg: string) => void = () => {}): Promise<void> {
  await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    migrationsTable: MIGRATIONS_TABLE,
    direction: 'up',
    // The advisory lock is shared by every package's migrations on the database: wait for another run.
    advisoryLockMode: 'wait',
    singleTransaction: true,
    checkOrder: true,
    log,
  });
}

const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

/** Stores `r` (replacing an earlier report of the same version and window); returns its id. */
export async function saveDriftReport(client: pg.ClientBase, r: DriftReport): Promise<string> {
  await client.query('BEGIN');
  try {
    await client.query(
      `DELETE FROM ml.drift_reports WHERE registered_name = $1 AND model_version = $2 AND window_from = $3
          AND window_to = $4`,
      [r.registeredName, r.modelVersion, r.window.from, r.window.to],
    );
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO ml.drift_reports (model, registered_name, model_version, feature_spec_version, window_from,
          window_to, reference_from, reference_to, reference_rows, window_rows, rows_compared, status,
          max_feature_psi, score_psi, psi_warn, psi_alert, drifted)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id`,
      [
        r.model,
        r.registeredName,
        r.modelVersion,
        r.featureSpecVersion,
        r.window.from,
        r.window.to,
        r.referenceWindow.from,
        r.referenceWindow.to,
        r.referenceRows,
        r.windowRows,
        r.rows,
        r.status,
        r.maxFeaturePsi,
        r.scorePsi,
        r.thresholds.psiWarn,
        r.thresholds.psiAlert,
        r.drifted,
      ],
    );
    const id = (rows[0] as { id: string }).id;
    if (r.features.length > 0) {
      await client.query(
        `INSERT INTO ml.drift_features (report_id, feature, kind, psi, level, reference_mean, recent_mean)
          SELECT $1, * FROM unnest($2::text[], $3::text[], $4::float8[], $5::text[], $6::float8[], $7::float8[])`,
        [
          id,
          r.features.map((f) => f.feature),
          r.features.map((f) => f.kind),
          r.features.map((f) => f.psi),
          r.features.map((f) => f.level),
          r.features.map((f) => finiteOrNull(f.referenceMean)),
          r.features.map((f) => finiteOrNull(f.recentMean)),
        ],
      );
    }
    await client.query('COMMIT');
    return id;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

export function connect(databaseUrl: string): pg.Client {
  return new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
}
