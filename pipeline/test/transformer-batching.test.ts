/**
 * The transformer's whole-fetch batching and its prefetch, against the real broker with the echo core:
 * - a backlog larger than the old 1000-record limit arrives in one fetch and is transformed in one core call and
 *   committed in one transaction, every record exactly once, and the stage timeline (the bench's per-stage
 *   breakdown) charges every stage of the loop;
 * - a transaction that fails after its Produce and TxnOffsetCommit (before EndTxn) while the next fetch is already
 *   prefetched is aborted: its records stay invisible to read_committed readers, the prefetched answer is dropped,
 *   the records are fetched again from the committed offsets, and every raw record has exactly one visible output.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '@pep/contracts/log';
import type { StageHook } from '@pep/kafka-wire/transaction';
import { loadTransformerConfig } from '../src/lib/config.ts';
import { createTransformer, type TransformerCore } from '../src/transformer/create.ts';
import { StageTimeline } from '../src/transformer/stages.ts';
import { echoCore } from './fixtures/echo-normalizer.ts';
import { type PrivatePipeline, privatePipeline, produce, readAll, waitFor } from './helpers.ts';

const TOTAL = 3000;
const big = privatePipeline('batching', ['webhooks.stripe.charge']);
const abort = privatePipeline('abort', ['webhooks.stripe.charge']);

const cfgFor = (p: PrivatePipeline, extra: Record<string, string> = {}) =>
  loadTransformerConfig({
    ...process.env,
    TRANSFORMER_INPUT_TOPICS: p.raw.join(','),
    TRANSFORMER_NORMALIZED_TOPIC: p.normalized,
    TRANSFORMER_DLQ_TOPIC: p.validationDlq,
    TRANSFORMER_GROUP_ID: p.transformerGroup,
    TRANSFORMER_TRANSACTIONAL_ID: `${p.transformerGroup}-0`,
    TRANSFORMER_METRICS_PORT: '0',
    ...extra,
  });

/** The echo core, counting the records each call consumed. */
function countingCore(calls: number[]): TransformerCore {
  return {
    kind: echoCore.kind,
    transformRecordSets: (sets, opts) => {
      const out = echoCore.transformRecordSets(sets, opts);
      calls.push(out.consumed.reduce((s, n) => s + n, 0));
      return out;
    },
  };
}

/** TOTAL valid events, all on partition 0 (one partition's backlog is what one fetch must take whole). */
async function backlog(p: PrivatePipeline): Promise<void> {
  await produce(
    p.kafka,
    p.raw[0] as string,
    Array.from({ length: TOTAL }, (_, i) => ({
      partition: 0,
      key: `evt_${i}`,
      value: JSON.stringify({ id: `evt_${i}`, valid: true }),
      headers: { 'received-at': new Date().toISOString() },
    })),
  );
}

async function committed(p: PrivatePipeline): Promise<number> {
  const offs = await p.admin.fetchOffsets({ groupId: p.transformerGroup, topics: [...p.raw] });
  return offs.flatMap((t) => t.partitions).reduce((s, x) => s + Math.max(0, Number(x.offset)), 0);
}

/** Outputs per raw source record (partition/offset) among `records`. */
function perSource(records: readonly { headers: Record<string, string> }[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of records) {
    const k = `${r.headers['source-partition']}/${r.headers['source-offset']}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

test('a backlog over the old 1000-record limit is transformed in one call and one transaction, each record once', async () => {
  await backlog(big);
  const calls: number[] = [];
  const timeline = new StageTimeline();
  const t = createTransformer(cfgFor(big), countingCore(calls), silentLogger, undefined, { stages: timeline });
  await t.start();
  try {
    await waitFor('all raw offsets committed', async () => (await committed(big)) === TOTAL, 60_000);
  } finally {
    await t.stop();
  }
  // Default TRANSFORMER_MAX_BATCH_MESSAGES (10,000) and 4 MiB per partition: the backlog is one fetch, one call.
  assert.equal(Math.max(...calls), TOTAL, `records per core call: ${calls.join(', ')}`);
  assert.equal(
    calls.reduce((s, n) => s + n, 0),
    TOTAL,
    'every record transformed exactly once',
  );
  assert.equal(t.metrics.transactions.get({ result: 'committed' }), 1);
  assert.equal(t.metrics.transactions.get({ result: 'failed' }), 0);

  const out = await readAll(big.kafka, [big.normalized, big.validationDlq], 60_000);
  const sources = perSource(out);
  assert.equal(out.length, TOTAL);
  assert.equal(sources.size, TOTAL, 'every raw record has its one output');

  // The timeline charged each stage of the loop, and the stages add up to the total.
  const snap = timeline.snapshot();
  const byStage = new Map(snap.stages.map((s) => [s.stage, s]));
  for (const stage of ['fetch', 'transform', 'prepare', 'txn_add', 'txn_produce', 'txn_encode', 'txn_end']) {
    assert.ok((byStage.get(stage)?.entries ?? 0) >= 1, `stage ${stage} entered`);
  }
  assert.equal(byStage.get('transform')?.entries, 1, 'one transform for the whole backlog');
  assert.ok((byStage.get('transform')?.cpuMs ?? 0) > 0, 'the transform used CPU');
  const sum = snap.stages.reduce((s, x) => s + x.wallMs, 0);
  assert.ok(Math.abs(sum - snap.wallMs) < 1e-6 && snap.wallMs > 0);
});

test('prefetch: a transaction that fails before EndTxn is aborted, the prefetched fetch dropped, every record once', async () => {
  await backlog(abort);
  const calls: number[] = [];
  let txnEnds = 0;
  // Fails the second transaction after its Produce and TxnOffsetCommit reached the broker, right before EndTxn: the
  // producer aborts it. The third fetch is in flight by then (prefetch).
  const fault: StageHook = {
    enter(stage) {
      if (stage === 'txn_end' && ++txnEnds === 2) throw new Error('injected failure before EndTxn');
    },
  };
  const t = createTransformer(
    cfgFor(abort, { TRANSFORMER_MAX_BATCH_MESSAGES: '500', TRANSFORMER_PREFETCH: 'true' }),
    countingCore(calls),
    silentLogger,
    undefined,
    { stages: fault },
  );
  await t.start();
  try {
    await waitFor('all raw offsets committed', async () => (await committed(abort)) === TOTAL, 60_000);
  } finally {
    await t.stop();
  }
  assert.equal(t.metrics.transactions.get({ result: 'failed' }), 1, 'exactly the injected failure');
  assert.ok(Math.max(...calls) <= 500, 'TRANSFORMER_MAX_BATCH_MESSAGES bounds each call');
  assert.ok(
    calls.reduce((s, n) => s + n, 0) > TOTAL,
    'the aborted transaction\u2019s records (and the dropped prefetch) were transformed again',
  );

  const visible = await readAll(abort.kafka, [abort.normalized, abort.validationDlq], 60_000);
  const sources = perSource(visible);
  assert.deepEqual([...sources].filter(([, n]) => n > 1).slice(0, 5), [], 'no raw record has two visible outputs');
  assert.equal(sources.size, TOTAL, 'every raw record has its output');
  assert.equal(visible.length, TOTAL);
  // The aborted transaction had written its records: a read_uncommitted reader sees them, read_committed does not.
  const all = await readAll(abort.kafka, [abort.normalized, abort.validationDlq], 60_000, { readUncommitted: true });
  assert.ok(all.length > TOTAL, `read_uncommitted sees the aborted records too (${all.length} > ${TOTAL})`);
});
