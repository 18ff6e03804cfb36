/**
 * A throw-away dashboard whose charts fail on purpose, one per kind of bad input the issue names (a mart table that
 * is missing from a DuckDB marts file, Trino down, a wrong database password), next to one healthy chart: the page
 * must still load, each failing chart must show its error, and the browser check must name it. Built as a bundle in
 * Superset's own format and imported through the same code path as the platform's bundle; `removeBadInput` deletes
 * it again.
 */
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { stringify } from 'yaml';
import type { BundleFiles } from '../src/bundle.ts';
import type { SupersetClient } from '../src/client.ts';
import {
  type DatabaseTarget,
  databaseEnvironment,
  duckdbTarget,
  postgresTarget,
  trinoTarget,
} from '../src/databases.ts';

export const BAD_INPUT_SLUG = 'pep-test-bad-input';
export const BAD_INPUT_TITLE = 'Test: bad input';

/** Fixed uuids of the test's assets (databases, datasets, charts, dashboard), so that removal finds them. */
const U = {
  wrongPasswordDb: '7e57a5e7-0000-4000-8000-000000000001',
  trinoDownDb: '7e57a5e7-0000-4000-8000-000000000002',
  martsDb: '7e57a5e7-0000-4000-8000-000000000003',
  operationsDataset: '7e57a5e7-0000-4000-8000-000000000011',
  missingTableDataset: '7e57a5e7-0000-4000-8000-000000000012',
  trinoDataset: '7e57a5e7-0000-4000-8000-000000000013',
  wrongPasswordDataset: '7e57a5e7-0000-4000-8000-000000000014',
  healthyChart: '7e57a5e7-0000-4000-8000-000000000021',
  missingTableChart: '7e57a5e7-0000-4000-8000-000000000022',
  trinoChart: '7e57a5e7-0000-4000-8000-000000000023',
  wrongPasswordChart: '7e57a5e7-0000-4000-8000-000000000024',
  dashboard: '7e57a5e7-0000-4000-8000-000000000031',
} as const;

export const BAD_INPUT_CHARTS = {
  healthy: 'Healthy chart beside failing ones',
  missingTable: 'Mart table missing',
  trinoDown: 'Trino down',
  wrongPassword: 'Wrong database password',
} as const;

function dataset(
  uuid: string,
  databaseUuid: string,
  name: string,
  sql: string | null,
  schema: string | null = sql === null ? 'public' : null,
): Record<string, unknown> {
  return {
    table_name: name,
    main_dttm_col: null,
    description: null,
    default_endpoint: null,
    offset: 0,
    cache_timeout: null,
    schema,
    sql,
    params: null,
    template_params: null,
    filter_select_enabled: true,
    fetch_values_predicate: null,
    extra: null,
    normalize_columns: false,
    always_filter_main_dttm: false,
    uuid,
    metrics: [{ metric_name: 'rows', verbose_name: 'Rows', metric_type: 'count', expression: 'COUNT(*)', extra: null }],
    columns: [{ column_name: 'x', is_dttm: false, is_active: true, type: 'INTEGER', groupby: true, filterable: true }],
    version: '1.0.0',
    database_uuid: databaseUuid,
  };
}

function chart(uuid: string, datasetUuid: string, name: string): Record<string, unknown> {
  return {
    slice_name: name,
    viz_type: 'big_number_total',
    params: { viz_type: 'big_number_total', metric: 'rows', adhoc_filters: [], subheader: 'bad-input test' },
    query_context: null,
    cache_timeout: null,
    uuid,
    version: '1.0.0',
    dataset_uuid: datasetUuid,
  };
}

export interface BadInputBundle {
  readonly files: BundleFiles;
  readonly databases: readonly DatabaseTarget[];
}

/**
 * A TCP relay on an ephemeral port of 127.0.0.1 to `target` (host:port), so that a database can be registered through
 * it while the server answers and then find a closed port once `close()` has run: "Trino down" without stopping the
 * stack's Trino, which other tests and the platform use. `close()` ends the relayed connections and frees the port.
 */
export interface Relay {
  readonly url: string;
  close(): Promise<void>;
}

