/**
 * The pipeline's two big guarantees, end to end on private topics with real Kafka and PostgreSQL:
 * 10,000 raw events (about 10 % invalid, 5 % duplicate provider deliveries) plus edge rejections; the transformer
 * runs as a separate process and is SIGKILLed mid-stream, then restarted. Afterwards every raw record is in
 * `payments.normalized` or the validation DLQ exactly once (reconcile's placement check), the quarantine holds one
 * row per DLQ record, and `reconcile` says RECONCILED.
 * The echo normalizer is used so that the counts are known exactly; core-native's rules are tested elsewhere.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@pep/contracts/log';
import { loadQuarantineConfig } from '../src/lib/config.ts';
import { createKafka } from '../src/lib/kafka.ts';
import { QuarantineConsumer } from '../src/quarantine/consumer.ts';
import { reconcile } from '../src/reconcile/reconcile.ts';
import { addr, privatePipeline, produce, waitFor } from './helpers.ts';

const here = dirname(fileURLToPath(import.meta.url));
const { raw, normalized, validationDlq, webhookDlq, transformerGroup, quarantineGroup, kafka, admin, pool } =
  privatePipeline('crash', ['webhooks.stripe.charge', 'webhooks.square.payment', 'webhooks.adyen.notification']);

const TOTAL = 10_000;

function childEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TRANSFORMER_INPUT_TOPICS: raw.join(','),
    TRANSFORMER_NORMALIZED_TOPIC: normalized,
    TRANSFORMER_DLQ_TOPIC: validationDlq,
    TRANSFORMER_GROUP_ID: transformerGroup,
    TRANSFORMER_TRANSACTIONAL_ID: `${transformerGroup}-0`,
    TRANSFORMER_METRICS_PORT: '0',
    // Small chunks: many transactions, so the kill lands between and inside them.
    TRANSFORMER_MAX_BATCH_MESSAGES: '50',
    TRANSFORMER_FETCH_MAX_WAIT_MS: '20',
    PIPELINE_LOG_LEVEL: 'warn',
    PIPELINE_TEST_NORMALIZER: 'echo',
  };
}

function startChild(): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'transformer-child.ts')], {
    env: childEnv(),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

async function committed(): Promise<number> {
  const offs = await admin.fetchOffsets({ groupId: transformerGroup, topics: [...raw] });
  return offs.flatMap((t) => t.partitions).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

const exited = (c: ChildProcess) =>
  new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

test('SIGKILL of the transformer mid-stream, restart: 10,000 events reconcile, each in exactly one place', async () => {
  // Deterministic mix: every 10th event invalid, every 20th is a second delivery of the previous id.
  const perTopic = new Map<string, { key: string; value: string; headers: Record<string, string> }[]>();
  const validIds = new Set<string>();
  let invalid = 0;
  let validDeliveries = 0;
  for (let i = 0; i < TOTAL; i++) {
    const topic = raw[i % raw.length] as string;
    const dup = i % 20 === 19;
    const n = dup ? i - raw.length : i; // same topic, earlier id: a provider redelivery
    const id = `evt_${n}`;
    const valid = n % 10 !== 7;
    if (valid) {
      validDeliveries++;
      validIds.add(`${topic.split('.')[2]}:${id}`);
    } else invalid++;
    const list = perTopic.get(topic) ?? [];
    list.push({
      key: id,
      value: JSON.stringify({ id, valid, amount_minor: 1000 + n }),
      headers: { 'received-at': new Date().toISOString(), 'request-id': `req-${i}` },
    });
    perTopic.set(topic, list);
  }
  await produce(
    kafka,
    webhookDlq,
    Array.from({ length: 200 }, (_, i) => ({
      key: null,
      value: i % 50 === 0 ? Buffer.from([0xff, i]) : `{"reason":"invalid_signature","n":${i}}`,
    })),
  );
  for (const [topic, list] of perTopic) await produce(kafka, topic, list);

  const quarantine = new QuarantineConsumer(
    {
      ...loadQuarantineConfig({ ...process.env, QUARANTINE_METRICS_PORT: '0' }),
      webhookDlqTopic: webhookDlq,
      validationDlqTopic: validationDlq,
      groupId: quarantineGroup,
    },
    silentLogger,
  );
  await quarantine.start();
  try {
    const first = startChild();
    const progress = await waitFor(
      'some progress',
      async () => {
        const c = await committed();
        return c >= 1500 ? c : false;
      },
      90_000,
      50,
    );
    first.kill('SIGKILL');
    await exited(first);
    const atKill = await committed();
    assert.ok(atKill < TOTAL, `killed mid-stream (committed ${atKill} of ${TOTAL}, saw ${progress})`);

    const second = startChild();
    try {
      await waitFor('all raw offsets committed after restart', async () => (await committed()) === TOTAL, 120_000);
    } finally {
      second.kill('SIGTERM');
      assert.equal(await exited(second), 0, 'graceful shutdown exits 0');
    }

    await waitFor(
      'quarantine rows',
      async () => {
        const r = await pool.query(
          'SELECT (SELECT count(*) FROM validation_quarantine WHERE kafka_topic = $1)::int AS v, (SELECT count(*) FROM webhook_quarantine WHERE kafka_topic = $2)::int AS w',
          [validationDlq, webhookDlq],
        );
        return r.rows[0].v === invalid && r.rows[0].w === 200;
      },
      60_000,
    );
    const report = await waitFor(
      'reconciled',
      async () => {
        const r = await reconcile({
          kafka: createKafka({ brokers: addr.kafkaBrokers, clientId: 'reconcile-test', log: silentLogger }),
          databaseUrl: addr.databaseUrl,
          rawTopics: raw,
          normalizedTopic: normalized,
          validationDlqTopic: validationDlq,
          webhookDlqTopic: webhookDlq,
          transformerGroup,
          quarantineGroup,
          edgeMetricsUrl: null,
          scanTimeoutMs: 60_000,
        });
        if (r.verdict !== 'reconciled') console.log(JSON.stringify(r.checks));
        return r.verdict === 'reconciled' ? r : false;
      },
      60_000,
      2000,
    );
    assert.equal(report.stages.raw.total, TOTAL);
    assert.equal(report.stages.normalized.records, validDeliveries, 'each valid delivery exactly once');
    assert.equal(report.stages.normalized.distinct_event_ids, validIds.size);
    assert.equal(report.stages.validation_dlq.records, invalid, 'each invalid delivery exactly once in the DLQ');
    assert.equal(report.stages.placement.duplicate_outputs, 0);
    assert.equal(report.stages.quarantine.validation_rows, invalid);
    assert.equal(report.stages.quarantine.webhook_rows, 200);
  } finally {
    await quarantine.stop();
  }
});
