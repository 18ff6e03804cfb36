/**
 * The lake on S3-compatible object storage and behind an Iceberg REST catalog, configured only through the
 * environment (AWS_ENDPOINT_URL_S3, AWS_REGION, LAKE_S3_PATH_STYLE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, read by
 * contracts/src/object-store.ts): pyiceberg writes through Iceberg's SQL catalog in PostgreSQL (the JDBC layout the
 * platform uses) and through the REST catalog; DuckDB (its httpfs and iceberg extensions from PyPI wheels) and dbt-duckdb
 * read and write the same objects, and the totals agree to the minor unit. Real servers: the stack's PostgreSQL, the
 * optional `s3` (moto's server) and `iceberg-rest` (Apache Iceberg's REST fixture) services.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_DATABASE_URL, SERVICE_DEFAULTS } from '@pep/contracts';
import {
  dbtDuckdbS3Settings,
  duckdbS3Secret,
  icebergS3Properties,
  objectStoreConfig,
} from '@pep/contracts/object-store';
import { ICEBERG_REST_URI, localS3Env, s3Python, startService } from '@pep/stack';
import { stringify } from 'yaml';
import { ensureLakeClients, type LakeClients } from '../../src/index.ts';
import { platformJdbc, startTrinoOnS3, type TrinoServer } from '../../src/trino-s3.ts';
import { lakePython } from './lake-python.ts';

const BUCKET = SERVICE_DEFAULTS.s3.bucket;
const run = `r${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

/** The environment a deployment would set; everything below is derived from it. */
const env = { ...process.env, ...localS3Env() };
const store = objectStoreConfig(env);
const s3Props = icebergS3Properties(store);
const jdbc = {
  type: 'sql',
  name: 'pep',
  uri: DEFAULT_DATABASE_URL.replace('postgres://', 'postgresql+psycopg2://'),
  warehouse: `s3://${BUCKET}/deploy-check/${run}/jdbc`,
};
const rest = { type: 'rest', uri: ICEBERG_REST_URI };

/** 600 events in three currencies, with amounts that make every total distinct. */
const rows: [string, string, string, number][] = Array.from({ length: 600 }, (_, i) => [
  `stripe:evt_${run}_${i}`,
  i % 2 ? 'stripe' : 'adyen',
  ['USD', 'JPY', 'KWD'][i % 3] as string,
  1000 + i * 7,
]);
const expected: Record<string, [number, number]> = {};
for (const [, , cur, amount] of rows) {
  const [count, sum] = expected[cur] ?? [0, 0];
  expected[cur] = [count + 1, sum + amount];
}

let clients: LakeClients;

const totalsSql = (source: string) =>
  `SELECT currency, count(*), sum(amount_minor)::BIGINT FROM ${source} GROUP BY 1 ORDER BY 1`;

const py = <T>(command: string, request: unknown, python = clients.python): T =>
  lakePython<T>(python, command, request, env);

const listClient = {
  endpoint_url: store.endpoint,
  region_name: store.region,
  aws_access_key_id: store.accessKeyId,
  aws_secret_access_key: store.secretAccessKey,
};

before(async () => {
  const log = (m: string) => console.log(`# ${m}`);
  await startService('postgres', log);
  await startService('iceberg-rest', log); // starts `s3` first: its warehouse is in the bucket
  clients = await ensureLakeClients(log);
});

