/**
 * The lake sink itself on an S3 warehouse: the real sink process (pipeline/src/lake-sink/main.ts, the addon built with
 * its `s3` feature) reads a private Kafka topic and writes Iceberg tables whose data and metadata are objects in the
 * stack's S3-compatible server (the optional `s3` service, moto), registered in the platform's SQL catalog in
 * PostgreSQL (catalog `pep`, a private namespace via LAKE_SINK_NAMESPACE). Configured only through the environment a
 * deployment sets (LAKE_WAREHOUSE=s3://…, AWS_ENDPOINT_URL_S3, AWS_REGION, LAKE_S3_PATH_STYLE, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY). Then DuckDB through the platform's own `npm run query` path and Trino (iceberg JDBC catalog
 * on the native S3 file system) read the same table and agree with what was produced, per currency, to the minor unit.
 * Needs Kafka, PostgreSQL and s3 (started here when down), Java 24+ for Trino; builds the s3 addon when not cached
 * (minutes cold).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_DATABASE_URL, LAKE_CATALOG_NAME, SERVICE_DEFAULTS, serviceAddresses } from '@pep/contracts';
import { objectStoreConfig } from '@pep/contracts/object-store';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import { trinoQuery } from '@pep/lakehouse/trino';
import { ICEBERG_REST_URI, localS3Env, s3Python, startService } from '@pep/stack';
import { REPO_ROOT } from '@pep/stack/paths';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { platformJdbc, startTrinoOnS3, type TrinoServer } from '../../src/trino-s3.ts';
import { LAKE_S3_HELPER, s3ClientOf } from './lake-python.ts';

const run = `r${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const BUCKET = SERVICE_DEFAULTS.s3.bucket;
const namespace = `sink_s3_${run}`;
const table = `${namespace}.payment_events`;
const warehouse = `s3://${BUCKET}/sink-check/${run}`;
const topic = `t-sink-s3-${run}.payments.normalized`;
const group = `t-sink-s3-${run}.lake-sink`;
const N = 300;
const CURRENCIES = ['USD', 'JPY', 'KWD'] as const;

/** The environment a deployment would set; the sink and the query CLI get nothing else. */
const env: NodeJS.ProcessEnv = {
  ...process.env,
  ...localS3Env(),
  LAKE_WAREHOUSE: warehouse,
  LAKE_CATALOG_NAME: LAKE_CATALOG_NAME,
  LAKE_SINK_NAMESPACE: namespace,
  LAKE_SINK_TOPICS: topic,
  LAKE_SINK_GROUP_ID: group,
  LAKE_SINK_COMMIT_INTERVAL_MS: '500',
  LAKE_SINK_OUTCOMES: 'false',
  LAKE_SINK_METRICS_PORT: '0',
  PIPELINE_LOG_LEVEL: 'warn',
};
const store = objectStoreConfig(env);
const kafka = new Kafka({
  clientId: 'lake-sink-s3-test',
  brokers: [...serviceAddresses().kafkaBrokers],
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();

/** Per currency: [events, sum of amount_minor]. */
const expected: Record<string, [number, number]> = {};
const events = Array.from({ length: N }, (_, i) => {
  const currency = CURRENCIES[i % 3] as string;
  const amount = 1000 + i * 7919;
  const [count, sum] = expected[currency] ?? [0, 0];
  expected[currency] = [count + 1, sum + amount];
  return {
    key: `stripe:evt_${run}_${i}`,
    value: JSON.stringify({
      event_id: `stripe:evt_${run}_${i}`,
      provider: 'stripe',
      provider_event_id: `evt_${run}_${i}`,
      event_type: 'payment.succeeded',
      amount_minor: amount,
      currency,
      received_at: new Date(Date.UTC(2026, 10, 25) + i * 1000).toISOString(),
      schema_version: 1,
    }),
  };
});

const totalsSql = (t: string) =>
  `SELECT currency, count(*) AS n, sum(amount_minor) AS s FROM ${t} GROUP BY 1 ORDER BY 1`;
const totalsOf = (rows: Record<string, unknown>[]) =>
  Object.fromEntries(rows.map((r) => [String(r.currency), [Number(r.n), Number(r.s)]]));

function tsx(script: string, args: string[], cwd = REPO_ROOT) {
  return spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { cwd, env, encoding: 'utf8' });
}

before(async () => {
  const log = (m: string) => console.log(`# ${m}`);
  await startService('postgres', log);
  await startService('kafka', log);
  await startService('s3', log);
  // The addon with S3 support (opendal): its own cache key; a cold build takes minutes, a cached one a second.
  const built = spawnSync('npm', ['run', '-s', 'build:lake', '-w', '@pep/core-native'], {
    cwd: REPO_ROOT,
    env: { ...process.env, PEP_LAKE_FEATURES: 's3' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  assert.equal(built.status, 0, 'the lake addon with the s3 feature builds');
  await admin.connect();
  await createTopicsAndWait(admin, [{ topic, numPartitions: 3 }]);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: events });
  await producer.disconnect();
});

after(async () => {
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.deleteGroups([group]).catch(() => undefined);
  await admin.disconnect();
  const db = new pg.Client({ connectionString: DEFAULT_DATABASE_URL });
  await db.connect();
  await db.query('DELETE FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2', [
    LAKE_CATALOG_NAME,
    namespace,
  ]);
  await db.query('DELETE FROM iceberg_namespace_properties WHERE catalog_name = $1 AND namespace = $2', [
    LAKE_CATALOG_NAME,
    namespace,
  ]);
  await db.end();
});

describe('the lake sink on an S3 warehouse', () => {
  test('the sink commits every record of the topic into the S3 warehouse', async () => {
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/lake-sink/main.ts'], {
      cwd: join(REPO_ROOT, 'pipeline'),
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code, signal) => r(signal ? -1 : code)));
    try {
      // The sink commits the group's offsets right after each table commit: at the end offsets, every record is in.
      const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.high]));
      const deadline = Date.now() + 180_000;
      for (;;) {
        const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
        if (t?.partitions.every((p) => p.offset === ends.get(p.partition))) break;
        if (child.exitCode !== null) assert.fail(`the sink exited (${child.exitCode}) before committing everything`);
        if (Date.now() > deadline) assert.fail(`the sink did not commit everything: ${JSON.stringify(t)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, 'the sink stops cleanly on SIGTERM');

    // The table is registered in the catalog with its metadata in the bucket, and its objects are there.
    const db = new pg.Client({ connectionString: DEFAULT_DATABASE_URL });
    await db.connect();
    const { rows } = await db.query(
      'SELECT metadata_location FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3',
      [LAKE_CATALOG_NAME, namespace, 'payment_events'],
    );
    await db.end();
    assert.match(String(rows[0]?.metadata_location), new RegExp(`^s3://${BUCKET}/sink-check/${run}/`));
    const listed = spawnSync(
      s3Python(),
      [
        LAKE_S3_HELPER,
        'list',
        JSON.stringify({
          client: s3ClientOf(store),
          bucket: BUCKET,
          prefix: `sink-check/${run}/`,
        }),
      ],
      { encoding: 'utf8', env },
    );
    const keys = (JSON.parse(listed.stdout.trim().split('\n').pop() ?? '{}') as { keys?: string[] }).keys ?? [];
    assert.ok(
      keys.some((k) => k.endsWith('.parquet')),
      `Parquet objects under sink-check/${run}/: ${keys.join(', ')}`,
    );
    assert.ok(
      keys.some((k) => k.endsWith('.metadata.json')),
      'table metadata in the bucket',
    );
  });

  test('DuckDB reads it through `npm run query`, to the minor unit', () => {
    const res = tsx(join('lakehouse', 'src', 'query-cli.ts'), [totalsSql(table), '--json']);
    assert.equal(res.status, 0, res.stderr);
    const answer = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as { rows: Record<string, unknown>[] };
    assert.deepEqual(totalsOf(answer.rows), expected);
  });

  describe('Trino', () => {
    let trino: TrinoServer | null = null;
    const port = 18086;
    before(async () => {
      trino = await startTrinoOnS3({ port, store, restUri: ICEBERG_REST_URI, jdbc: platformJdbc(warehouse) }, (m) =>
        console.log(`# ${m}`),
      );
    });
    after(async () => {
      await trino?.stop();
    });

    test('Trino reads the same table from S3, to the minor unit', async () => {
      const answer = await trinoQuery(`http://127.0.0.1:${port}`, totalsSql(`iceberg_jdbc.${table}`));
      assert.deepEqual(totalsOf(answer.rows), expected);
    });
  });
});
