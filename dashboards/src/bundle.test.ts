import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { parse, stringify } from 'yaml';
import {
  BundleError,
  bundleDigest,
  dashboardChartUuids,
  flattenTabs,
  importZip,
  layoutCharts,
  layoutTabs,
  normalizeExport,
  parseBundle,
  readBundle,
} from './bundle.ts';
import { DATABASE_UUIDS, duckdbTarget, postgresTarget } from './databases.ts';
import { DASHBOARD_MARTS } from './marts.ts';

const databases = [
  postgresTarget('postgres://payments:secret-pw@127.0.0.1:5432/payments'),
  duckdbTarget('/tmp/marts.duckdb'),
];

describe('the committed bundle', () => {
  const files = readBundle();
  const parsed = parseBundle(files, databases);

  test('has the five dashboards of the issue', () => {
    const titles = [...parsed.dashboards.values()].map((d) => d.dashboard_title).sort();
    assert.deepEqual(titles, ['Fraud', 'ML', 'Operations', 'Payments', 'Revenue']);
  });

  test('places every chart on a dashboard exactly once, and every dataset is used', () => {
    const placed = [...parsed.dashboards.values()].flatMap((d) => dashboardChartUuids(d));
    assert.equal(new Set(placed).size, placed.length, 'a chart is placed twice');
    assert.deepEqual(new Set(placed), new Set([...parsed.charts.values()].map((c) => c.uuid)));
    const used = new Set([...parsed.charts.values()].map((c) => c.dataset_uuid));
    for (const [path, d] of parsed.datasets) assert.ok(used.has(d.uuid), `${path} is used by no chart`);
  });

  test('has no machine-local parts: no databases, no saved query context, chart ids 1..n per dashboard', () => {
    assert.ok(![...files.keys()].some((p) => p.startsWith('databases/')));
    for (const [path, c] of parsed.charts) {
      assert.equal(c.query_context, null, path);
      const params = c.params as Record<string, unknown>;
      assert.ok(!('slice_id' in params) && !('datasource' in params), path);
    }
    for (const [path, d] of parsed.dashboards) {
      const ids = layoutCharts(d).map((n) => n.meta?.chartId);
      assert.deepEqual(
        ids,
        ids.map((_, i) => i + 1),
        path,
      );
    }
  });

  test('the Operations dashboard reads PostgreSQL, and has the panels the issue names', () => {
    const ops = [...parsed.dashboards.values()].find((d) => d.slug === 'operations');
    assert.ok(ops);
    const names = new Map([...parsed.charts.values()].map((c) => [c.uuid, c.slice_name as string]));
    const charts = dashboardChartUuids(ops).map((u) => names.get(u));
    for (const panel of [
      'Events per stage',
      'DLQ records by code',
      'Quarantine backlog',
      'Workflow outcomes by provider',
    ]) {
      assert.ok(charts.includes(panel), `Operations lacks "${panel}"`);
    }
    const datasets = new Map([...parsed.datasets.values()].map((d) => [d.uuid, d]));
    for (const u of dashboardChartUuids(ops)) {
      const chart = [...parsed.charts.values()].find((c) => c.uuid === u);
      assert.equal(datasets.get(chart?.dataset_uuid as string)?.database_uuid, DATABASE_UUIDS.operations, u);
    }
  });

  test('Operations opens on a small first tab; every chart is in exactly one tab; flattening gives one grid', () => {
    const ops = [...parsed.dashboards.values()].find((d) => d.slug === 'operations');
    assert.ok(ops);
    const names = new Map([...parsed.charts.values()].map((c) => [c.uuid, c.slice_name as string]));
    const tabs = layoutTabs(ops);
    assert.deepEqual(
      tabs.map((t) => t.title),
      ['Overview', 'Dead letters and quarantine', 'Last 24 hours and retries'],
    );
    // The first tab is what Superset loads at once: at most 5 charts, with the headline panels.
    const first = (tabs[0]?.chartUuids ?? []).map((u) => names.get(u));
    assert.ok(first.length <= 5, `${first.length} charts on the first tab`);
    for (const panel of ['Events per stage', 'Quarantine backlog', 'Workflow outcomes by provider']) {
      assert.ok(first.includes(panel), `the Overview tab lacks "${panel}"`);
    }
    // Superset's page asks for each shown dataset's drill_info beside the chart requests (6 connections per host).
    const charts = new Map([...parsed.charts.values()].map((c) => [c.uuid, c]));
    const firstDatasets = new Set((tabs[0]?.chartUuids ?? []).map((u) => charts.get(u)?.dataset_uuid));
    assert.ok(firstDatasets.size <= 3, `the Overview tab reads ${firstDatasets.size} datasets`);
    const inTabs = tabs.flatMap((t) => t.chartUuids);
    assert.deepEqual(inTabs, dashboardChartUuids(ops), 'a chart outside a tab, or in two');
    const flat = flattenTabs(ops.position as Record<string, unknown>);
    assert.deepEqual(dashboardChartUuids({ position: flat }), dashboardChartUuids(ops));
    assert.deepEqual(layoutTabs({ position: flat }), []);
    const nodes = Object.values(flat) as { type?: string; parents?: string[] }[];
    assert.ok(!nodes.some((n) => n?.type === 'TABS' || n?.type === 'TAB'));
    for (const n of nodes.filter((x) => x?.type === 'ROW' || x?.type === 'CHART')) {
      assert.deepEqual(n.parents?.slice(0, 2), ['ROOT_ID', 'GRID_ID']);
    }
  });

  test('a layout without tabs has no tabs, and flattening it changes nothing but the root', () => {
    const rev = [...parsed.dashboards.values()].find((d) => d.slug === 'revenue');
    assert.ok(rev);
    assert.deepEqual(layoutTabs(rev), []);
    const flat = flattenTabs(rev.position as Record<string, unknown>);
    assert.deepEqual(flat, rev.position);
  });

  test('Revenue, Payments, Fraud and the ML scores read the dbt gold marts on DuckDB; Fraud shows precision and recall', () => {
    const datasets = new Map([...parsed.datasets.values()].map((d) => [d.uuid, d]));
    const chartsOf = (slug: string) => {
      const d = [...parsed.dashboards.values()].find((x) => x.slug === slug);
      assert.ok(d, slug);
      return dashboardChartUuids(d).map((u) => [...parsed.charts.values()].find((c) => c.uuid === u));
    };
    const martsRead = new Set<string>();
    const onMarts = (chart: Record<string, unknown> | undefined) => {
      const ds = datasets.get(chart?.dataset_uuid as string);
      if (ds?.database_uuid !== DATABASE_UUIDS.marts) return false;
      for (const m of String(ds.sql).matchAll(/\bgold\.(\w+)/g)) martsRead.add(m[1] as string);
      return true;
    };
    for (const slug of ['revenue', 'payments', 'fraud']) {
      for (const c of chartsOf(slug)) assert.ok(onMarts(c), `${slug} / ${c?.slice_name} does not read the marts`);
    }
    // ML: the model scores from the marts; feature drift stays on PostgreSQL (the churn features are not in the lake).
    for (const c of chartsOf('ml')) {
      const drift = /drift|feature means/i.test(String(c?.slice_name));
      assert.equal(onMarts(c), !drift, `ml / ${c?.slice_name}`);
    }
    const fraud = new Map(chartsOf('fraud').map((c) => [c?.slice_name, c]));
    const quality = datasets.get(fraud.get('Alert precision and recall (simulated traffic)')?.dataset_uuid as string);
    assert.match(String(quality?.sql), /\bgold\.fraud_alert_quality\b/);
    // What the tests' and the bench's dbt build must publish (buildMarts checks exactly these).
    assert.deepEqual([...martsRead].sort(), [...DASHBOARD_MARTS].sort());
  });
});

