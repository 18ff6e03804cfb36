/**
 * Rebalances under load: a second transformer instance (its own transactional id) joins the group mid-stream,
 * then the first leaves with SIGTERM. Partitions move twice while transactions are in flight; afterwards every raw
 * record must still have each of its outputs exactly once (reconcile's placement check), and nothing is missing.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@pep/contracts/log';
import { createKafka } from '../src/lib/kafka.ts';
import { reconcile } from '../src/reconcile/reconcile.ts';
import { addr, createTopics, deleteTopics, produce, runPrefix, testKafka, waitFor } from './helpers.ts';

const here = dirname(fileURLToPath(import.meta.url));
const prefix = runPrefix('rebalance');
const raw = [`${prefix}webhooks.stripe.charge`, `${prefix}webhooks.square.payment`];
const normalized = `${prefix}payments.normalized`;
const validationDlq = `${prefix}payments.validation.dlq`;
const webhookDlq = `${prefix}webhooks.dlq`;
const group = `${prefix}transformer`;
const kafka = testKafka();
const admin = kafka.admin();
// Large enough, and each member slow enough (25 ms per batch of 25), that B's start-up on a loaded machine
// still lands mid-stream.
const TOTAL = 12000;

interface Child {
  readonly proc: ChildProcess;
  readonly lines: string[];
}

function startChild(instance: number): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'transformer-child.ts')], {
    env: {
      ...process.env,
      TRANSFORMER_INPUT_TOPICS: raw.join(','),
      TRANSFORMER_NORMALIZED_TOPIC: normalized,
      TRANSFORMER_DLQ_TOPIC: validationDlq,
      TRANSFORMER_GROUP_ID: group,
      TRANSFORMER_TRANSACTIONAL_ID: `${group}-${instance}`,
      TRANSFORMER_METRICS_PORT: '0',
      TRANSFORMER_MAX_BATCH_MESSAGES: '25',
      TRANSFORMER_SESSION_TIMEOUT_MS: '10000',
      PIPELINE_LOG_LEVEL: 'info',
      PIPELINE_TEST_NORMALIZER: 'echo',
      PIPELINE_TEST_NORMALIZE_DELAY_MS: '25',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let buf = '';
  proc.stdout?.on('data', (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
  });
  return { proc, lines };
}

/** Partitions in each `partitions assigned` log line of a child, in order. */
function assignments(c: Child): number[] {
  return c.lines
    .filter((l) => l.includes('"partitions assigned"'))
    .map((l) =>
      Object.values(JSON.parse(l).assignment as Record<string, number[]>).reduce((n, ps) => n + ps.length, 0),
    );
}

const exited = (c: ChildProcess) =>
  new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

async function committed(): Promise<number> {
  const offs = await admin.fetchOffsets({ groupId: group, topics: raw });
  return offs.flatMap((t) => t.partitions).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

before(async () => {
  await admin.connect();
  await createTopics(admin, raw, 4);
  await createTopics(admin, [normalized], 3);
  await createTopics(admin, [validationDlq, webhookDlq], 1);
});

after(async () => {
  await deleteTopics(admin, [...raw, normalized, validationDlq, webhookDlq]);
  await admin.deleteGroups([group]).catch(() => undefined);
  await admin.disconnect();
});

test('a member joining and another leaving mid-stream: every raw record placed exactly once', async () => {
  for (const [t, topic] of raw.entries()) {
    await produce(
      kafka,
      topic,
      Array.from({ length: TOTAL / raw.length }, (_, i) => ({
        key: `k${t}-${i}`,
        value: JSON.stringify({ id: `evt_${t}_${i}`, valid: i % 7 !== 0 }),
      })),
    );
  }
  const a = startChild(0);
  let b: Child | null = null;
  try {
    await waitFor('A makes progress', async () => (await committed()) >= 500, 60_000, 50);
    b = startChild(1);
    const bc = b;
    await waitFor('B gets partitions', async () => assignments(bc).some((n) => n > 0), 60_000, 50);
    const atJoin = await committed();
    assert.ok(atJoin < TOTAL - 1000, `B joined mid-stream (${atJoin} committed)`);
    await waitFor('progress after B joined', async () => (await committed()) >= atJoin + 500, 90_000, 50);
    a.proc.kill('SIGTERM');
    assert.equal(await exited(a.proc), 0, 'A leaves cleanly');
    const atLeave = await committed();
    assert.ok(atLeave < TOTAL, `A left mid-stream (${atLeave} committed)`);
    await waitFor('B takes over every partition', async () => assignments(bc).at(-1) === 8, 60_000, 50);
    await waitFor('B finishes', async () => (await committed()) === TOTAL, 120_000);
  } finally {
    if (a.proc.exitCode === null) a.proc.kill('SIGKILL');
    if (b) {
      b.proc.kill('SIGTERM');
      await exited(b.proc);
    }
  }
  const r = await reconcile({
    kafka: createKafka({ brokers: addr.kafkaBrokers, clientId: 'reconcile-test', log: silentLogger }),
    databaseUrl: addr.databaseUrl,
    rawTopics: raw,
    normalizedTopic: normalized,
    validationDlqTopic: validationDlq,
    webhookDlqTopic: webhookDlq,
    transformerGroup: group,
    quarantineGroup: `${prefix}no-quarantine`,
    edgeMetricsUrl: null,
    scanTimeoutMs: 60_000,
  });
  assert.equal(r.stages.raw.total, TOTAL);
  assert.equal(r.stages.transformer.lag, 0);
  assert.deepEqual(r.stages.placement, {
    raw_fully_placed: TOTAL,
    raw_missing_outputs: 0,
    duplicate_outputs: 0,
    unattributed_outputs: 0,
  });
  assert.equal(r.stages.normalized.records + r.stages.validation_dlq.records, TOTAL);
});
