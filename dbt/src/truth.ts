/**
 * The simulator's fraud ground truth as the dbt seed `fraud_truth` (grain: event_id), so that the marts can say how
 * good the fraud alerts are on simulated traffic (`gold.fraud_alert_quality`: precision and recall at the alert
 * threshold). The simulator writes, per run, the events it made fraudulent to a side file, never into the payloads
 * (`simulator/out/fraud-truth-<seed>.jsonl`, `npm run simulate -- --truth`); `npm run dbt` collects every such file of
 * DBT_FRAUD_TRUTH_DIR into `seeds/fraud_truth.csv` (git-ignored) before dbt runs, and `dbt build`/`dbt seed` load it.
 * No file: a header-only seed, and the mart's precision and recall are null (no labelled traffic yet).
 *
 * A line that is not a truth record is skipped and counted (the side file of a run that was killed while writing).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from '@pep/stack/paths';
import { PACKAGE_DIR } from './bronze.ts';

export const FRAUD_TRUTH_SEED = join(PACKAGE_DIR, 'seeds', 'fraud_truth.csv');
const TRUTH_FILE = /^fraud-truth-(\d+)\.jsonl$/;
/** Bound on the seed (a dbt seed is loaded in one go): more truth records than this is an error, not a silent cut. */
export const MAX_TRUTH_RECORDS = 500_000;
const COLUMNS = ['event_id', 'provider', 'provider_event_id', 'pattern', 'fraud_instance', 'truth_run_seed'] as const;

/** DBT_FRAUD_TRUTH_DIR, else the simulator's default output folder. */
export function fraudTruthDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.DBT_FRAUD_TRUTH_DIR?.trim() || join(REPO_ROOT, 'simulator', 'out'));
}

export interface TruthSeedSummary {
  readonly path: string;
  readonly files: number;
  readonly records: number;
  /** Lines that were not a truth record (skipped). */
  readonly skipped: number;
}

const csvField = (v: string): string => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** The seed's CSV from the truth files' contents (file name → text); one row per event_id, first file wins. */
export function truthSeedCsv(files: ReadonlyMap<string, string>): { csv: string; records: number; skipped: number } {
  const rows = new Map<string, string>();
  let skipped = 0;
  for (const [name, text] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    const seed = TRUTH_FILE.exec(name)?.[1] ?? '';
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(line) as Record<string, unknown>;
      } catch {
        skipped++;
        continue;
      }
      const str = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : '');
      if (!str('event_id') || !str('provider') || r.kind !== 'payment') {
        skipped++;
        continue;
      }
      // The platform's event id is the provider's, prefixed with the provider (`adyen:8704…_AUTHORISATION`).
      const eventId = `${str('provider')}:${str('event_id')}`;
      if (rows.has(eventId)) continue;
      if (rows.size >= MAX_TRUTH_RECORDS) {
        throw new Error(
          `more than ${MAX_TRUTH_RECORDS} fraud truth records in ${fraudTruthDir()}: move old simulator runs' truth files away (DBT_FRAUD_TRUTH_DIR)`,
        );
      }
      rows.set(
        eventId,
        [eventId, str('provider'), str('event_id'), str('pattern'), str('instance'), seed].map(csvField).join(','),
      );
    }
  }
  return { csv: `${[COLUMNS.join(','), ...rows.values()].join('\n')}\n`, records: rows.size, skipped };
}

/** Writes `seeds/fraud_truth.csv` from every truth file of `dir` (atomically: a concurrent dbt run sees old or new). */
export function writeFraudTruthSeed(dir = fraudTruthDir(), path = FRAUD_TRUTH_SEED): TruthSeedSummary {
  const files = new Map<string, string>();
  if (existsSync(dir)) {
    for (const name of readdirSync(dir))
      if (TRUTH_FILE.test(name)) files.set(name, readFileSync(join(dir, name), 'utf8'));
  }
  const { csv, records, skipped } = truthSeedCsv(files);
  mkdirSync(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, csv);
  renameSync(tmp, path);
  return { path, files: files.size, records, skipped };
}
