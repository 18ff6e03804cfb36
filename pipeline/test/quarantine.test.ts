/**
 * Quarantine consumer against real Kafka and PostgreSQL, on private DLQ topics: every record (JSON or not) becomes
 * exactly one row, redelivery is a no-op, and offsets are committed only once the rows exist.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { silentLogger } from '@pep/contracts/log';
import pg from 'pg';
import { loadQuarantineConfig } from '../src/lib/config.ts';
import { migrate } from '../src/migrate.ts';
import { QuarantineConsumer } from '../src/quarantine/consumer.ts';
import { reconcile } from '../src/reconcile/reconcile.ts';
import { addr, createTopics, deleteTopics, produce, runPrefix, testKafka, waitFor } from './helpers.ts';

const prefix = runPrefix('quarantine');
const webhookDlq = `${prefix}webhooks.dlq`;
const validationDlq = `${prefix}payments.validation.dlq`;
const kafka = testKafka();
const admin = kafka.admin();
const pool = new pg.Pool({ connectionString: addr.databaseUrl, max: 2 });

function config(groupId: string) {
  return {
    ...loadQuarantineConfig({
      ...process.env,
      QUARANTINE_WEBHOOK_DLQ_TOPIC: webhookDlq,
      QUARANTINE_VALIDATION_DLQ_TOPIC: validationDlq,
      QUARANTINE_METRICS_PORT: '0',
      QUARANTINE_MAX_BATCH_ROWS: '7',
      QUARANTINE_FETCH_MAX_WAIT_MS: '50',
    }),
    groupId,
  };
}

async function rowCount(table: string, topic: string): Promise<number> {
  const r = await pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE kafka_topic = $1`, [topic]);
  return r.rows[0].n as number;
}

before(async () => {
  await migrate({ databaseUrl: addr.databaseUrl });
  await admin.connect();
  await createTopics(admin, [webhookDlq, validationDlq], 2);
});

after(async () => {
  await pool.query('DELETE FROM webhook_quarantine WHERE kafka_topic = $1', [webhookDlq]);
  await pool.query('DELETE FROM validation_quarantine WHERE kafka_topic = $1', [validationDlq]);
  await deleteTopics(admin, [webhookDlq, validationDlq]);
  await admin.deleteGroups([`${prefix}quarantine-a`, `${prefix}quarantine-b`]).catch(() => undefined);
  await admin.disconnect();
  await pool.end();
});

const edgeRecord = (i: number) => ({
  schema_version: 1,
  provider: 'stripe',
  reason: 'invalid_signature',
  message: 'no configured secret produces the given signature',
  security_event: true,
  http_status: 401,
  headers: { 'stripe-signature': '[redacted]' },
  body: `{"id":"evt_${i}"}`,
  body_encoding: 'utf8',
  event_id: `evt_${i}`,
  request_id: `req-${i}`,
  received_at: new Date(1764160000000 + i).toISOString(),
});

test('stores every DLQ record of both topics, including non-JSON and hostile bytes, exactly once', async () => {
  const hostile = [
    Buffer.from([0xff, 0xfe, 0xfd]),
    Buffer.from('not json at all'),
    Buffer.from('{"message":"nul \\u0000 and lone \\ud800 surrogate"}'),
    Buffer.alloc(0),
    Buffer.from('{"http_status": 99999999999, "received_at": "not a date", "provider": ["x"]}'),
  ];
  await produce(kafka, webhookDlq, [
    ...Array.from({ length: 20 }, (_, i) => ({ key: `evt_${i}`, value: JSON.stringify(edgeRecord(i)) })),
    ...hostile.map((value, i) => ({ key: `h${i}`, value })),
    { key: 'tombstone', value: null },
  ]);
  await produce(
    kafka,
    validationDlq,
    Array.from({ length: 10 }, (_, i) => ({
      key: `evt_v${i}`,
      value: JSON.stringify({
        event_id: `stripe:evt_v${i}`,
        provider: 'stripe',
        provider_event_id: `evt_v${i}`,
        validation_errors: [
          { field: 'data.object.amount', code: 'INVALID_AMOUNT', message: 'Amount must be an integer' },
        ],
        failure_reason: 'INVALID_AMOUNT',
        source_topic: 'webhooks.stripe.charge',
        kafka_partition: 1,
        kafka_offset: 100 + i,
        quarantined_at: new Date().toISOString(),
      }),
    })),
  );

  const group = `${prefix}quarantine-a`;
  const consumer = new QuarantineConsumer(config(group), silentLogger);
  await consumer.start();
  try {
    await waitFor('26 webhook rows', async () => (await rowCount('webhook_quarantine', webhookDlq)) === 26);
    await waitFor('10 validation rows', async () => (await rowCount('validation_quarantine', validationDlq)) === 10);
    // Offsets are committed (after the rows): the group's lag drops to zero.
    await waitFor('committed offsets', async () => {
      const offs = await admin.fetchOffsets({ groupId: group, topics: [webhookDlq, validationDlq] });
      const ends = [...(await admin.fetchTopicOffsets(webhookDlq)), ...(await admin.fetchTopicOffsets(validationDlq))];
      const committed = offs.flatMap((t) => t.partitions).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
      return committed === ends.reduce((s, e) => s + Number(e.high), 0);
    });
  } finally {
    await consumer.stop();
  }

  const bad = await pool.query(
    'SELECT parse_error, raw_value, message FROM webhook_quarantine WHERE kafka_topic = $1 AND (parse_error IS NOT NULL OR message LIKE $2) ORDER BY kafka_offset',
    [webhookDlq, 'nul%'],
  );
  const rawValues = bad.rows.map((r) => Buffer.from(r.raw_value).toString('hex'));
  assert.ok(rawValues.includes('fffefd'), 'invalid UTF-8 kept byte for byte');
  assert.ok(bad.rows.some((r) => r.message === 'nul \ufffd and lone \ufffd surrogate'));
  assert.ok(bad.rows.filter((r) => r.parse_error).length >= 4);

  const v = await pool.query(
    'SELECT failure_reason, source_topic, source_partition, source_offset FROM validation_quarantine WHERE kafka_topic = $1 ORDER BY source_offset',
    [validationDlq],
  );
  assert.equal(v.rows[0].failure_reason, 'INVALID_AMOUNT');
  assert.equal(v.rows[0].source_topic, 'webhooks.stripe.charge');
  assert.equal(v.rows[0].source_partition, 1);
  assert.equal(v.rows[0].source_offset, '100');
  assert.equal(consumer.metrics.rows.get({ table: 'webhook_quarantine', result: 'inserted' }), 26);
});

test('a second group replaying the same records adds no rows (idempotent on topic, partition, offset)', async () => {
  const consumer = new QuarantineConsumer(config(`${prefix}quarantine-b`), silentLogger);
  await consumer.start();
  try {
    await waitFor('replay of 36 records', async () => {
      const dup = consumer.metrics.rows;
      return (
        dup.get({ table: 'webhook_quarantine', result: 'duplicate' }) === 26 &&
        dup.get({ table: 'validation_quarantine', result: 'duplicate' }) === 10
      );
    });
  } finally {
    await consumer.stop();
  }
  assert.equal(await rowCount('webhook_quarantine', webhookDlq), 26);
  assert.equal(await rowCount('validation_quarantine', validationDlq), 10);
});

test('a re-created DLQ topic: a new record at an old record coordinates gets its own row, a redelivery does not', async () => {
  // Offsets start again when a topic is re-created (or the platform moves to another cluster): the record at
  // (topic, 0, 0) afterwards is another record. Unique on the coordinates alone, its row was dropped (ON CONFLICT DO
  // NOTHING) and it was never reviewed; rows are now unique on the coordinates and the record's fingerprint.
  const webhook = `${prefix}re.webhooks.dlq`;
  const validation = `${prefix}re.payments.validation.dlq`;
  const raw = `${prefix}re.webhooks.stripe.charge`;
  const normalized = `${prefix}re.payments.normalized`;
  const groups = [1, 2, 3].map((g) => `${prefix}quarantine-re${g}`);
  const cfg = (groupId: string) => ({
    ...config(groupId),
    webhookDlqTopic: webhook,
    validationDlqTopic: validation,
  });
  const record = (reason: string, receivedAt: string) => ({
    key: 'evt_same',
    value: JSON.stringify({
      event_id: 'stripe:evt_same',
      provider: 'stripe',
      provider_event_id: 'evt_same',
      validation_errors: [{ field: 'data.object.currency', code: reason, message: reason }],
      failure_reason: reason,
      source_topic: 'webhooks.stripe.charge',
      kafka_partition: 0,
      kafka_offset: 7,
      received_at: receivedAt,
      quarantined_at: receivedAt,
    }),
  });
  const consume = async (groupId: string, done: (c: QuarantineConsumer) => Promise<boolean>) => {
    const consumer = new QuarantineConsumer(cfg(groupId), silentLogger);
    await consumer.start();
    try {
      await waitFor(`group ${groupId} read the topic`, () => done(consumer));
    } finally {
      await consumer.stop();
    }
  };
  const inserted = (c: QuarantineConsumer) =>
    c.metrics.rows.get({ table: 'validation_quarantine', result: 'inserted' });
  const duplicate = (c: QuarantineConsumer) =>
    c.metrics.rows.get({ table: 'validation_quarantine', result: 'duplicate' });
  try {
    await createTopics(admin, [webhook, validation], 1);
    await produce(kafka, validation, [record('INVALID_CURRENCY', '2026-12-01T00:00:00.000Z')]);
    await consume(groups[0] as string, async (c) => inserted(c) === 1);

    await deleteTopics(admin, [webhook, validation]);
    await waitFor('topics deleted', async () => {
      const topics = await admin.listTopics();
      return !topics.includes(webhook) && !topics.includes(validation);
    });
    await createTopics(admin, [webhook, validation], 1);
    await produce(kafka, validation, [record('INVALID_AMOUNT', '2026-12-05T00:00:00.000Z')]);
    await consume(groups[1] as string, async (c) => inserted(c) === 1);
    // The same record delivered again (a replaying group): no second row.
    await consume(groups[2] as string, async (c) => duplicate(c) === 1);

    const { rows } = await pool.query(
      `SELECT kafka_partition, kafka_offset::text, failure_reason, encode(record_sha256, 'hex') AS sha
         FROM validation_quarantine WHERE kafka_topic = $1 ORDER BY failure_reason`,
      [validation],
    );
    assert.deepEqual(
      rows.map((r) => [r.kafka_partition, r.kafka_offset, r.failure_reason]),
      [
        [0, '0', 'INVALID_AMOUNT'],
        [0, '0', 'INVALID_CURRENCY'],
      ],
    );
    assert.notEqual(rows[0].sha, rows[1].sha);

    // Reconcile counts the rows of the records the topic holds NOW: the earlier incarnation's row sits at the reused
    // offset 0 (at or above the low watermark) and was counted too: 2 rows for 1 record, NOT RECONCILED.
    await createTopics(admin, [raw, normalized], 1);
    const report = await reconcile({
      kafka,
      databaseUrl: addr.databaseUrl,
      rawTopics: [raw],
      normalizedTopic: normalized,
      validationDlqTopic: validation,
      webhookDlqTopic: webhook,
      transformerGroup: `${prefix}re-transformer`,
      quarantineGroup: groups[1] as string,
      edgeMetricsUrl: null,
      scanTimeoutMs: 30_000,
    });
    const quarantined = report.checks.find((c) => c.name === 'validation DLQ quarantined');
    assert.equal(quarantined?.ok, true, JSON.stringify(quarantined));
    assert.equal(report.stages.quarantine.validation_rows, 1);
  } finally {
    await pool.query('DELETE FROM validation_quarantine WHERE kafka_topic = $1', [validation]);
    await deleteTopics(admin, [webhook, validation, raw, normalized]);
    await admin.deleteGroups(groups).catch(() => undefined);
  }
});
