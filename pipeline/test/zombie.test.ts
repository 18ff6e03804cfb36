/**
 * The zombie case, end to end: a transformer process is frozen (SIGSTOP) in the middle of the stream for longer
 * than its session timeout, so the group evicts it and a second instance (another transactional id, so no
 * producer fencing) takes over and finishes the stream. Then the frozen one wakes up (SIGCONT) with a chunk in hand.
 * TxnOffsetCommit carries the generation the records were fetched under (KIP-447); the group coordinator refuses it
 * (ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID) and the transaction is aborted. Sending generation -1 instead (no fence)
 * makes this test fail (checked by hand). `transformer_membership_aborts_total` counts the aborted transaction. Afterwards every raw record is
 * in `payments.normalized` exactly once and the committed offsets are at the end (not rewound by the zombie).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, privatePipeline, produce, readAll, waitFor } from './helpers.ts';

const here = dirname(fileURLToPath(import.meta.url));
const { raw, normalized, validationDlq, transformerGroup, kafka, admin } = privatePipeline('zombie', [
  'webhooks.stripe.charge',
]);

const TOTAL = 3000;
const SESSION_TIMEOUT_MS = 6000;

function startChild(instance: string, metricsPort: number): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'transformer-child.ts')], {
    env: {
      ...process.env,
      TRANSFORMER_INPUT_TOPICS: raw.join(','),
      TRANSFORMER_NORMALIZED_TOPIC: normalized,
      TRANSFORMER_DLQ_TOPIC: validationDlq,
      TRANSFORMER_GROUP_ID: transformerGroup,
      TRANSFORMER_TRANSACTIONAL_ID: `${transformerGroup}-${instance}`,
      TRANSFORMER_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
      TRANSFORMER_METRICS_PORT: String(metricsPort),
      // Small, slow chunks: the process is almost always inside a chunk (normalizing or committing) when frozen.
      TRANSFORMER_MAX_BATCH_MESSAGES: '50',
      PIPELINE_TEST_NORMALIZE_DELAY_MS: '40',
      PIPELINE_LOG_LEVEL: 'error',
      PIPELINE_TEST_NORMALIZER: 'echo',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function committed(): Promise<number> {
  const offs = await admin.fetchOffsets({ groupId: transformerGroup, topics: [...raw] });
  return offs.flatMap((t) => t.partitions).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : 0;
}

const exited = (c: ChildProcess) =>
  new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

test('a transformer frozen past its session timeout wakes up as a zombie: its stale transaction is aborted, every record once', async () => {
  await produce(
    kafka,
    raw[0] as string,
    Array.from({ length: TOTAL }, (_, i) => ({
      key: `evt_${i}`,
      value: JSON.stringify({ id: `evt_${i}`, valid: true }),
      headers: { 'received-at': new Date().toISOString() },
    })),
  );
  const portA = await freePort();
  const a = startChild('a', portA);
  let b: ChildProcess | null = null;
  try {
    await waitFor('first instance progress', async () => (await committed()) >= 300, 90_000, 20);
    a.kill('SIGSTOP');
    const atFreeze = await committed();
    assert.ok(atFreeze < TOTAL, `frozen mid-stream (committed ${atFreeze} of ${TOTAL})`);

    // The group evicts the frozen member after the session timeout; the second instance then owns every partition.
    b = startChild('b', await freePort());
    await waitFor('second instance finished the stream', async () => (await committed()) === TOTAL, 120_000, 200);

    a.kill('SIGCONT');
    // The zombie finishes the chunk it held, reaches its commit, and must abort it; then it re-joins the group.
    const aborts = await waitFor(
      'the zombie aborted its stale transaction',
      async () => {
        const n = await metric(portA, 'transformer_membership_aborts_total');
        return n >= 1 ? n : false;
      },
      30_000,
      200,
    );
    assert.ok(aborts >= 1);
    // Let both members settle in the new generation; the committed offsets must still be at the end.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(await committed(), TOTAL, 'the zombie did not rewind the committed offsets');
  } finally {
    a.kill('SIGCONT');
    a.kill('SIGTERM');
    b?.kill('SIGTERM');
    await exited(a);
    if (b) await exited(b);
  }

  const records = await readAll(kafka, [normalized, validationDlq], 60_000);
  const sources = new Map<string, number>();
  for (const r of records) {
    const k = `${r.headers['source-partition']}/${r.headers['source-offset']}`;
    sources.set(k, (sources.get(k) ?? 0) + 1);
  }
  const duplicates = [...sources].filter(([, n]) => n > 1);
  assert.deepEqual(duplicates.slice(0, 5), [], 'no raw record has two outputs');
  assert.equal(sources.size, TOTAL, 'every raw record has its output');
  assert.equal(records.length, TOTAL);
});
