/**
 * A throw-away dashboard whose charts fail on purpose, one per kind of bad input the issue names (a mart table that
 * is missing, Trino down, a wrong database password), next to one healthy chart: the page must still load, each
 * failing chart must show its error, and the browser check must name it. Built as a bundle in Superset's own format
 * and imported through the same code path as the platform's bundle; `removeBadInput` deletes it again.
 */
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import type { BundleFiles } from '../src/bundle.ts';
import type { SupersetClient } from '../src/client.ts';
import { type DatabaseTarget, databaseEnvironment, postgresTarget, trinoTarget } from '../src/databases.ts';

export const BAD_INPUT_SLUG = 'pep-test-bad-input';
export const BAD_INPUT_TITLE = 'Test: bad input';

/** Fixed uuids of the test's assets (databases, datasets, charts, dashboard), so that removal finds them. */
const U = {
  wrongPasswordDb: '7e57a5e7-0000-4000-8000-000000000001',
  trinoDownDb: '7e57a5e7-0000-4000-8000-000000000002',
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

function dataset(uuid: string, databaseUuid: string, name: string, sql: string | null): Record<string, unknown> {
  return {
    table_name: name,
    main_dttm_col: null,
    description: null,
    default_endpoint: null,
    offset: 0,
    cache_timeout: null,
    schema: sql === null ? 'public' : null,
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
 * The bad-input dashboard. `trinoUrl`: a running Trino to register (Superset connects to a database when it registers
 * one, so "Trino down" is a Trino that was up at registration and stopped afterwards); without it the Trino chart is
 * left out.
 */
export async function badInputBundle(operations: DatabaseTarget, trinoUrl?: string): Promise<BadInputBundle> {
  const env = databaseEnvironment();
  const wrong = new URL(env.databaseUrl);
  wrong.password = `wrong-${randomBytes(6).toString('hex')}`;
  const databases = [
    operations,
    postgresTarget(wrong.toString(), {
      key: 'test_wrong_password',
      name: 'Test: wrong password',
      uuid: U.wrongPasswordDb,
    }),
    ...(trinoUrl
      ? [
          trinoTarget(trinoUrl, 'superset', {
            key: 'test_trino',
            name: 'Test: Trino (stopped by the test)',
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
      // A physical dataset on a table that does not exist: what a chart on a mart that was never built looks like.
      stringify(dataset(U.missingTableDataset, operations.uuid, 'pep_test_mart_that_does_not_exist', null)),
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
  for (const d of await find('database', [U.wrongPasswordDb, U.trinoDownDb])) {
    await client.request('DELETE', `/api/v1/database/${d.id}`);
  }
}
