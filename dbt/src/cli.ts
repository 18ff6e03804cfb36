/**
 * `npm run dbt -- <dbt args>` (CONTRACT section 8): dbt against the lakehouse's bronze tables, DuckDB by default,
 * `--target trino` for Trino. dbt's output streams through; the last stdout line is a JSON summary (what the
 * orchestrator's dbt.build step reads). See run.ts for the exit statuses.
 */
import { runDbt, UsageError } from './run.ts';

const argv = process.argv.slice(2);
if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
  console.error(
    'usage: npm run dbt -- <dbt command> [dbt options] [--target duckdb|trino]\n' +
      '  e.g. npm run dbt -- build                 (DuckDB, the default target)\n' +
      '       npm run dbt -- build --target trino\n' +
      '       npm run dbt -- build --full-refresh\n' +
      '       npm run dbt -- test --select test_type:unit\n' +
      '       npm run dbt -- source freshness\n' +
      '       npm run dbt -- docs generate',
  );
  process.exit(argv.length === 0 ? 2 : 0);
}
try {
  const summary = await runDbt(argv);
  if (summary.error) console.error(`dbt: ${summary.error}`);
  for (const f of summary.failures) {
    const rows = f.unique_id.startsWith('test.') && f.relation ? ` (failing rows: select * from ${f.relation})` : '';
    console.error(`dbt: ${f.status}: ${f.unique_id}: ${f.message ?? ''}${rows}`);
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = summary.exit_code;
} catch (err) {
  console.error(`dbt: ${(err as Error).message}`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
