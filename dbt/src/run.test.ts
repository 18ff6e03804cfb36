import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LAKE_TABLES } from '@pep/contracts';
import { catalogSettings } from './bronze.ts';
import {
  bronzeEnvironment,
  bronzePinsSchema,
  dbtPaths,
  emptyBronzeRelation,
  errorOf,
  launchDbt,
  parseArgs,
  trinoAddress,
  UsageError,
} from './run.ts';
import { ensureDbtToolchain } from './venv.ts';

test('the target comes from --target, -t, --target=, then DBT_TARGET, then duckdb', () => {
  assert.equal(parseArgs(['build']).target, 'duckdb');
  assert.equal(parseArgs(['build', '--target', 'trino']).target, 'trino');
  assert.equal(parseArgs(['build', '-t', 'trino']).target, 'trino');
  assert.equal(parseArgs(['build', '--target=trino']).target, 'trino');
  assert.equal(parseArgs(['build'], { DBT_TARGET: 'trino' }).target, 'trino');
  assert.equal(parseArgs(['source', 'freshness']).command, 'source');
  assert.throws(() => parseArgs(['build', '--target', 'snowflake']), UsageError);
});

test('each bronze table is read at its snapshot; a table without one reads as empty with the contract columns', () => {
  const snap = {
    metadata_location: "file:///w/it's/payment_events/metadata/00001.metadata.json",
    snapshot_id: '9007199254740993123',
    snapshot_ms: 1,
    summary: { 'pep.kafka.offsets': '{"payments.normalized":{"0":10}}' },
    total_records: 42,
  };
  const { env, reads } = bronzeEnvironment(
    { payment_events: snap, payment_outcomes: null, validation_dlq: null, webhook_events: null },
    'duckdb',
  );
  // 64-bit ids travel as text: no rounding to a JavaScript number
  assert.equal(env.DBT_BRONZE_PAYMENT_EVENTS_SNAPSHOT, '9007199254740993123');
  assert.equal(
    env.DBT_BRONZE_PAYMENT_EVENTS_SCAN,
    "iceberg_scan('file:///w/it''s/payment_events/metadata/00001.metadata.json', snapshot_from_id => 9007199254740993123)",
  );
  assert.match(env.DBT_BRONZE_PAYMENT_OUTCOMES_MISSING ?? '', /^select cast\(null as varchar\) as event_id, /);
  assert.match(env.DBT_BRONZE_PAYMENT_OUTCOMES_SCAN ?? '', /where 1 = 0\)$/);
  const recorded = JSON.parse(env.DBT_BRONZE_READS ?? '[]') as { table: string; snapshot_id: string | null }[];
  assert.deepEqual(
    recorded.map((r) => [r.table, r.snapshot_id]),
    [
      ['webhook_events', null],
      ['payment_events', '9007199254740993123'],
      ['validation_dlq', null],
      ['payment_outcomes', null],
    ],
  );
  assert.equal(reads.find((r) => r.table === 'payment_events')?.kafka_offsets, snap.summary['pep.kafka.offsets']);
});

test('a command that runs the hooks reads each bronze table through a table macro with a stable name (no re-parse)', () => {
  const snap = (id: string) => ({
    metadata_location: `file:///w/payment_events/metadata/0000${id}.metadata.json`,
    snapshot_id: id,
    snapshot_ms: 1,
    summary: {},
    total_records: 1,
  });
  const at = (id: string) =>
    bronzeEnvironment(
      { payment_events: snap(id), payment_outcomes: null, validation_dlq: null, webhook_events: null },
      'duckdb',
      { schema: bronzePinsSchema({ DBT_SCHEMA_PREFIX: 't1_' }) },
    ).env;
  const [a, b] = [at('1'), at('2')];
  assert.equal(a.DBT_BRONZE_PINS_SCHEMA, 't1_bronze_pins');
  // what dbt parses (the sources' external_location) is the same for both snapshots
  assert.equal(a.DBT_BRONZE_PAYMENT_EVENTS_SCAN, '"t1_bronze_pins"."payment_events"()');
  assert.equal(b.DBT_BRONZE_PAYMENT_EVENTS_SCAN, a.DBT_BRONZE_PAYMENT_EVENTS_SCAN);
  assert.equal(b.DBT_BRONZE_PAYMENT_OUTCOMES_SCAN, '"t1_bronze_pins"."payment_outcomes"()');
  // the hook defines the macros as the pinned scans, read only when it runs
  assert.equal(
    b.DBT_BRONZE_PAYMENT_EVENTS_PIN,
    "iceberg_scan('file:///w/payment_events/metadata/00002.metadata.json', snapshot_from_id => 2)",
  );
  assert.match(
    b.DBT_BRONZE_PAYMENT_OUTCOMES_PIN ?? '',
    /^\(select cast\(null as varchar\) as event_id, .* where 1 = 0\)$/,
  );
  // Trino reads the tables themselves (FOR VERSION AS OF in bronze()): nothing for external_location
  const trino = bronzeEnvironment(
    { payment_events: snap('1'), payment_outcomes: null, validation_dlq: null, webhook_events: null },
    'trino',
    { schema: 'x' },
  ).env;
  assert.equal(trino.DBT_BRONZE_PAYMENT_EVENTS_SNAPSHOT, '1');
  assert.deepEqual(
    Object.keys(trino).filter((k) => /_(SCAN|PIN|PINS_SCHEMA)$/.test(k)),
    [],
  );
});

