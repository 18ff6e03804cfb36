/**
 * The dbt gold marts the Revenue, Payments and Fraud dashboards read: `npm run dbt -- build` on DuckDB (the same
 * step the orchestrator's daily `dbt.build` runs), which publishes them into DASHBOARDS_MARTS_DUCKDB's file
 * (`.stack/dbt/marts.duckdb`, dbt's DBT_MARTS_DUCKDB). For the browser tests and the benchmark after a simulated
 * run, whose events the lake sink has committed to the bronze tables by the time `npm start` reports.
 */
import { type DbtRunSummary, runDbt } from '@pep/dbt';
import { databaseEnvironment } from './databases.ts';

/** The marts the bundle's datasets read (`gold.<name>`); a build that did not publish one of them is a failure. */
export const DASHBOARD_MARTS = [
  'declines_daily',
  'fraud_alert_quality',
  'fraud_alerts',
  'fraud_scores_daily',
  'merchant_risk',
  'model_scores_daily',
  'model_versions',
  'payment_funnel_daily',
  'retry_recovery',
  'revenue_daily_by_provider',
] as const;

const MAX_OUTPUT_CHARS = 20_000;

/** Builds and publishes the marts; throws with dbt's failures and its last output when the build fails. */
export async function buildMarts(log: (m: string) => void = () => {}): Promise<DbtRunSummary> {
  let output = '';
  // Published where the dashboards read, whatever DBT_MARTS_DUCKDB says.
  const env = { ...process.env, DBT_MARTS_DUCKDB: databaseEnvironment().martsPath };
  const summary = await runDbt(['build'], {
    env,
    log,
    stdout: (chunk) => {
      output = (output + chunk).slice(-MAX_OUTPUT_CHARS);
    },
  });
  const published = new Set(summary.published?.tables ?? []);
  const missing = DASHBOARD_MARTS.filter((m) => !published.has(m));
  if (summary.status !== 'success' || missing.length > 0) {
    const failures = summary.failures.map((f) => `${f.unique_id}: ${f.status} ${f.message ?? ''}`).join('\n');
    throw new Error(
      `dbt build for the dashboards' marts failed (exit ${summary.exit_code}${summary.error ? `: ${summary.error}` : ''}${
        missing.length > 0 ? `; not published: ${missing.join(', ')}` : ''
      })\n${failures}\n${output.slice(-4000)}`,
    );
  }
  log(`marts published to ${summary.published?.path} in ${summary.elapsed_s.toFixed(0)} s`);
  return summary;
}
