/**
 * The platform's own lake writer (LakeWriter, the Rust addon with its `s3` feature) behind an Iceberg REST catalog,
 * configured only through the environment a deployment sets (LAKE_CATALOG_TYPE=rest, LAKE_CATALOG_URI,
 * LAKE_CATALOG_CREDENTIAL, LAKE_WAREHOUSE=s3://…, AWS_ENDPOINT_URL_S3 & co.): the stack's `iceberg-rest` service
 * (Apache Iceberg's REST fixture) with its warehouse in the `s3` service's bucket (moto). A batch is written and
 * committed with its Kafka cursors in the snapshot summary, then read back by other clients through the same REST
 * catalog (pyiceberg, DuckDB attached to the catalog). Exactly once: a second writer holding the same records with a
 * stale expected cursor is refused and leaves nothing behind; two writers racing for the same records land once (the
 * catalog's commit requirements, table UUID and current snapshot, refuse the loser's swap). A wrong catalog URI is a
 * clear error. Needs Java (the fixture) and the lake addon built with `s3` (the default; minutes cold).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { LAKE_TABLES, PROVIDERS, TRINO_CATALOG } from '@pep/contracts';
import { duckdbS3Secret, icebergS3Properties, objectStoreConfig } from '@pep/contracts/object-store';
import { TableBatchBuilder } from '@pep/lakehouse/arrow';
import { loadLakeConfig } from '@pep/lakehouse/config';
import { runQuery } from '@pep/lakehouse/query';
import { type LakeError, LakeWriter } from '@pep/lakehouse/writer';
import {
  ICEBERG_REST_URI,
  icebergRestWarehouse,
  localS3Env,
  s3Python,
  startService,
  trinoConfigFiles,
  trinoLauncherPidFile,
} from '@pep/stack';
import { ensureLakeClients, type LakeClients } from '../../src/index.ts';
import { startTestTrino, testTrinoDirs } from '../../src/trino-s3.ts';
import { lakePython, s3ClientOf } from './lake-python.ts';

const run = `r${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const namespace = `lake_rest_${run}`;
const table = Object.freeze({ ...LAKE_TABLES.payment_events, qualifiedName: `${namespace}.payment_events` });
const name = table.qualifiedName;
const KEY = 'pep.kafka.offsets';
const CURSOR = `t-${run}.payments.normalized:0`;
const BUCKET = icebergRestWarehouse()
  .replace(/^s3:\/\//, '')
  .split('/')[0] as string;
/** A client credential the fixture accepts (it issues a token for any client); the test proves it never leaks. */
const CREDENTIAL = `pep-lake-test:secret-${run}`;

/** The environment a deployment with a REST catalog sets; the writer gets nothing else. */
const env: NodeJS.ProcessEnv = {
  ...process.env,
  ...localS3Env(),
  LAKE_CATALOG_TYPE: 'rest',
  LAKE_CATALOG_URI: ICEBERG_REST_URI,
  LAKE_CATALOG_CREDENTIAL: CREDENTIAL,
  LAKE_WAREHOUSE: icebergRestWarehouse(),
};
const store = objectStoreConfig(env);
const restCatalog = { type: 'rest', uri: ICEBERG_REST_URI };

const CURRENCIES = ['USD', 'JPY', 'KWD'] as const;
function event(i: number) {
  const provider = PROVIDERS[i % PROVIDERS.length] as string;
  const at = Date.UTC(2026, 10, 20 + (i % 3), 12) + i;
  return {
    kafka_topic: 'payments.normalized',
    kafka_partition: 0,
    kafka_offset: BigInt(i),
    kafka_timestamp: at,
    event_id: `${provider}:evt_${run}_${i}`,
    provider,
    provider_event_id: `evt_${run}_${i}`,
    event_type: 'payment.succeeded',
    merchant_id: `mer_${i % 7}`,
    customer_id: `cus_${i % 11}`,
    amount_minor: 1000 + i * 7919,
    currency: CURRENCIES[i % 3] as string,
    received_at: at,
    schema_version: 1,
  };
}