describe('parseBundle', () => {
  const base = readBundle();
  test('rejects a dataset on a database the platform does not register, naming the file', () => {
    const files = new Map(base);
    const [path, text] = [...files].find(([p]) => p.startsWith('datasets/')) as [string, string];
    files.set(path, text.replace(/^database_uuid: .*$/m, 'database_uuid: 00000000-0000-4000-8000-000000000000'));
    assert.throws(
      () => parseBundle(files, databases),
      (err: Error) => err instanceof BundleError && err.message.includes(path),
    );
  });

  test('rejects a chart whose dataset is not in the bundle and a file that is not YAML', () => {
    const files = new Map(base);
    const [path] = [...files].find(([p]) => p.startsWith('datasets/')) as [string, string];
    files.delete(path);
    assert.throws(() => parseBundle(files, databases), /is not in the bundle/);
    assert.throws(() => parseBundle(new Map([['charts/x.yaml', 'a: [unclosed']]), databases), /not valid YAML/);
  });
});

describe('importZip', () => {
  test('adds one file per database with a masked URI, the passwords apart, and an "assets" metadata file', () => {
    const { zip, passwords } = importZip(readBundle(), databases);
    const entries = unzipSync(zip);
    const names = Object.keys(entries);
    assert.ok(names.every((n) => n.startsWith('pep_dashboards/')));
    const metadata = parse(strFromU8(entries['pep_dashboards/metadata.yaml'] as Uint8Array));
    assert.equal(metadata.type, 'assets');
    assert.equal(typeof metadata.timestamp, 'string');
    const ops = strFromU8(entries['pep_dashboards/databases/operations.yaml'] as Uint8Array);
    assert.ok(!ops.includes('secret-pw'), 'the password is not in the database file');
    assert.match(ops, /postgresql\+psycopg2:\/\/payments:XXXXXXXXXX@127\.0\.0\.1:5432\/payments/);
    assert.deepEqual(passwords, { 'databases/operations.yaml': 'secret-pw' });
  });

  test('the digest changes with a database password and with a bundle file, not otherwise', () => {
    const files = readBundle();
    const d1 = bundleDigest(files, databases);
    assert.equal(bundleDigest(readBundle(), databases), d1);
    const other = [
      postgresTarget('postgres://payments:another@127.0.0.1:5432/payments'),
      duckdbTarget('/tmp/marts.duckdb'),
    ];
    assert.notEqual(bundleDigest(files, other), d1);
    const changed = new Map(files);
    const [path, text] = [...changed][0] as [string, string];
    changed.set(path, `${text}\n# edited\n`);
    assert.notEqual(bundleDigest(changed, databases), d1);
  });
});

