/**
 * Runs the project's dbt unit tests (models/**\/_*__unit_tests.yml) on DuckDB with every bronze table empty: no
 * catalog, no data, no service. dbt reads each tested model's columns from its relation, so the relations are built
 * first with `--empty` (zero rows everywhere).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PACKAGE_DIR } from './bronze.ts';
import { runDbt } from './run.ts';

test('dbt unit tests: the three incremental bugs, late events, duplicate deliveries, restated refunds', {
  timeout: 20 * 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pep-dbt-unit-'));
  const env = {
    ...process.env,
    DBT_BRONZE_EMPTY: '1',
    DBT_DUCKDB_PATH: join(dir, 'unit.duckdb'),
    DBT_MARTS_DUCKDB: join(dir, 'marts.duckdb'),
    DBT_TARGET_PATH: join(PACKAGE_DIR, 'target', 'unit'),
    DBT_RUN_LOG: join(dir, 'runs.jsonl'),
    DBT_USE_COLORS: 'false',
  };
  const log = (m: string) => console.log(`# ${m}`);
  const echo = (c: string) => {
    for (const line of c.split('\n')) if (/FAIL|ERROR|PASS .*::|Done\./.test(line)) console.log(`# ${line}`);
  };
  try {
    const relations = await runDbt(
      ['build', '--empty', '--resource-type', 'model', '--resource-type', 'seed', '--resource-type', 'snapshot'],
      { env, log, stdout: echo },
    );
    assert.equal(relations.exit_code, 0, `building the empty relations failed: ${JSON.stringify(relations.failures)}`);
    const s = await runDbt(['test', '--select', 'test_type:unit'], { env, log, stdout: echo });
    const failed = s.failures.map((f) => `${f.unique_id}: ${f.message}`).join('\n');
    assert.equal(s.exit_code, 0, failed);
    assert.ok((s.results.pass ?? 0) >= 12, `unit tests passed: ${JSON.stringify(s.results)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