function ipcOf(from: number, to: number): Uint8Array {
  const b = new TableBatchBuilder(table);
  for (let i = from; i < to; i++) b.append(event(i) as never);
  return b.finishIpc();
}

function totalsOf(from: number, to: number): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (let i = from; i < to; i++) {
    const e = event(i);
    const [n, sum] = out[e.currency] ?? [0, 0];
    out[e.currency] = [n + 1, sum + e.amount_minor];
  }
  return out;
}

let clients: LakeClients;

const py = <T>(command: string, request: unknown, python = clients.python): T =>
  lakePython<T>(python, command, request, env);

/** pyiceberg through the REST catalog: the per-currency totals of the table. */
const readTotals = () =>
  py<{ totals: Record<string, [number, number]> }>('read', {
    catalog: restCatalog,
    s3: icebergS3Properties(store),
    table: name,
  }).totals;

const snapshots = () =>
  py<{
    current: number | null;
    snapshots: { id: number; parent: number | null; operation: string | null; summary: Record<string, string> }[];
  }>('snapshots', { catalog: restCatalog, s3: icebergS3Properties(store), table: name });

/** Object keys under the table's location in the bucket (boto3 from the store's own virtualenv). */
function objectKeys(location: string): string[] {
  const prefix = location.replace(`s3://${BUCKET}/`, '');
  return py<{ keys: string[] }>(
    'list',
    {
      client: s3ClientOf(store),
      bucket: BUCKET,
      prefix,
    },
    s3Python(),
  ).keys;
}

const N = 90;
let writer: LakeWriter;
let location = '';

before(async () => {
  const log = (m: string) => console.log(`# ${m}`);
  await startService('iceberg-rest', log); // starts `s3` first: its warehouse is in the bucket
  clients = await ensureLakeClients(log);
  writer = await LakeWriter.open(loadLakeConfig(env));
});