describe('Iceberg tables on S3-compatible object storage', () => {
  const written: Record<string, { metadata_location: string; location: string; data_files: string[] }> = {};

  for (const [label, catalog] of [
    ['SQL catalog in PostgreSQL (JDBC layout)', jdbc],
    ['Iceberg REST catalog', rest],
  ] as const) {
    const key = catalog.type;
    const table = `deploy_check_${run}.payment_events_${key}`;

    test(`pyiceberg writes and reads back through the ${label}`, () => {
      const w = py<{ metadata_location: string; location: string; data_files: string[] }>('write', {
        catalog,
        s3: s3Props,
        table,
        rows,
      });
      written[key] = w;
      assert.match(w.metadata_location, new RegExp(`^s3://${BUCKET}/`));
      assert.ok(w.data_files.length > 0 && w.data_files.every((f) => f.startsWith(`s3://${BUCKET}/`)), 'data in S3');
      // The objects are in the store (not on a local disk that happens to share the name).
      const prefix = w.location.replace(`s3://${BUCKET}/`, '');
      // boto3 from the store's own virtualenv (moto depends on it).
      const { keys } = py<{ keys: string[] }>('list', { client: listClient, bucket: BUCKET, prefix }, s3Python());
      assert.ok(
        keys.some((k) => k.endsWith('.parquet')),
        `no Parquet under ${prefix}: ${keys.join(', ')}`,
      );
      assert.ok(
        keys.some((k) => k.endsWith('.metadata.json')),
        'table metadata in S3',
      );
      assert.deepEqual(py<{ totals: unknown }>('read', { catalog, s3: s3Props, table }).totals, expected);
    });

    test(`DuckDB reads the ${label}'s table from S3 with the secret derived from the environment`, () => {
      const w = written[key];
      assert.ok(w, 'written by the previous test');
      const { totals } = py<{ totals: unknown }>('duckdb', {
        extension_directory: clients.extensionDirectory,
        secret_sql: duckdbS3Secret(store),
        sql: totalsSql(`iceberg_scan('${w.metadata_location}')`),
      });
      assert.deepEqual(totals, expected);
    });
  }

  test('DuckDB attaches the REST catalog itself and reads the table by name', () => {
    const { totals } = py<{ totals: unknown }>('duckdb-rest', {
      extension_directory: clients.extensionDirectory,
      secret_sql: duckdbS3Secret(store),
      uri: ICEBERG_REST_URI,
      warehouse: '',
      table: `deploy_check_${run}.payment_events_rest`,
    });
    assert.deepEqual(totals, expected);
  });

  test('dbt-duckdb builds a mart from the S3 table into S3 with the settings derived from the environment', () => {
    const w = written.sql;
    assert.ok(w, 'written by the JDBC test');
    const dir = mkdtempSync(join(tmpdir(), 'pep-dbt-s3-'));
    mkdirSync(join(dir, 'models'));
    const martLocation = `s3://${BUCKET}/deploy-check/${run}/marts/revenue_by_currency.parquet`;
    writeFileSync(
      join(dir, 'dbt_project.yml'),
      stringify({
        name: 'pep_s3_check',
        version: '1.0',
        profile: 'pep_s3_check',
        models: { pep_s3_check: { '+materialized': 'external' } },
      }),
    );
    writeFileSync(
      join(dir, 'profiles.yml'),
      stringify({
        pep_s3_check: {
          target: 'duckdb',
          outputs: {
            duckdb: {
              type: 'duckdb',
              path: ':memory:',
              config_options: {
                extension_directory: clients.extensionDirectory,
                autoinstall_known_extensions: false,
                autoload_known_extensions: true,
              },
              settings: dbtDuckdbS3Settings(store),
            },
          },
        },
      }),
    );
    writeFileSync(
      join(dir, 'models', 'revenue_by_currency.sql'),
      `{{ config(location='${martLocation}') }}\nselect currency, count(*) as events, sum(amount_minor) as amount_minor\nfrom iceberg_scan('${w.metadata_location}')\ngroup by 1\n`,
    );
    const res = spawnSync(clients.dbt, ['run', '--profiles-dir', dir, '--project-dir', dir], {
      encoding: 'utf8',
      env: { ...env, DBT_SEND_ANONYMOUS_USAGE_STATS: 'false' },
      timeout: 300_000,
    });
    assert.equal(res.status, 0, `dbt run failed:\n${res.stdout.slice(-3000)}`);
    const { totals } = py<{ totals: unknown }>('duckdb', {
      extension_directory: clients.extensionDirectory,
      secret_sql: duckdbS3Secret(store),
      sql: `SELECT currency, events, amount_minor FROM read_parquet('${martLocation}') ORDER BY 1`,
    });
    // One row per currency in the mart, equal to bronze to the minor unit.
    assert.deepEqual(totals, expected);
  });
});

