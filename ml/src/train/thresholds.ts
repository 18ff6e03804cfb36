/**
 * The fraud alert threshold of every served model version, for dbt: the seed `fraud_model_thresholds`
 * (`dbt/seeds/fraud_model_thresholds.csv`: `fraud_model_version,alert_threshold`), which `gold.fraud_alerts` joins on
 * the outcome row's `fraud_model_version` (the `model_version` the service answered, `fraud@<version>`), so an alert
 * there is what the version itself called `high`. The rules' rows (`rules-v1`, `rules-v2`: 0.7, src/rules.ts) are
 * committed; `npm run train` adds a row for each fraud version it registers with an `alert_threshold` tag.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../config.ts';

export const THRESHOLDS_HEADER = 'fraud_model_version,alert_threshold';
/** At most this many rows are kept (the rules' and the newest versions; a seed is not a history table). */
export const THRESHOLDS_MAX_ROWS = 10_000;
const VERSION = /^[A-Za-z0-9_.@-]{1,200}$/;

/**
 * Where `npm run train` writes: `ML_DBT_THRESHOLDS_SEED` (a path, or `off`), else the repo's dbt seed, but only for
 * the registry's own model names (a prefixed name, as the tests and the bench register, is not what serves).
 */
export function thresholdsSeedPath(registeredName: string, model: string, env = process.env): string | null {
  const v = env.ML_DBT_THRESHOLDS_SEED;
  if (v === 'off') return null;
  if (v) return v;
  return registeredName === model ? join(REPO_ROOT, 'dbt', 'seeds', 'fraud_model_thresholds.csv') : null;
}

/** Parses the seed; a malformed file is an error naming the line (it is never silently replaced). */
export function readThresholds(file: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!existsSync(file)) return out;
  const lines = readFileSync(file, 'utf8').split('\n');
  if (lines[0]?.trim() !== THRESHOLDS_HEADER)
    throw new Error(`${file}: first line must be "${THRESHOLDS_HEADER}", got ${JSON.stringify(lines[0])}`);
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === '') return;
    const [version, t, extra] = line.split(',');
    const threshold = Number(t);
    if (extra !== undefined || !version || !VERSION.test(version) || !(threshold > 0 && threshold <= 1))
      throw new Error(`${file}:${i + 2}: not "<model version>,<threshold in (0, 1]>": ${JSON.stringify(line)}`);
    out.set(version, threshold);
  });
  return out;
}

/** Sets one version's threshold (replacing its row), atomically (temporary file, then rename). */
export function writeThreshold(file: string, version: string, threshold: number): void {
  if (!VERSION.test(version)) throw new Error(`model version ${JSON.stringify(version)} cannot be a seed row`);
  if (!(threshold > 0 && threshold <= 1)) throw new Error(`alert threshold ${threshold} is not in (0, 1]`);
  const rows = readThresholds(file);
  rows.delete(version);
  rows.set(version, threshold);
  const all = [...rows];
  const rules = all.filter(([v]) => v.startsWith('rules-'));
  const kept = [...rules, ...all.filter(([v]) => !v.startsWith('rules-')).slice(-(THRESHOLDS_MAX_ROWS - rules.length))];
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${[THRESHOLDS_HEADER, ...kept.map(([v, t]) => `${v},${t}`)].join('\n')}\n`);
  renameSync(tmp, file);
}