describe('the lake writer on an Iceberg REST catalog (LAKE_CATALOG_TYPE=rest)', () => {
  test('writes and commits a batch with its cursors; pyiceberg and DuckDB read it back through the catalog', async () => {
    assert.equal(writer.config.catalogType, 'rest');
    const info = await writer.ensureTable(table, KEY);
    assert.equal(info.snapshotId, null);
    assert.match(info.location, new RegExp(`^s3://${BUCKET}/`), 'the catalog placed the table in the bucket');
    location = info.location;
    const w = await writer.write(name, ipcOf(0, N), 'rest-writer-a');
    assert.equal(w.rows, N);
    assert.ok(w.files.every((f) => f.startsWith(`s3://${BUCKET}/`) && f.includes('/rest-writer-a-')));
    const c = await writer.commit(w.handle, {
      cursorKey: KEY,
      expected: { [CURSOR]: null },
      next: { [CURSOR]: String(N) },
      writer: 'rest-writer-a',
    });
    assert.equal(c.alreadyCommitted, false);
    assert.deepEqual(c.cursors, { [CURSOR]: String(N) });
    assert.deepEqual((await writer.tableInfo(name, KEY)).cursors, { [CURSOR]: String(N) });

    // Another client, through the catalog: the snapshot carries the cursors, the rows are all there.
    const s = snapshots();
    assert.equal(s.snapshots.length, 1);
    assert.equal(s.current, c.snapshotId);
    assert.equal(s.snapshots[0]?.summary[KEY], JSON.stringify({ [CURSOR]: String(N) }));
    assert.equal(s.snapshots[0]?.summary['pep.writer'], 'rest-writer-a');
    assert.deepEqual(readTotals(), totalsOf(0, N));
    const keys = objectKeys(location);
    assert.ok(keys.some((k) => k.endsWith('.parquet')) && keys.some((k) => k.endsWith('.metadata.json')));

    const { totals } = py<{ totals: unknown }>('duckdb-rest', {
      extension_directory: clients.extensionDirectory,
      secret_sql: duckdbS3Secret(store),
      uri: ICEBERG_REST_URI,
      warehouse: '',
      table: name,
    });
    assert.deepEqual(totals, totalsOf(0, N));
  });

  test('a second writer with a stale expected cursor is refused and leaves nothing behind', async () => {
    const other = await LakeWriter.open(loadLakeConfig(env));
    const before = snapshots();
    const w = await other.write(name, ipcOf(0, N), 'rest-writer-b');
    await assert.rejects(
      other.commit(w.handle, {
        cursorKey: KEY,
        expected: { [CURSOR]: null },
        next: { [CURSOR]: String(N) },
        writer: 'rest-writer-b',
      }),
      (e: LakeError) =>
        e.code === 'COMMIT_CONFLICT' &&
        e.message.includes(`the table is at ${N}`) &&
        e.message.includes('nothing was appended'),
    );
    assert.equal(await other.abort(w.handle), w.files.length);
    const keys = objectKeys(location);
    assert.ok(!keys.some((k) => k.includes('/rest-writer-b-')), `writer b's files are gone: ${keys.join(', ')}`);
    assert.deepEqual(snapshots(), before, 'no snapshot was added');
    assert.deepEqual(readTotals(), totalsOf(0, N), 'nothing duplicated');
  });

  test('two writers racing for the same records: exactly one commit lands', async () => {
    const [a, b] = await Promise.all([LakeWriter.open(loadLakeConfig(env)), LakeWriter.open(loadLakeConfig(env))]);
    const wa = await a.write(name, ipcOf(N, 2 * N), 'rest-race-a');
    const wb = await b.write(name, ipcOf(N, 2 * N), 'rest-race-b');
    const claim = (writerName: string) => ({
      cursorKey: KEY,
      expected: { [CURSOR]: String(N) },
      next: { [CURSOR]: String(2 * N) },
      writer: writerName,
    });
    const results = await Promise.allSettled([
      a.commit(wa.handle, claim('rest-race-a')),
      b.commit(wb.handle, claim('rest-race-b')),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1, `exactly one commit lands: ${JSON.stringify(results.map((r) => r.status))}`);
    const reason = lost[0]?.reason as LakeError | undefined;
    assert.equal(reason?.code, 'COMMIT_CONFLICT', String(reason));
    // Either the loser's cursor check saw the winner's snapshot, or both checks passed and the catalog refused the
    // loser's swap (its requirements: table UUID, main at the checked snapshot); the message says which.
    console.log(`# the loser: ${reason?.message}`);
    await a.abort(wa.handle);
    await b.abort(wb.handle);
    const s = snapshots();
    assert.equal(s.snapshots.length, 2);
    assert.equal(
      s.snapshots.find((x) => x.id === s.current)?.summary[KEY],
      JSON.stringify({ [CURSOR]: String(2 * N) }),
    );
    assert.deepEqual(readTotals(), totalsOf(0, 2 * N), 'every record once');
  });

  test('compaction through the REST catalog: fewer files, same rows and sums, the cursors carried; writers go on exactly once', async () => {
    const before = await writer.files(name);
    const s0 = snapshots();
    const c = await writer.compact(name, { smallFileBytes: 1 << 30, carryKeys: [KEY] });
    assert.ok(c.partitions > 0 && c.filesBefore > c.filesAfter && c.filesAfter > 0, JSON.stringify(c));
    assert.equal(c.rows, 2 * N);
    const after = await writer.files(name);
    assert.equal(after.length, before.length - c.filesBefore + c.filesAfter);
    assert.ok(
      after.some((f) => f.path.includes('/compact-')),
      'the compacted files are live',
    );
    // Another client, through the catalog: a `replace` snapshot on top of the last one, carrying the cursors.
    const s = snapshots();
    assert.equal(s.snapshots.length, s0.snapshots.length + 1);
    const replace = s.snapshots.find((x) => x.id === s.current);
    assert.equal(replace?.id, c.snapshotId);
    assert.equal(replace?.parent, s0.current);
    assert.equal(replace?.operation, 'replace');
    assert.equal(replace?.summary[KEY], JSON.stringify({ [CURSOR]: String(2 * N) }));
    assert.equal(replace?.summary['pep.writer'], 'compact');
    assert.deepEqual(readTotals(), totalsOf(0, 2 * N), 'every row once, to the minor unit');
    assert.deepEqual((await writer.tableInfo(name, KEY)).cursors, { [CURSOR]: String(2 * N) });

    // The stale-commit refusal holds on the compacted table: data that starts at N is refused ...
    const stale = await writer.write(name, ipcOf(N, 2 * N), 'rest-stale');
    await assert.rejects(
      writer.commit(stale.handle, {
        cursorKey: KEY,
        expected: { [CURSOR]: String(N) },
        next: { [CURSOR]: String(2 * N) },
        writer: 'rest-stale',
      }),
      (e: LakeError) => e.code === 'COMMIT_CONFLICT' && e.message.includes(`the table is at ${2 * N}`),
    );
    await writer.abort(stale.handle);
    // ... and a commit racing a second compaction: both land (the compaction retries on the new base), every row
    // once, the cursors where the writer left them.
    const next = await writer.write(name, ipcOf(2 * N, 3 * N), 'rest-after-compact');
    const [committed, compacted] = await Promise.all([
      writer.commit(next.handle, {
        cursorKey: KEY,
        expected: { [CURSOR]: String(2 * N) },
        next: { [CURSOR]: String(3 * N) },
        writer: 'rest-after-compact',
      }),
      writer.compact(name, { smallFileBytes: 1 << 30, carryKeys: [KEY] }),
    ]);
    assert.equal(committed.alreadyCommitted, false);
    assert.ok(compacted.rows >= 0, JSON.stringify(compacted));
    assert.deepEqual(readTotals(), totalsOf(0, 3 * N));
    assert.deepEqual((await writer.tableInfo(name, KEY)).cursors, { [CURSOR]: String(3 * N) });
    const last = snapshots();
    assert.equal(
      last.snapshots.find((x) => x.id === last.current)?.summary[KEY],
      JSON.stringify({ [CURSOR]: String(3 * N) }),
    );
  });

  test('expiry and orphan removal through the REST catalog on S3: the data and the cursors stay, the lost files go', async () => {
    const expired = await writer.expire(name, { olderThanMs: 0, retainLast: 1, keepKeys: [KEY] });
    assert.ok(expired.expiredSnapshots >= 1, JSON.stringify(expired));
    assert.equal(snapshots().snapshots.length, 1);
    assert.deepEqual((await writer.tableInfo(name, KEY)).cursors, { [CURSOR]: String(3 * N) });
    assert.deepEqual(readTotals(), totalsOf(0, 3 * N));

    // A writer that died between writing and committing: its files are in the bucket, no snapshot has them.
    const lost = await writer.write(name, ipcOf(3 * N, 4 * N), 'rest-crashed');
    assert.ok(lost.files.length > 0);
    const live = new Set((await writer.files(name)).map((f) => f.path));
    const young = await writer.orphans(name, { dryRun: true });
    assert.ok(!young.removed.some((f: string) => f.includes('/rest-crashed-')), 'files younger than the cutoff stay');
    const dry = await writer.orphans(name, { olderThanMs: 0, dryRun: true });
    for (const f of lost.files) assert.ok(dry.removed.includes(f), `${f} is an orphan: ${dry.removed.join(', ')}`);
    assert.ok(!dry.removed.some((f: string) => live.has(f)), 'no live data file is an orphan');
    assert.ok(
      objectKeys(location).some((k) => k.includes('/rest-crashed-')),
      'a dry run removes nothing',
    );
    const done = await writer.orphans(name, { olderThanMs: 0 });
    assert.deepEqual([...done.removed].sort(), [...dry.removed].sort());
    const keys = objectKeys(location);
    assert.ok(!keys.some((k) => k.includes('/rest-crashed-')), `the lost files are gone: ${keys.join(', ')}`);
    assert.deepEqual(readTotals(), totalsOf(0, 3 * N), 'the table reads the same');
    assert.equal((await writer.orphans(name, { olderThanMs: 0, dryRun: true })).removed.length, 0);
  });

  test("the lakehouse's engines read the REST catalog from the writer's configuration: DuckDB (attached) and Trino (the stack's catalog) answer the same, row for row", async () => {
    // Trino with the catalog file the stack writes for this environment (iceberg.catalog.type=rest; the credential
    // read from Trino's environment), on its own port.
    const catalog = trinoConfigFiles(env)['catalog/iceberg.properties'] as string;
    assert.match(catalog, /^iceberg\.catalog\.type=rest$/m);
    assert.ok(!catalog.includes(`secret-${run}`), 'the credential is not in the catalog file');
    // A launcher pid file as a killed run leaves it, naming a live process that is not Trino (this test's own): the
    // launcher refuses to run over it ("Already running"); startTestTrino removes it first.
    const pidFile = trinoLauncherPidFile(testTrinoDirs('trino-rest-test').data);
    mkdirSync(dirname(pidFile), { recursive: true });
    writeFileSync(pidFile, `${process.pid}\n`);
    const said: string[] = [];
    const trino = await startTestTrino(
      { port: 18087, name: 'trino-rest-test', catalogs: { [TRINO_CATALOG]: catalog }, env },
      (m) => {
        said.push(m);
        console.log(`# ${m}`);
      },
    );
    assert.ok(
      said.some((m) => m.includes(`removed the launcher's stale pid file (process ${process.pid} is not Trino)`)),
      `the stale pid file was removed: ${said.join(' | ')}`,
    );
    try {
      const cfg = loadLakeConfig({ ...env, TRINO_URL: trino.url });
      const queries = [
        `SELECT event_id, provider, currency, amount_minor, kafka_offset, CAST(received_at AS DATE) AS day
           FROM ${name} ORDER BY event_id`,
        `SELECT currency, count(*) AS n, sum(amount_minor) AS total FROM ${name} GROUP BY currency ORDER BY currency`,
      ];
      const answers: Record<string, unknown>[][] = [];
      for (const sql of queries) {
        const duck = await runQuery(cfg, sql, 'duckdb');
        const trin = await runQuery(cfg, sql, 'trino');
        assert.deepEqual(trin.columns, duck.columns);
        assert.deepEqual(trin.rows, duck.rows, sql);
        answers.push(duck.rows);
      }
      // And both are the table's rows: every event written once.
      const rows = answers[0] as Record<string, unknown>[];
      assert.equal(rows.length, 3 * N);
      assert.deepEqual(
        rows.map((r) => r.event_id),
        Array.from({ length: 3 * N }, (_, i) => event(i).event_id).sort(),
      );
      assert.deepEqual(
        Object.fromEntries((answers[1] as Record<string, unknown>[]).map((r) => [r.currency, [r.n, r.total]])),
        totalsOf(0, 3 * N),
      );
    } finally {
      await trino.stop();
    }
  });

  test('a sort order another engine set with a transform: the table still opens (no order reported), compaction refuses it clearly', async () => {
    // Another engine (Spark's `WRITE ORDERED BY bucket(4, customer_id)`) sets a default sort order with a transform
    // through the catalog's commit endpoint; this writer sorts by identity columns only.
    const other = Object.freeze({ ...LAKE_TABLES.payment_events, qualifiedName: `${namespace}.bucket_sorted` });
    const created = await writer.ensureTable(other, KEY);
    assert.deepEqual(
      created.sortOrder.map((c) => c.name),
      ['customer_id', 'received_at'],
    );
    const source = created.schema.fields.find((f) => f.name === 'customer_id')?.id;
    assert.ok(source !== undefined);
    const url = `${ICEBERG_REST_URI}/v1/namespaces/${namespace}/tables/bucket_sorted`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        requirements: [],
        updates: [
          {
            action: 'add-sort-order',
            'sort-order': {
              'order-id': 7,
              fields: [{ 'source-id': source, transform: 'bucket[4]', direction: 'asc', 'null-order': 'nulls-first' }],
            },
          },
          { action: 'set-default-sort-order', 'sort-order-id': -1 },
        ],
      }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const defaultOrder = async () => {
      const m = ((await (await fetch(url)).json()) as { metadata: Record<string, unknown> }).metadata;
      const id = m['default-sort-order-id'];
      return (m['sort-orders'] as { 'order-id': number; fields: { transform: string }[] }[]).find(
        (o) => o['order-id'] === id,
      );
    };
    assert.equal((await defaultOrder())?.fields[0]?.transform, 'bucket[4]');

    // The writer opens it, reports no order it could sort by, and leaves the other engine's order alone.
    assert.deepEqual((await writer.tableInfo(other.qualifiedName, KEY)).sortOrder, []);
    assert.deepEqual((await writer.ensureTable(other, KEY)).sortOrder, []);
    assert.equal((await defaultOrder())?.fields[0]?.transform, 'bucket[4]', 'ensureTable kept the order');
    // Streams still land in it ...
    for (const [from, to] of [
      [0, N],
      [N, 2 * N],
    ] as const) {
      const w = await writer.write(other.qualifiedName, ipcOf(from, to), 'rest-bucket');
      await writer.commit(w.handle, {
        cursorKey: KEY,
        expected: { [CURSOR]: from === 0 ? null : String(from) },
        next: { [CURSOR]: String(to) },
        writer: 'rest-bucket',
      });
    }
    // ... and compaction, which would have to sort by that order, refuses with the reason and changes nothing.
    const files = await writer.files(other.qualifiedName);
    await assert.rejects(
      writer.compact(other.qualifiedName, { smallFileBytes: 1 << 30, carryKeys: [KEY] }),
      (e: LakeError) => {
        assert.equal(e.code, 'INVALID_ARGUMENT', e.message);
        assert.ok(e.message.includes('customer_id') && e.message.includes('bucket[4]'), e.message);
        return true;
      },
    );
    assert.deepEqual(
      (await writer.files(other.qualifiedName)).map((f) => f.path).sort(),
      files.map((f) => f.path).sort(),
    );
    assert.deepEqual((await writer.tableInfo(other.qualifiedName, KEY)).cursors, { [CURSOR]: String(2 * N) });
  });

  test('a local LAKE_WAREHOUSE for a catalog whose table is in S3 is a clear error, not a failed write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pep-lake-rest-'));
    try {
      const local = await LakeWriter.open(loadLakeConfig({ ...env, LAKE_WAREHOUSE: dir }));
      await assert.rejects(
        local.ensureTable(table, KEY),
        (e: LakeError) =>
          e.code === 'INVALID_ARGUMENT' && e.message.includes(location) && e.message.includes('LAKE_WAREHOUSE'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a wrong catalog URI is a clear error that names the URI and never the credential', async () => {
    for (const uri of ['http://127.0.0.1:1/catalog', store.endpoint as string]) {
      await assert.rejects(LakeWriter.open(loadLakeConfig({ ...env, LAKE_CATALOG_URI: uri })), (e: LakeError) => {
        assert.equal(e.code, 'CATALOG_UNAVAILABLE', e.message);
        assert.ok(e.message.includes('Iceberg REST catalog') && e.message.includes(uri.replace(/\/+$/, '')), e.message);
        assert.ok(!e.message.includes(`secret-${run}`), 'the credential is not in the message');
        return true;
      });
    }
  });
});