export async function tcpRelay(targetUrl: string): Promise<Relay> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the relay has no TCP address');
  const url = new URL(targetUrl);
  url.port = String(address.port);
  return {
    url: url.toString().replace(/\/$/, ''),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * The bad-input dashboard. `martsPath`: a DuckDB file (created by Superset when it registers the database) that does
 * not hold the mart the chart reads. `trinoUrl`: a Trino that answers when it is registered (Superset connects to a
 * database when it registers one, so "Trino down" is a Trino reachable at registration and unreachable afterwards);
 * without it the Trino chart is left out.
 */
export async function badInputBundle(
  operations: DatabaseTarget,
  martsPath: string,
  trinoUrl?: string,
): Promise<BadInputBundle> {
  const env = databaseEnvironment();
  const wrong = new URL(env.databaseUrl);
  wrong.password = `wrong-${randomBytes(6).toString('hex')}`;
  const databases = [
    operations,
    duckdbTarget(martsPath, {
      key: 'test_marts',
      name: 'Test: marts without the mart',
      uuid: U.martsDb,
      readOnly: false,
    }),
    postgresTarget(wrong.toString(), {
      key: 'test_wrong_password',
      name: 'Test: wrong password',
      uuid: U.wrongPasswordDb,
    }),
    ...(trinoUrl
      ? [
          trinoTarget(trinoUrl, 'superset', {
            key: 'test_trino',
            name: 'Test: Trino (unreachable after registration)',
            uuid: U.trinoDownDb,
          }),
        ]
      : []),
  ];
  const charts: [string, string, string][] = [
    [U.healthyChart, U.operationsDataset, BAD_INPUT_CHARTS.healthy],
    [U.missingTableChart, U.missingTableDataset, BAD_INPUT_CHARTS.missingTable],
    ...(trinoUrl ? [[U.trinoChart, U.trinoDataset, BAD_INPUT_CHARTS.trinoDown] as [string, string, string]] : []),
    [U.wrongPasswordChart, U.wrongPasswordDataset, BAD_INPUT_CHARTS.wrongPassword],
  ];
  const position: Record<string, unknown> = {
    DASHBOARD_VERSION_KEY: 'v2',
    ROOT_ID: { children: ['GRID_ID'], id: 'ROOT_ID', type: 'ROOT' },
    GRID_ID: { children: ['ROW-1'], id: 'GRID_ID', parents: ['ROOT_ID'], type: 'GRID' },
    HEADER_ID: { id: 'HEADER_ID', meta: { text: BAD_INPUT_TITLE }, type: 'HEADER' },
    'ROW-1': {
      children: charts.map((_, i) => `CHART-${i + 1}`),
      id: 'ROW-1',
      meta: { background: 'BACKGROUND_TRANSPARENT' },
      parents: ['ROOT_ID', 'GRID_ID'],
      type: 'ROW',
    },
  };
  charts.forEach(([uuid, , name], i) => {
    position[`CHART-${i + 1}`] = {
      children: [],
      id: `CHART-${i + 1}`,
      meta: { chartId: i + 1, height: 30, sliceName: name, uuid, width: 3 },
      parents: ['ROOT_ID', 'GRID_ID', 'ROW-1'],
      type: 'CHART',
    };
  });
  const files = new Map<string, string>([
    [
      'datasets/test/healthy.yaml',
      stringify(dataset(U.operationsDataset, operations.uuid, 'pep_test_healthy', 'SELECT 1 AS x')),
    ],
    [
      'datasets/test/missing_table.yaml',
      // A physical dataset on a gold mart the DuckDB file does not hold: a chart on a mart dbt never built.
      stringify(dataset(U.missingTableDataset, U.martsDb, 'pep_test_mart_that_does_not_exist', null, 'gold')),
    ],
    ...(trinoUrl
      ? [
          [
            'datasets/test/trino_down.yaml',
            stringify(dataset(U.trinoDataset, U.trinoDownDb, 'pep_test_trino', 'SELECT 1 AS x')),
          ] as [string, string],
        ]
      : []),
    [
      'datasets/test/wrong_password.yaml',
      stringify(dataset(U.wrongPasswordDataset, U.wrongPasswordDb, 'pep_test_wrong_password', 'SELECT 1 AS x')),
    ],
    ...charts.map(([uuid, ds, name], i): [string, string] => [
      `charts/test_${i + 1}.yaml`,
      stringify(chart(uuid, ds, name)),
    ]),
    [
      'dashboards/test.yaml',
      stringify({
        dashboard_title: BAD_INPUT_TITLE,
        slug: BAD_INPUT_SLUG,
        uuid: U.dashboard,
        position,
        metadata: {},
        published: false,
        version: '1.0.0',
      }),
    ],
  ]);
  return { files, databases };
}

/** Deletes the test's dashboard, charts, datasets and databases (whatever of them exists). */
export async function removeBadInput(client: SupersetClient): Promise<void> {
  const find = async (resource: string, uuids: readonly string[]) =>
    (await client.list<{ id: number; uuid: string }>(resource, ['id', 'uuid'])).filter((r) => uuids.includes(r.uuid));
  for (const d of await find('dashboard', [U.dashboard])) await client.request('DELETE', `/api/v1/dashboard/${d.id}`);
  const chartUuids = [U.healthyChart, U.missingTableChart, U.trinoChart, U.wrongPasswordChart];
  for (const c of await find('chart', chartUuids)) await client.request('DELETE', `/api/v1/chart/${c.id}`);
  const datasetUuids = [U.operationsDataset, U.missingTableDataset, U.trinoDataset, U.wrongPasswordDataset];
  for (const d of await find('dataset', datasetUuids)) await client.request('DELETE', `/api/v1/dataset/${d.id}`);
  for (const d of await find('database', [U.wrongPasswordDb, U.trinoDownDb, U.martsDb])) {
    await client.request('DELETE', `/api/v1/database/${d.id}`);
  }
}