describe('normalizeExport', () => {
  /** A small export in Superset's layout: local ids 41/42, a query context, a dataset on an unknown database. */
  function exportZip(): Uint8Array {
    const root = 'assets_export_20260101T000000';
    const dataset = (uuid: string, db: string, name: string) =>
      stringify({ table_name: name, uuid, database_uuid: db, sql: 'SELECT 1 AS x', columns: [], metrics: [] });
    const chart = (uuid: string, ds: string, name: string) =>
      stringify({
        slice_name: name,
        viz_type: 'table',
        uuid,
        dataset_uuid: ds,
        params: { viz_type: 'table', slice_id: 41, datasource: '7__table', metrics: ['count'] },
        query_context: '{"datasource":{"id":7,"type":"table"}}',
      });
    const dashboard = stringify({
      dashboard_title: 'Ops',
      slug: 'ops',
      uuid: 'd0000000-0000-4000-8000-000000000001',
      position: {
        ROOT_ID: { id: 'ROOT_ID', type: 'ROOT', children: ['GRID_ID'] },
        GRID_ID: { id: 'GRID_ID', type: 'GRID', children: ['CHART-b', 'CHART-a'] },
        'CHART-a': {
          id: 'CHART-a',
          type: 'CHART',
          meta: { chartId: 41, uuid: 'c0000000-0000-4000-8000-00000000000a' },
        },
        'CHART-b': {
          id: 'CHART-b',
          type: 'CHART',
          meta: { chartId: 42, uuid: 'c0000000-0000-4000-8000-00000000000b' },
        },
      },
      metadata: {
        expanded_slices: { '41': true },
        timed_refresh_immune_slices: [42],
        chart_configuration: { '41': { id: 41, crossFilters: { scope: { excluded: [42] }, chartsInScope: [42] } } },
        shared_label_colors: ['stripe'],
        map_label_colors: { stripe: '#fff' },
      },
    });
    const files: Record<string, Uint8Array> = {
      [`${root}/metadata.yaml`]: strToU8('version: 1.0.0\ntype: assets\n'),
      [`${root}/databases/Operations.yaml`]: strToU8(stringify({ uuid: DATABASE_UUIDS.operations })),
      [`${root}/datasets/Operations/ops_7.yaml`]: strToU8(
        dataset('e0000000-0000-4000-8000-000000000001', DATABASE_UUIDS.operations, 'Ops Events'),
      ),
      [`${root}/datasets/Other/x_9.yaml`]: strToU8(
        dataset('e0000000-0000-4000-8000-000000000002', '99999999-0000-4000-8000-000000000000', 'x'),
      ),
      [`${root}/charts/A_41.yaml`]: strToU8(
        chart('c0000000-0000-4000-8000-00000000000a', 'e0000000-0000-4000-8000-000000000001', 'A chart'),
      ),
      [`${root}/charts/B_42.yaml`]: strToU8(
        chart('c0000000-0000-4000-8000-00000000000b', 'e0000000-0000-4000-8000-000000000001', 'B chart'),
      ),
      [`${root}/charts/C_43.yaml`]: strToU8(
        chart('c0000000-0000-4000-8000-00000000000c', 'e0000000-0000-4000-8000-000000000002', 'C chart'),
      ),
      [`${root}/dashboards/Ops_3.yaml`]: strToU8(dashboard),
    };
    return zipSync(files);
  }

  const { files, skipped } = normalizeExport(exportZip(), databases);

  test('keeps assets on the platform databases under content-derived names, drops databases', () => {
    assert.deepEqual(
      [...files.keys()],
      ['charts/a_chart.yaml', 'charts/b_chart.yaml', 'dashboards/ops.yaml', 'datasets/operations/ops_events.yaml'],
    );
    assert.equal(skipped.length, 2, skipped.join('\n'));
    assert.ok(skipped.some((s) => s.includes('datasets/Other/x_9.yaml')));
    assert.ok(skipped.some((s) => s.includes('charts/C_43.yaml')));
  });

  test('strips the machine-local parts of a chart', () => {
    const chart = parse(files.get('charts/a_chart.yaml') as string);
    assert.equal(chart.query_context, null);
    assert.deepEqual(chart.params, { viz_type: 'table', metrics: ['count'] });
  });

  test('renumbers chart ids 1..n in layout order everywhere in the dashboard, and drops view-time colours', () => {
    const d = parse(files.get('dashboards/ops.yaml') as string);
    // Layout order: CHART-b (42) first, then CHART-a (41).
    assert.equal(d.position['CHART-b'].meta.chartId, 1);
    assert.equal(d.position['CHART-a'].meta.chartId, 2);
    assert.deepEqual(d.metadata.expanded_slices, { '2': true });
    assert.deepEqual(d.metadata.timed_refresh_immune_slices, [1]);
    assert.deepEqual(d.metadata.chart_configuration, { '2': { id: 2, crossFilters: { scope: { excluded: [1] } } } });
    assert.equal(d.metadata.shared_label_colors, undefined);
    assert.equal(d.metadata.map_label_colors, undefined);
  });

  test('is stable: the same export twice gives the same files', () => {
    assert.deepEqual([...normalizeExport(exportZip(), databases).files], [...files]);
  });
});