describe('Trino on the same objects (native S3 file system; catalogs from the same settings)', () => {
  let trino: TrinoServer | null = null;
  const port = 18085;
  const q = (...sql: string[]) => py<{ rows: unknown[][] }>('trino', { host: '127.0.0.1', port, sql }).rows;
  const totals = (rows: unknown[][]) => Object.fromEntries(rows.map((r) => [r[0], [Number(r[1]), Number(r[2])]]));

  before(async () => {
    trino = await startTrinoOnS3({ port, store, restUri: ICEBERG_REST_URI, jdbc: platformJdbc(jdbc.warehouse) }, (m) =>
      console.log(`# ${m}`),
    );
  });
  after(async () => {
    await trino?.stop();
  });

  for (const catalog of ['iceberg_jdbc', 'iceberg_rest'] as const) {
    test(`Trino reads the table pyiceberg wrote through ${catalog}, to the minor unit`, () => {
      const table = `${catalog}.deploy_check_${run}.payment_events_${catalog === 'iceberg_jdbc' ? 'sql' : 'rest'}`;
      const rows = q(`SELECT currency, count(*), sum(amount_minor) FROM ${table} GROUP BY 1 ORDER BY 1`);
      assert.deepEqual(totals(rows), expected);
    });
  }

  test('Trino writes to the REST catalog on S3 and pyiceberg reads what it wrote', () => {
    const table = `deploy_check_${run}.payment_events_rest`;
    q(`INSERT INTO iceberg_rest.${table} VALUES ('stripe:evt_${run}_trino', 'stripe', 'EUR', 4242)`);
    const back = py<{ totals: Record<string, [number, number]> }>('read', { catalog: rest, s3: s3Props, table }).totals;
    assert.deepEqual(back, { ...expected, EUR: [1, 4242] });
  });

  test('dbt-trino builds a mart into the REST catalog on S3', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pep-dbt-trino-'));
    mkdirSync(join(dir, 'models'));
    const schema = `deploy_check_${run}_marts`;
    writeFileSync(
      join(dir, 'dbt_project.yml'),
      stringify({
        name: 'pep_trino_check',
        version: '1.0',
        profile: 'pep_trino_check',
        models: { pep_trino_check: { '+materialized': 'table' } },
      }),
    );
    writeFileSync(
      join(dir, 'profiles.yml'),
      stringify({
        pep_trino_check: {
          target: 'trino',
          outputs: {
            trino: {
              type: 'trino',
              method: 'none',
              user: 'pep',
              host: '127.0.0.1',
              port,
              database: 'iceberg_rest',
              schema,
              threads: 1,
            },
          },
        },
      }),
    );
    writeFileSync(
      join(dir, 'models', 'revenue_by_currency.sql'),
      `select currency, count(*) as events, sum(amount_minor) as amount_minor\nfrom iceberg_rest.deploy_check_${run}.payment_events_sql_copy\ngroup by 1\n`,
    );
    // The mart's source: a copy of the JDBC-catalog table, made by Trino across the two catalogs.
    q(
      `CREATE TABLE iceberg_rest.deploy_check_${run}.payment_events_sql_copy AS SELECT * FROM iceberg_jdbc.deploy_check_${run}.payment_events_sql`,
    );
    const res = spawnSync(clients.dbt, ['run', '--profiles-dir', dir, '--project-dir', dir], {
      encoding: 'utf8',
      env: { ...env, DBT_SEND_ANONYMOUS_USAGE_STATS: 'false' },
      timeout: 300_000,
    });
    assert.equal(res.status, 0, `dbt run failed:\n${res.stdout.slice(-3000)}`);
    const rows = q(`SELECT currency, events, amount_minor FROM iceberg_rest.${schema}.revenue_by_currency ORDER BY 1`);
    assert.deepEqual(totals(rows), expected);
    const location = q(`SELECT "$path" FROM iceberg_rest.${schema}.revenue_by_currency LIMIT 1`)[0]?.[0];
    assert.match(String(location), new RegExp(`^s3://${BUCKET}/`), 'the mart is in the bucket');
  });
});

describe('object storage misconfigured: a clear error, nothing written', () => {
  test('an endpoint where no store listens', () => {
    const bad = objectStoreConfig({ ...localS3Env(), AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' });
    assert.throws(
      () =>
        py('duckdb', {
          extension_directory: clients.extensionDirectory,
          secret_sql: duckdbS3Secret(bad),
          sql: totalsSql(`read_parquet('s3://${BUCKET}/nothing.parquet')`),
        }),
      /IO Error|HTTP|Connection|Could not establish connection/i,
    );
  });

  test('a bucket that does not exist', () => {
    assert.throws(
      () =>
        py('write', {
          catalog: { ...jdbc, warehouse: `s3://no-such-bucket-${run}/wh` },
          s3: s3Props,
          table: `deploy_check_${run}.nobucket`,
          rows: rows.slice(0, 3),
        }),
      /NoSuchBucket|bucket/i,
    );
  });
});