test('an empty bronze relation has every contract column with the target type', () => {
  const duck = emptyBronzeRelation('payment_events', 'duckdb');
  const trino = emptyBronzeRelation('payment_events', 'trino');
  for (const c of LAKE_TABLES.payment_events.columns) assert.match(duck, new RegExp(` as ${c.name}(,|$| )`));
  assert.match(duck, /cast\(null as timestamptz\) as received_at/);
  assert.match(trino, /cast\(null as timestamp\(6\) with time zone\) as received_at/);
  assert.match(emptyBronzeRelation('webhook_events', 'trino'), /cast\(null as varbinary\) as body/);
});

test('paths and addresses come from the environment with local defaults', () => {
  assert.match(dbtPaths({}).duckdbPath, /\.stack\/dbt\/dbt\.duckdb$|dbt\/dbt\.duckdb$/);
  assert.equal(dbtPaths({ DBT_MARTS_DUCKDB: '/m.duckdb' }).martsPath, '/m.duckdb');
  assert.deepEqual(trinoAddress({}), { scheme: 'http', host: '127.0.0.1', port: 8085, url: 'http://127.0.0.1:8085' });
  assert.equal(trinoAddress({ TRINO_URL: 'https://trino.example:8443/' }).port, 8443);
  const c = catalogSettings({ LAKE_CATALOG_URL: 'postgres://u:p%40ss@db:5433/lake', LAKE_WAREHOUSE: '/data/wh' });
  assert.equal(c.uri, 'postgresql+psycopg2://u:p%40ss@db:5433/lake');
  assert.equal(c.warehouse, 'file:///data/wh');
  assert.equal(c.name, 'pep');
  assert.throws(() => catalogSettings({ LAKE_CATALOG_URL: 'mysql://x/y' }), /PostgreSQL/);
});

test("a failure outside any node is reported with dbt's own message", () => {
  const out = [
    '12:00:00  Running with dbt=1.11.16',
    '12:00:01  Encountered an error:',
    '  bronze table payment_events was re-created (table uuid b; this warehouse was built from a): rebuild',
    '12:00:01  Done. PASS=0 WARN=0 ERROR=1',
  ].join('\n');
  assert.equal(
    errorOf(out),
    'Encountered an error:\n  bronze table payment_events was re-created (table uuid b; this warehouse was built from a): rebuild',
  );
  assert.equal(errorOf('12:00:00  Running with dbt=1.11.16\n12:00:01  Done.'), undefined);
  assert.equal(errorOf(`Error: ${'x'.repeat(5000)}`)?.length, 2001);
});

test('dbt started ahead runs with the arguments once it has its environment, and an aborted one runs nothing', async () => {
  const tools = await ensureDbtToolchain(() => {});
  let output = '';
  const early = launchDbt(
    tools,
    'duckdb',
    ['--version'],
    process.env,
    (c) => {
      output += c;
    },
    () => {},
  );
  const r = await early.start({ DBT_PEP_LAUNCH_TEST: '1' });
  assert.equal(r.code, 0, r.tail);
  assert.match(output, /Core:[\s\S]*installed: +1\.11\./);

  let aborted = '';
  const never = launchDbt(
    tools,
    'duckdb',
    ['--version'],
    process.env,
    (c) => {
      aborted += c;
    },
    () => {},
  );
  const ended = await never.abort();
  assert.notEqual(ended.code, 0);
  assert.equal(aborted, '', 'an aborted launch must not run dbt');
  assert.throws(() => never.start({}), /started or aborted already/);
});
