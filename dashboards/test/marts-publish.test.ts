/**
 * Chart data on a DuckDB marts file across a dbt publish (a new file renamed over the old one, as dbt's publish step
 * does). Superset keeps warm DuckDB connections per worker and caches chart data (stack/src/services/superset.ts):
 * neither may answer from the old file once the new one is in place. Forced queries (every worker's warm connections
 * asked at once) must read the new file, and an unforced query right after a publish must not be served from the
 * cache entry of the old file; the cache must still answer a repeat of the same query while the file is unchanged.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stackUp, supersetBin, supersetServerSettings, supersetSettings } from '@pep/stack';
import type { SupersetClient } from '../src/client.ts';
import { connect } from '../src/provision.ts';

/** Writes `gold.probe` (one row, v = value) into a new file and renames it over `path`. */
function publish(path: string, value: number): void {
  const python = join(dirname(supersetBin()), 'python');
  const script = [
    'import duckdb, os, sys',
    'path, value = sys.argv[1], int(sys.argv[2])',
    'tmp = f"{path}.tmp-{os.getpid()}"',
    'c = duckdb.connect(tmp)',
    'c.execute("CREATE SCHEMA gold")',
    'c.execute("CREATE TABLE gold.probe AS SELECT CAST(? AS INTEGER) AS v", [value])',
    'c.close()',
    'os.rename(tmp, path)',
  ].join('\n');
  execFileSync(python, ['-c', script, path, String(value)], { stdio: 'pipe' });
}

interface Answer {
  readonly values: number[];
  readonly cached: boolean;
}

describe('chart data on the DuckDB marts after dbt publishes a new file', { timeout: 600_000 }, () => {
  const scratch = mkdtempSync(join(tmpdir(), 'pep-dashboards-marts-publish-'));
  const martsPath = join(scratch, 'marts.duckdb');
  const suffix = randomBytes(4).toString('hex');
  let client: SupersetClient;
  let databaseId: number | undefined;
  let datasetId: number | undefined;

  before(async () => {
    await stackUp({ only: ['superset'] });
    client = await connect(supersetSettings());
    publish(martsPath, 1);
    const db = await client.json<{ id: number }>('POST', '/api/v1/database/', {
      database_name: `Test: marts publish ${suffix}`,
      sqlalchemy_uri: `duckdb:///${martsPath}`,
      // As the platform registers the marts (dashboards/src/databases.ts): read-only, so dbt can publish.
      extra: JSON.stringify({ engine_params: { connect_args: { read_only: true } } }),
    });
    databaseId = db.id;
    const ds = await client.json<{ id: number }>('POST', '/api/v1/dataset/', {
      database: databaseId,
      table_name: `test_marts_publish_${suffix}`,
      sql: 'SELECT v FROM gold.probe',
    });
    datasetId = ds.id;
  });

  after(async () => {
    if (datasetId !== undefined) await client.request('DELETE', `/api/v1/dataset/${datasetId}`).catch(() => {});
    if (databaseId !== undefined) await client.request('DELETE', `/api/v1/database/${databaseId}`).catch(() => {});
    rmSync(scratch, { recursive: true, force: true });
  });

  async function query(force: boolean): Promise<Answer> {
    const body = await client.json<{ result: { data: { v: number }[]; is_cached: boolean | null }[] }>(
      'POST',
      '/api/v1/chart/data',
      {
        datasource: { id: datasetId, type: 'table' },
        force,
        queries: [{ columns: ['v'], metrics: [], orderby: [], row_limit: 10 }],
        result_format: 'json',
        result_type: 'full',
      },
    );
    const r = body.result[0];
    assert.ok(r, 'the chart data answer has no result');
    return { values: r.data.map((row) => row.v), cached: r.is_cached === true };
  }

  /** Forced queries at once, so that every worker and several of its connections answer. */
  async function forcedAtOnce(n = 8): Promise<number[]> {
    const answers = await Promise.all(Array.from({ length: n }, () => query(true)));
    return [...new Set(answers.flatMap((a) => a.values))];
  }

  test('a publish is read at once: no warm connection and no cache entry answers from the old file', async () => {
    const caching = supersetServerSettings().cacheTimeoutS > 0;
    assert.deepEqual(await forcedAtOnce(), [1]);
    const first = await query(false);
    assert.deepEqual(first.values, [1]);
    if (caching) assert.equal((await query(false)).cached, true, 'an unchanged file is answered from the cache');

    publish(martsPath, 2);
    const afterPublish = await query(false);
    assert.deepEqual(afterPublish.values, [2], 'the cached answer of the old file was served after the publish');
    assert.equal(afterPublish.cached, false);
    if (caching) assert.deepEqual(await query(false), { values: [2], cached: true });
    assert.deepEqual(await forcedAtOnce(), [2], 'a warm connection read the old file after the publish');

    publish(martsPath, 3);
    assert.deepEqual(await forcedAtOnce(), [3], 'a warm connection read the old file after the second publish');
    assert.deepEqual((await query(false)).values, [3]);
  });
});
