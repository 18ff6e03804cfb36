/**
 * The Rust Iceberg writer against the real PostgreSQL catalog and real files: exactly-once commits (cursor claims,
 * two writers, a lost commit answer), bad input (a batch whose schema does not match, a missing warehouse), schema
 * evolution read back by DuckDB, and maintenance (compaction keeps counts and sums, expiry, orphan removal).
 * Needs PostgreSQL (`npm run stack:up`) and the lake addon (`npm run build:lake -w @pep/lakehouse`).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { LAKE_TABLES } from '@pep/contracts';
import { Field, Int64, RecordBatchStreamWriter, Schema, Table, vectorFromArray } from 'apache-arrow';
import { TableBatchBuilder } from '../src/arrow.ts';
import { openDuckSession } from '../src/duckdb.ts';
import { type LakeError, LakeWriter } from '../src/writer.ts';
import { event, filesUnder, removeWarehouse, tableIn, tag, testConfig } from './helpers.ts';

const KEY = 'pep.kafka.offsets';
const cfg = testConfig();
const ns = `t_${tag()}`;
const table = tableIn(ns);
const name = table.qualifiedName;
let writer: LakeWriter;
const warehouseDir = cfg.warehouse.slice('file://'.length);

function ipcOf(rows: Record<string, unknown>[], t = table): Uint8Array {
  const b = new TableBatchBuilder(t);
  for (const r of rows) b.append(r as never);
  return b.finishIpc();
}

async function count(sql: string): Promise<Record<string, unknown>> {
  const s = await openDuckSession(cfg);
  try {
    const r = await s.query(sql);
    return r.rows[0] as Record<string, unknown>;
  } finally {
    s.close();
  }
}

before(async () => {
  writer = await LakeWriter.open(cfg);
});
after(() => removeWarehouse(cfg));

describe('lake writer', () => {
  it('creates the table and commits a batch only where the table cursors are', async () => {
    const info = await writer.ensureTable(table, KEY);
    assert.equal(info.snapshotId, null);
    assert.deepEqual(info.cursors, {});
    assert.deepEqual(info.sortOrder, [
      { name: 'customer_id', descending: false, nullsFirst: true },
      { name: 'received_at', descending: false, nullsFirst: true },
    ]);
    const w = await writer.write(name, ipcOf([0, 1, 2].map((i) => event(i))), 'test-writer');
    assert.equal(w.rows, 3);
    assert.ok(w.files.length >= 1 && w.files.every((f) => f.includes('/test-writer-')), 'unique file prefix');
    assert.ok(w.files.every((f) => f.endsWith('.parquet')));
    const c = await writer.commit(w.handle, {
      cursorKey: KEY,
      expected: { 'payments.normalized:0': null },
      next: { 'payments.normalized:0': '3' },
      writer: 'test-writer',
    });
    assert.equal(c.alreadyCommitted, false);
    assert.deepEqual((await writer.tableInfo(name, KEY)).cursors, { 'payments.normalized:0': '3' });
  });

  it('refuses a second writer that holds the same records (COMMIT_CONFLICT) and deletes its files on abort', async () => {
    const other = await LakeWriter.open(cfg);
    const w = await other.write(name, ipcOf([0, 1, 2].map((i) => event(i))), 'other-writer');
    await assert.rejects(
      other.commit(w.handle, {
        cursorKey: KEY,
        expected: { 'payments.normalized:0': null },
        next: { 'payments.normalized:0': '3' },
        writer: 'other-writer',
      }),
      (e: LakeError) => e.code === 'COMMIT_CONFLICT' && /table is at 3/.test(e.message),
    );
    assert.ok(w.files.every((f) => existsSync(f.slice('file://'.length))));
    assert.equal(await other.abort(w.handle), w.files.length);
    assert.ok(w.files.every((f) => !existsSync(f.slice('file://'.length))));
    assert.equal(Number((await count(`SELECT count(*) AS n FROM ${name}`)).n), 3, 'nothing duplicated');
  });

  it('recognises a commit whose answer was lost (same commit id) instead of appending twice', async () => {
    const w = await writer.write(name, ipcOf([3, 4].map((i) => event(i))), 'test-writer');
    const claim = {
      cursorKey: KEY,
      expected: { 'payments.normalized:0': '3' },
      next: { 'payments.normalized:0': '5' },
      writer: 'test-writer',
      commitId: `c-${tag()}`,
    };
    await writer.commit(w.handle, claim);
    const w2 = await writer.write(name, ipcOf([3, 4].map((i) => event(i))), 'test-writer');
    const again = await writer.commit(w2.handle, claim);
    assert.equal(again.alreadyCommitted, true);
    await writer.abort(w2.handle);
    assert.equal(Number((await count(`SELECT count(*) AS n FROM ${name}`)).n), 5);
  });

  it('rejects an Arrow batch whose schema does not match the table and writes nothing', async () => {
    const before = filesUnder(warehouseDir);
    const snapshots = (await writer.tableInfo(name)).snapshots;
    const wrong = RecordBatchStreamWriter.writeAll(
      new Table({
        kafka_offset: vectorFromArray([1n, 2n], new Int64()),
        surprise: vectorFromArray([1n, 2n], new Int64()),
      }).batches,
    ).toUint8Array(true);
    await assert.rejects(writer.write(name, wrong, 'test-writer'), (e: LakeError) => {
      return e.code === 'SCHEMA_MISMATCH' && /surprise/.test(e.message);
    });
    const typed = RecordBatchStreamWriter.writeAll(
      new Table({ kafka_topic: vectorFromArray([1n], new Int64()) }).batches,
    ).toUint8Array(true);
    await assert.rejects(writer.write(name, typed, 'test-writer'), /kafka_topic: the batch has type Int64/);
    await assert.rejects(writer.write(name, new Uint8Array([1, 2, 3]), 'test-writer'), { code: 'SCHEMA_MISMATCH' });
    assert.deepEqual(filesUnder(warehouseDir), before, 'no file was left behind');
    assert.equal((await writer.tableInfo(name)).snapshots, snapshots, 'no snapshot was added');
    assert.ok(new Schema([new Field('x', new Int64())]));
  });

  it('writes the rows of a commit in chunks (open, chunks, close): the same rows as one write; abort and bad chunks leave no file', async () => {
    // A table of its own: the tests below expect the first table's cursors as the tests above left them.
    const chunked = tableIn(`${ns}c`);
    const name = chunked.qualifiedName;
    await writer.ensureTable(chunked, KEY);
    const ids = [0, 1, 2, 3, 4, 5, 6];
    const id = await writer.openWrite(name, 'chunk-writer');
    assert.equal(await writer.writeChunk(id, ipcOf(ids.slice(0, 3).map((i) => event(i)))), 3);
    assert.equal(await writer.writeChunk(id, ipcOf(ids.slice(3, 4).map((i) => event(i)))), 4);
    assert.equal(await writer.writeChunk(id, ipcOf(ids.slice(4).map((i) => event(i)))), 7);
    const w = await writer.closeWrite(id);
    assert.equal(w.rows, 7);
    assert.ok(w.files.length >= 1 && w.files.every((f) => f.includes('/chunk-writer-')), 'unique file prefix');
    await assert.rejects(writer.writeChunk(id, ipcOf([event(99)])), { code: 'INVALID_ARGUMENT' }, 'closed');
    await writer.commit(w.handle, {
      cursorKey: KEY,
      expected: { 'payments.normalized:0': null },
      next: { 'payments.normalized:0': '7' },
      writer: 'chunk-writer',
    });
    const got = await count(
      `SELECT count(*) AS n, count(DISTINCT event_id) AS ids, sum(amount_minor) AS s FROM ${name}`,
    );
    const want = ids.reduce((n, i) => n + event(i).amount_minor, 0);
    assert.deepEqual([Number(got.n), Number(got.ids), Number(got.s)], [7, 7, want]);

    const before = filesUnder(warehouseDir);
    const snapshots = (await writer.tableInfo(name)).snapshots;
    // Aborted after two chunks: its files are deleted and nothing is committed.
    const dropped = await writer.openWrite(name, 'chunk-writer');
    await writer.writeChunk(dropped, ipcOf([event(1000), event(1001)]));
    await writer.writeChunk(dropped, ipcOf([event(1002)]));
    assert.ok((await writer.abortWrite(dropped)) >= 1, 'the aborted write had files to delete');
    assert.equal(await writer.abortWrite(dropped), 0, 'a second abort finds nothing');
    // A chunk whose schema does not match is refused; the write is then aborted by its owner.
    const bad = await writer.openWrite(name, 'chunk-writer');
    await writer.writeChunk(bad, ipcOf([event(2000)]));
    const wrong = RecordBatchStreamWriter.writeAll(
      new Table({ surprise: vectorFromArray([1n], new Int64()) }).batches,
    ).toUint8Array(true);
    await assert.rejects(writer.writeChunk(bad, wrong), (e: LakeError) => e.code === 'SCHEMA_MISMATCH');
    await writer.abortWrite(bad);
    // An empty write has nothing to close; unknown ids are clear errors.
    const empty = await writer.openWrite(name, 'chunk-writer');
    await assert.rejects(
      writer.closeWrite(empty),
      (e: LakeError) => e.code === 'INVALID_ARGUMENT' && /no rows/.test(e.message),
    );
    await assert.rejects(writer.writeChunk(987654, ipcOf([event(1)])), /no open write with id 987654/);
    await assert.rejects(writer.openWrite(`${ns}c.missing_table`, 'chunk-writer'));
    assert.deepEqual(filesUnder(warehouseDir), before, 'no file was left behind');
    assert.equal((await writer.tableInfo(name)).snapshots, snapshots, 'no snapshot was added');
  });

  it('says clearly that a configured warehouse folder is missing', async () => {
    const missing = { ...cfg, warehouse: `file:///tmp/pep-lake-missing-${tag()}`, warehouseIsDefault: false };
    await assert.rejects(
      LakeWriter.open(missing),
      (e: LakeError) => e.code === 'WAREHOUSE_MISSING' && e.message.includes(missing.warehouse.slice(7)),
    );
  });

  it('evolves the schema: a new contract column is added without rewriting data and reads as null in old files', async () => {
    const filesBefore = (await writer.files(name)).map((f) => f.path);
    const evolved = tableIn(ns, LAKE_TABLES.payment_events, [
      { id: 900, name: 'risk_note', type: 'string', required: false, doc: 'test column' },
    ]);
    const info = await writer.ensureTable(evolved, KEY);
    assert.deepEqual(info.addedColumns, ['risk_note']);
    const w = await writer.write(name, ipcOf([event(5, { risk_note: 'manual review' })], evolved), 'test-writer');
    await writer.commit(w.handle, {
      cursorKey: KEY,
      expected: { 'payments.normalized:0': '5' },
      next: { 'payments.normalized:0': '6' },
      writer: 'test-writer',
    });
    const filesAfter = (await writer.files(name)).map((f) => f.path);
    assert.ok(
      filesBefore.every((f) => filesAfter.includes(f)),
      'old data files are untouched',
    );
    const r = await count(
      `SELECT count(*) FILTER (WHERE risk_note IS NULL) AS old_rows, max(risk_note) AS note, count(*) AS n FROM ${name}`,
    );
    assert.equal(Number(r.old_rows), 5);
    assert.equal(r.note, 'manual review');
    assert.equal(Number(r.n), 6);
    // A writer built before the evolution (no risk_note column) still writes: the column is null.
    assert.equal((await writer.ensureTable(table, KEY)).addedColumns.length, 0);
  });

  it('compacts small files per partition with identical row counts and sums, keeping the cursors', async () => {
    for (let k = 0; k < 3; k++) {
      const from = 6 + k * 4;
      const w = await writer.write(name, ipcOf([0, 1, 2, 3].map((j) => event(from + j))), 'test-writer');
      await writer.commit(w.handle, {
        cursorKey: KEY,
        expected: { 'payments.normalized:0': String(from) },
        next: { 'payments.normalized:0': String(from + 4) },
        writer: 'test-writer',
      });
    }
    const sql = `SELECT count(*) AS n, sum(amount_minor) AS s, count(DISTINCT kafka_offset) AS d FROM ${name}`;
    const beforeAgg = await count(sql);
    const filesBefore = (await writer.files(name)).length;
    const out = await writer.compact(name, {
      smallFileBytes: 64 << 20,
      minFiles: 2,
      carryKeys: [KEY],
      rowGroupRows: 3,
    });
    assert.ok(out.partitions > 0, JSON.stringify(out));
    const filesAfter = (await writer.files(name)).length;
    assert.ok(filesAfter < filesBefore, `${filesBefore} → ${filesAfter}`);
    assert.deepEqual(await count(sql), beforeAgg);
    assert.equal(Number(beforeAgg.n), 18);
    assert.deepEqual((await writer.tableInfo(name, KEY)).cursors, { 'payments.normalized:0': '18' });
    // Each compacted file holds its rows in the table's sort order (customer_id, then received_at), in file order.
    const s = await openDuckSession(cfg);
    try {
      for (const f of (await writer.files(name)).filter((x) => x.path.includes('/compact-'))) {
        const r = await s.query(
          `SELECT customer_id, epoch_us(received_at) AS t FROM read_parquet('${f.path.slice('file://'.length)}')`,
        );
        const keys = r.rows.map((row) => [String(row.customer_id), BigInt(row.t as bigint)] as const);
        assert.ok(keys.length > 1, `${f.path}: ${keys.length} rows`);
        // A sorted table's files are written in row groups of `rowGroupRows`, so that their statistics can skip.
        const groups = await s.query(
          `SELECT num_row_groups FROM parquet_file_metadata('${f.path.slice('file://'.length)}')`,
        );
        assert.equal(Number(groups.rows[0]?.num_row_groups), Math.ceil(keys.length / 3), f.path);
        const ordered = [...keys].sort((a, b) =>
          a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0,
        );
        assert.deepEqual(keys, ordered, `${f.path} is not sorted`);
        assert.notDeepEqual(
          keys.map((k) => k[1]),
          [...keys.map((k) => k[1])].sort((a, b) => (a < b ? -1 : 1)),
          'the rows were written in time order, so the sort by customer changed their order',
        );
      }
    } finally {
      s.close();
    }
  });

  it('sets the definition sort order on a table created without one, and refuses an unknown sort column', async () => {
    const plain = tableIn(`${ns}_plain`, { ...LAKE_TABLES.payment_events, sortBy: [] });
    assert.deepEqual((await writer.ensureTable(plain, KEY)).sortOrder, []);
    const sorted = await writer.ensureTable({ ...plain, sortBy: [{ source: 'merchant_id', descending: true }] }, KEY);
    assert.deepEqual(sorted.sortOrder, [{ name: 'merchant_id', descending: true, nullsFirst: true }]);
    // An order that is set stays (e.g. one a user set with Trino's sorted_by).
    assert.deepEqual((await writer.ensureTable(tableIn(`${ns}_plain`), KEY)).sortOrder, sorted.sortOrder);
    await assert.rejects(
      writer.ensureTable({ ...plain, qualifiedName: `${ns}_plain.other`, sortBy: [{ source: 'nope' }] }, KEY),
      /sort column nope is not a column/,
    );
  });

  it('expires old snapshots and removes orphaned files, leaving the current data intact', async () => {
    const w = await writer.write(name, ipcOf([event(18)]), 'crashed-writer');
    const orphanPaths = w.files.map((f) => f.slice('file://'.length));
    assert.ok(orphanPaths.every(existsSync));
    const dry = await writer.orphans(name, { olderThanMs: 0, dryRun: true });
    assert.ok(
      w.files.every((f) => dry.removed.includes(f)),
      'the uncommitted files are orphans',
    );
    assert.ok(orphanPaths.every(existsSync), 'a dry run deletes nothing');
    const young = await writer.orphans(name, { olderThanMs: 3_600_000 });
    assert.equal(young.removed.length, 0, 'files younger than the threshold stay (a live writer may commit them)');
    const expired = await writer.expire(name, { olderThanMs: 0, retainLast: 1, keepKeys: [KEY] });
    assert.ok(expired.expiredSnapshots > 0, JSON.stringify(expired));
    const gone = await writer.orphans(name, { olderThanMs: 0 });
    assert.ok(
      orphanPaths.every((p) => !existsSync(p)),
      JSON.stringify(gone),
    );
    const r = await count(`SELECT count(*) AS n, sum(amount_minor) AS s FROM ${name}`);
    assert.equal(Number(r.n), 18);
    assert.deepEqual((await writer.tableInfo(name, KEY)).cursors, { 'payments.normalized:0': '18' });
  });
});
