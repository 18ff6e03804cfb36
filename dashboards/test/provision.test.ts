/**
 * Dashboards as code against the real Superset of the local stack: the committed bundle is what Superset shows
 * (import, then export, gives back the committed files), an unchanged bundle is not imported again, a forced
 * re-import changes nothing (same exported files, same ids, same counts), an asset dropped from the bundle is
 * removed while one made in the UI is kept, and wrong admin credentials are a clear error without the password.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SUPERSET_VENV, stackUp, supersetSettings } from '@pep/stack';
import { venvDir } from '@pep/stack/install';
import { stringify } from 'yaml';
import { BUNDLE_DIR, normalizeExport, readBundle } from '../src/bundle.ts';
import { type SupersetClient, SupersetError } from '../src/client.ts';
import { DATABASE_UUIDS, platformDatabases } from '../src/databases.ts';
import { connect, provisionDashboards } from '../src/provision.ts';

interface Row {
  id: number;
  uuid: string;
}

async function snapshot(client: SupersetClient) {
  const ids = async (resource: string) =>
    (await client.list<Row>(resource, ['id', 'uuid'])).map((r) => `${r.uuid}=${r.id}`).sort();
  return {
    files: [...normalizeExport(await client.exportAssets(), await platformDatabases()).files],
    dashboards: await ids('dashboard'),
    charts: await ids('chart'),
    datasets: await ids('dataset'),
    databases: await ids('database'),
  };
}

describe('dashboards as code', { timeout: 900_000 }, () => {
  let client: SupersetClient;
  const scratch: string[] = [];

  before(async () => {
    await stackUp({ only: ['postgres', 'superset'] });
    await provisionDashboards();
    client = await connect();
  });

  after(async () => {
    // Leave Superset with exactly the committed bundle.
    await provisionDashboards({ force: true });
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  test('Superset holds exactly the committed bundle: its export normalises back to the files in git', async () => {
    const exported = normalizeExport(await client.exportAssets(), await platformDatabases());
    const committed = readBundle();
    const differing = [...new Set([...committed.keys(), ...exported.files.keys()])].filter(
      (p) => committed.get(p) !== exported.files.get(p),
    );
    assert.deepEqual(differing, [], 'these files differ between Superset and dashboards/bundle');
  });

  test('an unchanged bundle is not imported again, and a forced re-import changes nothing', async () => {
    const again = await provisionDashboards();
    assert.equal(again.imported, false, again.reason);
    const beforeImport = await snapshot(client);
    const forced = await provisionDashboards({ force: true });
    assert.equal(forced.imported, true);
    const afterImport = await snapshot(client);
    assert.deepEqual(afterImport, beforeImport);
    assert.deepEqual(forced.dashboards.map((d) => d.slug).sort(), ['fraud', 'ml', 'operations', 'payments', 'revenue']);
  });

  test('a chart dropped from the bundle is removed from Superset; a chart made in the UI is kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pep-bundle-'));
    scratch.push(dir);
    cpSync(BUNDLE_DIR, dir, { recursive: true });
    const extraUuid = '7e57a5e7-0000-4000-8000-0000000000c1';
    const dataset = [...readBundle().entries()].find(([p]) => p.endsWith('ops_workflow_outcomes.yaml'));
    assert.ok(dataset);
    const datasetUuid = /\nuuid: (\S+)/.exec(dataset[1])?.[1];
    writeFileSync(
      join(dir, 'charts', 'pep_test_extra.yaml'),
      stringify({
        slice_name: 'Test: chart that leaves the bundle',
        viz_type: 'big_number_total',
        params: { viz_type: 'big_number_total', metric: 'events' },
        query_context: null,
        uuid: extraUuid,
        version: '1.0.0',
        dataset_uuid: datasetUuid,
      }),
    );
    const withExtra = await provisionDashboards({ bundleDir: dir });
    assert.equal(withExtra.imported, true);
    const charts = () => client.list<Row & { slice_name: string }>('chart', ['id', 'uuid', 'slice_name']);
    assert.ok(
      (await charts()).some((c) => c.uuid === extraUuid),
      'the extra chart was imported',
    );

    // A chart someone makes in the UI (through the same API the UI uses).
    const datasetId = (await client.list<Row>('dataset', ['id', 'uuid'])).find((d) => d.uuid === datasetUuid)?.id;
    const made = await client.json<{ id: number }>('POST', '/api/v1/chart/', {
      slice_name: 'Test: made in the UI',
      viz_type: 'big_number_total',
      datasource_id: datasetId,
      datasource_type: 'table',
      params: JSON.stringify({ viz_type: 'big_number_total', metric: 'events' }),
    });
    try {
      const back = await provisionDashboards();
      assert.equal(back.imported, true, back.reason);
      const now = await charts();
      assert.ok(!now.some((c) => c.uuid === extraUuid), 'the chart that left the bundle is gone');
      assert.ok(
        now.some((c) => c.id === made.id),
        'the chart made in the UI is still there',
      );
    } finally {
      await client.request('DELETE', `/api/v1/chart/${made.id}`);
    }
  });

  test('the databases are registered by code with their fixed uuids and no password in the export', async () => {
    const rows = await client.list<Row & { database_name: string; backend: string }>('database', [
      'id',
      'uuid',
      'database_name',
      'backend',
    ]);
    const ops = rows.find((r) => r.uuid === DATABASE_UUIDS.operations);
    const marts = rows.find((r) => r.uuid === DATABASE_UUIDS.marts);
    assert.equal(ops?.backend, 'postgresql');
    assert.equal(marts?.backend, 'duckdb');
    // The operations database answers a query through Superset (SQL Lab's API), read-only.
    const ok = await client.json<{ data: { x: number }[] }>('POST', '/api/v1/sqllab/execute/', {
      database_id: ops?.id,
      sql: 'SELECT 1 AS x',
      runAsync: false,
    });
    assert.deepEqual(ok.data, [{ x: 1 }]);
    await assert.rejects(
      client.json('POST', '/api/v1/sqllab/execute/', {
        database_id: ops?.id,
        sql: 'CREATE TABLE pep_dashboards_must_not_write (x int)',
        runAsync: false,
      }),
      (err: Error) => err instanceof SupersetError,
    );
  });

  test('the DuckDB marts database answers through Superset (duckdb-engine, read-only)', async () => {
    // A marts file as dbt would leave it, written with the DuckDB of Superset's own virtualenv.
    const dir = mkdtempSync(join(tmpdir(), 'pep-marts-'));
    scratch.push(dir);
    const file = join(dir, 'marts.duckdb');
    const python = join(venvDir(SUPERSET_VENV), 'bin', 'python');
    execFileSync(python, [
      '-c',
      'import duckdb,sys; c=duckdb.connect(sys.argv[1]); c.execute("CREATE SCHEMA gold; CREATE TABLE gold.daily AS SELECT 42 AS net_minor"); c.close()',
      file,
    ]);
    const env = { ...process.env, DASHBOARDS_MARTS_DUCKDB: file };
    const r = await provisionDashboards({ env });
    assert.equal(r.imported, true, 'a new marts path is a new database setting');
    const marts = (await client.list<Row>('database', ['id', 'uuid'])).find((d) => d.uuid === DATABASE_UUIDS.marts);
    const answer = await client.json<{ data: { net_minor: number }[] }>('POST', '/api/v1/sqllab/execute/', {
      database_id: marts?.id,
      sql: 'SELECT net_minor FROM gold.daily',
      runAsync: false,
    });
    assert.deepEqual(answer.data, [{ net_minor: 42 }]);
    // Back to the platform's own settings.
    await provisionDashboards();
  });

  test('an expired access token: the client logs in again and retries the call once', async () => {
    const fresh = await connect();
    const state = fresh as unknown as { accessToken: string };
    // The client's own token with its expiry moved into the past, signed again with Superset's key (an HS256 JWT).
    const [header, payload] = state.accessToken.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const past = Math.floor(Date.now() / 1000) - 3600;
    const body = Buffer.from(JSON.stringify({ ...claims, iat: past - 900, nbf: past - 900, exp: past })).toString(
      'base64url',
    );
    const signature = createHmac('sha256', supersetSettings().secretKey)
      .update(`${header}.${body}`)
      .digest('base64url');
    state.accessToken = `${header}.${body}.${signature}`;
    const expired = state.accessToken;
    const listed = await fresh.dashboards();
    assert.ok(
      listed.some((d) => d.slug === 'operations'),
      JSON.stringify(listed),
    );
    assert.notEqual(state.accessToken, expired, 'the client did not log in again');
  });

  test('wrong admin credentials: a clear error naming the user, never the password', async () => {
    const password = 'definitely-not-the-admin-password';
    await assert.rejects(
      provisionDashboards({ env: { ...process.env, SUPERSET_ADMIN_PASSWORD: password } }),
      (err: Error) =>
        err instanceof SupersetError &&
        err.status === 401 &&
        err.message.includes('admin') &&
        !err.message.includes(password),
    );
  });
});
