/**
 * The batch graph against the real Temporal dev server and PostgreSQL: backfills through the CLI (idempotent, then
 * incremental), bad input refused before anything runs, failure semantics (no retry for a deterministic failure,
 * steps below it blocked with its reason), a worker SIGKILLed mid-step, schedules as code, and the reconciliation
 * check's failing verdict as a visible failed run and metric.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import type pg from 'pg';
import { lastClosedPartition } from '../src/partition.ts';
import { applySchedules, type ScheduleDefinition } from '../src/schedules.ts';
import { stepEnv } from '../src/step-env.ts';
import { defaultGraph } from '../src/steps/index.ts';
import type { StepResult } from '../src/types.ts';
import { TEST_STEPS } from './fixtures/test-steps.ts';
import {
  addr,
  freePort,
  runCli,
  setupDb,
  startWorkerProcess,
  temporalClient,
  testDays,
  uniq,
  type WorkerProcess,
  waitFor,
} from './helpers.ts';

const queue = uniq('orch-test');
const topics = {
  raw: `${queue}.webhooks.stripe.charge`,
  normalized: `${queue}.normalized`,
  validationDlq: `${queue}.validation-dlq`,
  webhookDlq: `${queue}.webhooks-dlq`,
};
/** Environment of the test worker and CLIs: our queue; the reconcile step pointed at topics of our own. */
const env: NodeJS.ProcessEnv = {
  ORCH_TASK_QUEUE: queue,
  TRANSFORMER_INPUT_TOPICS: topics.raw,
  TRANSFORMER_NORMALIZED_TOPIC: topics.normalized,
  TRANSFORMER_DLQ_TOPIC: topics.validationDlq,
  TRANSFORMER_GROUP_ID: `${queue}-transformer`,
  QUARANTINE_WEBHOOK_DLQ_TOPIC: topics.webhookDlq,
  QUARANTINE_VALIDATION_DLQ_TOPIC: topics.validationDlq,
  QUARANTINE_GROUP_ID: `${queue}-quarantine`,
  TEMPORAL_TASK_QUEUE: `${queue}-payments`,
  EDGE_URL: 'http://127.0.0.1:9',
};

let pool: pg.Pool;
let temporal: Awaited<ReturnType<typeof temporalClient>>;
let worker: WorkerProcess;
let metricsPort: number;
const kafka = new Kafka({ clientId: 'orch-test', brokers: [...addr.kafkaBrokers], logLevel: logLevel.NOTHING });

before(async () => {
  pool = await setupDb();
  temporal = await temporalClient();
  const admin = kafka.admin();
  await admin.connect();
  await createTopicsAndWait(
    admin,
    Object.values(topics).map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })),
  );
  await admin.disconnect();
  metricsPort = await freePort();
  worker = await startWorkerProcess({ ...env, ORCH_METRICS_PORT: String(metricsPort) });
});

after(async () => {
  await worker?.stop();
  await temporal?.close();
  await pool?.end();
});

async function insertPayments(day: string, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    await pool.query(
      `INSERT INTO payment_events (event_id, provider, event_type, amount_minor, currency, outcome, validation_status,
          provider_created_at, workflow_id, workflow_run_id)
       VALUES ($1, 'stripe', 'payment.succeeded', $2, 'USD', 'succeeded', 'passed', $3::date + time '12:00', 'test', 'test')
       ON CONFLICT (event_id) DO NOTHING`,
      [`stripe:orch-${tag}-${day}-${i}`, 100 + i, day],
    );
  }
}

async function snapshot(days: string[]) {
  const q = async (sql: string) => (await pool.query(sql, [days])).rows;
  return {
    source_out: await q(
      'SELECT day::text, total::text FROM orch_test.source_out WHERE day = ANY($1::date[]) ORDER BY 1',
    ),
    derived_out: await q(
      'SELECT day::text, doubled::text FROM orch_test.derived_out WHERE day = ANY($1::date[]) ORDER BY 1',
    ),
    controls: await q(
      `SELECT day::text, provider, currency, events::text, amount_minor::text, run_id::text
         FROM orchestration.daily_control_totals WHERE day = ANY($1::date[]) ORDER BY 1, 2, 3`,
    ),
    runs: await q(
      `SELECT step, partition_key, status, output_version FROM orchestration.step_runs
        WHERE partition_key = ANY($1::text[]) ORDER BY id`,
    ),
  };
}

function statuses(stdout: string): Record<string, string> {
  const r = JSON.parse(stdout) as { results: { partition: string; steps: StepResult[] }[] };
  const out: Record<string, string> = {};
  for (const p of r.results) for (const s of p.steps) out[`${p.partition} ${s.step}`] = s.status;
  return out;
}

async function backfill(from: string, to: string, steps: string[]) {
  return (await temporal.client.workflow.execute('BackfillWorkflow', {
    workflowId: uniq('orch-test-backfill'),
    taskQueue: queue,
    args: [{ from, to, steps, concurrency: 2 }],
  })) as { results: { partition: string; steps: StepResult[] }[] };
}

test('npm run backfill twice: the second run changes nothing (control totals, run ids, history compared)', async () => {
  const days = testDays(3) as [string, string, string];
  for (const [i, d] of days.entries()) await insertPayments(d, i + 2, 'cli');
  const args = ['--from', days[0], '--to', days[2], '--steps', 'controls.daily-totals', '--json'];
  const first = await runCli('backfill', [...args, '--concurrency', '2'], env);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(Object.values(statuses(first.stdout)), ['succeeded', 'succeeded', 'succeeded']);
  const before = await snapshot(days);
  assert.deepEqual(
    before.controls.map((r) => [r.day, r.events, r.amount_minor]),
    [
      [days[0], '2', '201'],
      [days[1], '3', '303'],
      [days[2], '4', '406'],
    ],
  );
  const second = await runCli('backfill', args, env);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(Object.values(statuses(second.stdout)), ['unchanged', 'unchanged', 'unchanged']);
  assert.deepEqual(await snapshot(days), before, 'the second backfill changed nothing: totals, run ids, history');
});

test('a step below another runs when its upstream produced new data for the partition, and only then', async () => {
  const days = testDays(3) as [string, string, string];
  for (const [i, d] of days.entries()) {
    await pool.query('INSERT INTO orch_test.source (day, v) VALUES ($1, $2), ($1, $3)', [d, i + 1, 10 * (i + 1)]);
  }
  const steps = ['test.derived', 'test.source'];
  const flat = (r: Awaited<ReturnType<typeof backfill>>) =>
    Object.fromEntries(r.results.flatMap((p) => p.steps.map((s) => [`${p.partition} ${s.step}`, s.status])));
  const first = flat(await backfill(days[0], days[2], steps));
  assert.equal(Object.keys(first).length, 6);
  assert.ok(
    Object.values(first).every((s) => s === 'succeeded'),
    JSON.stringify(first),
  );
  const before = await snapshot(days);
  assert.deepEqual(
    before.derived_out.map((r) => r.doubled),
    ['22', '44', '66'],
  );
  const again = flat(await backfill(days[0], days[2], steps));
  assert.ok(
    Object.values(again).every((s) => s === 'unchanged'),
    JSON.stringify(again),
  );
  assert.deepEqual(await snapshot(days), before);

  await pool.query('INSERT INTO orch_test.source (day, v) VALUES ($1, 100)', [days[1]]);
  const third = flat(await backfill(days[0], days[2], steps));
  assert.equal(third[`${days[1]} test.source`], 'succeeded');
  assert.equal(third[`${days[1]} test.derived`], 'succeeded');
  assert.equal(third[`${days[0]} test.source`], 'unchanged');
  assert.equal(third[`${days[2]} test.derived`], 'unchanged');
  const after = await snapshot(days);
  assert.deepEqual(
    after.derived_out.map((r) => r.doubled),
    ['22', '244', '66'],
  );
  assert.equal(after.runs.length, before.runs.length + 2);
});

test('bad input to backfill: a clear error, exit 2, nothing started', async () => {
  const [d] = testDays(1) as [string];
  const runsOf = async () =>
    (await pool.query('SELECT count(*)::int AS n FROM orchestration.step_runs WHERE partition_key = $1', [d])).rows[0]
      .n;
  const cases: [string[], RegExp][] = [
    [
      ['--from', d, '--to', d, '--steps', 'no.such-step'],
      /unknown step "no\.such-step"; known steps: controls\.daily-totals/,
    ],
    [['--from', '2024-03-02', '--to', '2024-03-01'], /--from 2024-03-02 is after --to 2024-03-01/],
    [['--from', d, '--to', '2999-01-01'], /partition 2999-01-01 is in the future/],
    [['--from', d, '--to', d, '--steps', 'reconcile.check'], /windows; a backfill runs day steps/],
    [['--from', 'yesterday', '--to', d], /not a day partition/],
  ];
  // A day step of the real graph that cannot run here (its package has not landed its command), asked for by name.
  const real = defaultGraph();
  for (const s of real.ordered) {
    if (s.partitioning.kind !== 'day') continue;
    const why = (await s.available?.(stepEnv(pool))) ?? null;
    if (why === null) continue;
    const escaped = s.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    cases.push([['--from', d, '--to', d, '--steps', s.name], new RegExp(`${escaped} is not available yet: `)]);
    break;
  }
  for (const [args, message] of cases) {
    const r = await runCli('backfill', args, env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    if (args[0] === '--from' && args[1] === d && args[3] === d) {
      await assert.rejects(
        temporal.client.workflow.getHandle(`orch-backfill-${d}_${d}`).describe(),
        WorkflowNotFoundError,
      );
    }
  }
  assert.equal(await runsOf(), 0, 'no run was recorded');
});

test('a deterministic failure is not retried and stops the steps below it with its reason', async () => {
  const [d] = testDays(1) as [string];
  await pool.query(`INSERT INTO orch_test.flags (day, flag) VALUES ($1, 'broken')`, [d]);
  const run = (force = false) =>
    temporal.client.workflow.execute('PartitionWorkflow', {
      workflowId: uniq('orch-test-partition'),
      taskQueue: queue,
      args: [{ partition: d, steps: ['test.broken', 'test.below'], trigger: 'test', force }],
    });
  const err = await run().then(
    () => assert.fail('the partition run should fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError);
  assert.match(String(err.cause?.message), /test\.broken failed for .*\(TestBroken: .*test data of .* is broken\)/);
  const rows = async () =>
    (
      await pool.query(
        `SELECT step, status, attempts, error_type, reason FROM orchestration.step_runs WHERE partition_key = $1 ORDER BY id`,
        [d],
      )
    ).rows;
  const r1 = await rows();
  assert.equal(r1.length, 2);
  assert.deepEqual(
    [r1[0].step, r1[0].status, r1[0].attempts, r1[0].error_type],
    ['test.broken', 'failed', 1, 'TestBroken'],
  );
  assert.equal(r1[1].step, 'test.below');
  assert.equal(r1[1].status, 'blocked');
  assert.match(r1[1].reason, /upstream test\.broken failed for .*: test data of .* is broken/);

  // Same inputs again: the deterministic failure is not repeated and the blocked state is not re-recorded.
  const second = await run().then(
    (r) => r,
    (e: unknown) => e,
  );
  assert.ok(!(second instanceof Error), String(second));
  assert.equal((await rows()).length, 2);

  // Fixed data, forced: the step runs and the step below it with it.
  await pool.query(`DELETE FROM orch_test.flags WHERE day = $1`, [d]);
  const fixed = await run(true);
  assert.deepEqual(
    fixed.steps.map((s: StepResult) => [s.step, s.status]),
    [
      ['test.broken', 'succeeded'],
      ['test.below', 'succeeded'],
    ],
  );
});

test('a worker killed mid-step resumes without redoing committed chunks and without double writes', async () => {
  const [d] = testDays(1) as [string];
  const q2 = uniq('orch-test-kill');
  const first = await startWorkerProcess({ ...env, ORCH_TASK_QUEUE: q2 });
  let second: WorkerProcess | undefined;
  try {
    const handle = await temporal.client.workflow.start('StepWorkflow', {
      workflowId: uniq('orch-test-step'),
      taskQueue: q2,
      args: [{ step: 'test.chunked', partition: d, trigger: 'test' }],
    });
    // Chunks 1 and 2 committed, chunk 3 waits for the gate: kill the worker there.
    await waitFor('two committed chunks', async () => {
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM orch_test.chunk_rows WHERE day = $1', [d]);
      return rows[0].n === 2;
    });
    await first.stop('SIGKILL');
    second = await startWorkerProcess({ ...env, ORCH_TASK_QUEUE: q2 });
    await pool.query(`INSERT INTO orch_test.flags (day, flag) VALUES ($1, 'gate')`, [d]);
    const result = (await handle.result()) as StepResult;
    assert.equal(result.status, 'succeeded');
    const { rows } = await pool.query('SELECT chunk, pid FROM orch_test.chunk_rows WHERE day = $1 ORDER BY chunk', [d]);
    assert.deepEqual(
      rows.map((r) => r.chunk),
      [1, 2, 3, 4],
      'every chunk written exactly once',
    );
    assert.deepEqual(
      rows.map((r) => r.pid),
      [first.pid, first.pid, second.pid, second.pid],
      'chunks committed before the kill were not redone',
    );
    const runs = (
      await pool.query(
        `SELECT status, attempts FROM orchestration.step_runs WHERE step = 'test.chunked' AND partition_key = $1`,
        [d],
      )
    ).rows;
    assert.equal(runs.length, 1);
    assert.equal(runs[0].status, 'succeeded');
    assert.ok(runs[0].attempts >= 2, `the run resumed on a second attempt (attempts ${runs[0].attempts})`);
  } finally {
    await first.stop('SIGKILL');
    await second?.stop();
  }
});

test('schedules as code: apply is idempotent, updates a changed definition, deletes a removed one, ticks run', async () => {
  const graph = defaultGraph(TEST_STEPS);
  const ctx = {
    client: temporal.client,
    graph,
    env: stepEnv(pool),
    taskQueue: queue,
    idPrefix: `${uniq('orch-test')}-`,
    managedBy: `test-${queue}`,
  };
  const a: ScheduleDefinition = {
    name: 'fast',
    description: 'test ticks every 2 s',
    every: '2s',
    steps: ['test.source', 'test.derived'],
    partitions: 'current-and-previous',
    overlap: 'SKIP',
    catchupWindow: '1m',
  };
  const b: ScheduleDefinition = { ...a, name: 'other', every: '1h' };
  const c: ScheduleDefinition = { ...a, name: 'lake', every: '1h', steps: ['test.unavailable'] };
  try {
    const created = await applySchedules(ctx, [a, b, c]);
    assert.deepEqual(
      created.map((x) => [x.schedule, x.action, x.paused]),
      [
        ['fast', 'created', false],
        ['other', 'created', false],
        ['lake', 'created', true],
      ],
    );
    assert.match(created[2]?.note ?? '', /^not available yet: test\.unavailable: no "test-missing" script/);
    const again = await applySchedules(ctx, [a, b, c]);
    assert.ok(
      again.every((x) => x.action === 'unchanged'),
      JSON.stringify(again),
    );

    const handle = temporal.client.schedule.getHandle(`${ctx.idPrefix}fast`);
    const d1 = await handle.describe();
    assert.equal(d1.policies.overlap, 'SKIP');
    assert.equal(d1.policies.catchupWindow, 60_000);
    const changed = await applySchedules(ctx, [{ ...a, catchupWindow: '5m' }, b, c]);
    assert.deepEqual(
      changed.map((x) => x.action),
      ['updated', 'unchanged', 'unchanged'],
    );
    assert.equal((await handle.describe()).policies.catchupWindow, 300_000);

    // The schedule fires on its own: two ticks, each a completed TickWorkflow over today and yesterday.
    const ticks = await waitFor(
      'two ticks',
      async () => {
        const s = await handle.describe();
        return s.info.recentActions.length >= 2 ? s.info.recentActions : null;
      },
      60_000,
    );
    const tickResult = await temporal.client.workflow
      .getHandle(ticks[0]?.action.workflow.workflowId as string)
      .result();
    assert.equal(tickResult.length, 2);
    for (const p of tickResult) {
      assert.deepEqual(
        p.steps.map((s: StepResult) => s.step),
        ['test.source', 'test.derived'],
      );
      for (const s of p.steps) assert.ok(['succeeded', 'unchanged'].includes(s.status), JSON.stringify(s));
    }

    await waitFor('the listing to show the schedules', async () => {
      const ids: string[] = [];
      for await (const s of temporal.client.schedule.list()) ids.push(s.scheduleId);
      return ids.includes(`${ctx.idPrefix}other`);
    });
    const removed = await applySchedules(ctx, [a, c]);
    assert.deepEqual(
      removed.map((x) => [x.schedule, x.action]),
      [
        ['fast', 'updated'],
        ['lake', 'unchanged'],
        ['other', 'deleted'],
      ],
    );
  } finally {
    await waitFor('cleanup', async () => {
      await applySchedules(ctx, []);
      for await (const s of temporal.client.schedule.list()) if (s.scheduleId.startsWith(ctx.idPrefix)) return false;
      return true;
    });
  }
});

test('reconciliation every few minutes: reconciled is a succeeded run, an output without a source a visible failure', async () => {
  const window = lastClosedPartition(new Date(), { kind: 'window', minutes: 5 }).key;
  const check = () =>
    temporal.client.workflow.execute('StepWorkflow', {
      workflowId: uniq('orch-test-reconcile'),
      taskQueue: queue,
      args: [{ step: 'reconcile.check', partition: window, trigger: 'test', force: true }],
    });
  const ok = (await check()) as StepResult;
  assert.equal(ok.status, 'succeeded');
  assert.equal((ok.outputs as { verdict?: string }).verdict, 'reconciled');

  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: topics.normalized, messages: [{ key: 'stripe:evt_orphan', value: '{}' }] });
  await producer.disconnect();
  const err = await check().then(
    () => assert.fail('the check should fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError);
  assert.equal((err.cause as { type?: string }).type, 'NotReconciled');
  const { rows } = await pool.query(
    `SELECT status, attempts, error_type, reason FROM orchestration.step_runs
      WHERE step = 'reconcile.check' AND partition_key = $1 AND trigger = 'test' ORDER BY id DESC LIMIT 1`,
    [window],
  );
  assert.equal(rows[0].status, 'failed');
  assert.equal(rows[0].attempts, 1, 'a definite reconciliation failure is not retried');
  assert.match(rows[0].reason, /no output without a raw source: .*1 not traceable to a raw record/);

  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  assert.match(metrics, /orchestration_step_failures_total\{step="reconcile\.check",error_type="NotReconciled"\} 1/);
  assert.match(metrics, /orchestration_step_available\{step="test\.unavailable"\} 0/);
  assert.match(metrics, /orchestration_step_available\{step="reconcile\.check"\} 1/);
  assert.match(metrics, /orchestration_step_available\{step="dbt\.build"\} 1/);
  assert.match(metrics, /orchestration_partitions_not_succeeded\{step="reconcile\.check",status="failed"\} [1-9]/);

  const runs = await runCli('runs', ['--step', 'reconcile.check', '--status', 'failed', '--json'], env);
  assert.equal(runs.code, 0, runs.stderr);
  const listed = JSON.parse(runs.stdout) as { runs: { partition_key: string; error_type: string }[] };
  assert.ok(listed.runs.some((r) => r.partition_key === window && r.error_type === 'NotReconciled'));
});

test('review timeouts: an orphaned overdue review is expired; a running one past its deadline fails the run', async () => {
  const orphan = uniq('dlq-review-orch-test-orphan');
  const stuck = uniq('dlq-review-orch-test-stuck');
  await temporal.client.workflow.start('DlqReviewWorkflow', {
    workflowId: stuck,
    taskQueue: uniq('orch-test-no-worker'),
    args: [{ record: {}, dlq: { topic: 'x', partition: 0, offset: '0' } }],
  });
  await pool.query(
    `INSERT INTO quarantine_reviews (workflow_id, review_key, status, requested_at) VALUES
       ($1, $1, 'pending', now() - interval '8 days'), ($2, $2, 'pending', now() - interval '9 days')`,
    [orphan, stuck],
  );
  const window = lastClosedPartition(new Date(), { kind: 'window', minutes: 15 }).key;
  const check = () =>
    temporal.client.workflow.execute('StepWorkflow', {
      workflowId: uniq('orch-test-reviews'),
      taskQueue: queue,
      args: [{ step: 'quarantine.review-timeouts', partition: window, trigger: 'test', force: true }],
    });
  try {
    const err = await check().then(
      () => assert.fail('overdue timers should fail the run'),
      (e: unknown) => e as WorkflowFailedError,
    );
    assert.equal((err.cause as { type?: string }).type, 'ReviewTimersOverdue');
    assert.match(String(err.cause?.message), new RegExp(stuck));
    const state = async (id: string) =>
      (
        await pool.query('SELECT status, decided_by, decision_reason FROM quarantine_reviews WHERE workflow_id = $1', [
          id,
        ])
      ).rows[0];
    assert.deepEqual(await state(orphan), {
      status: 'expired',
      decided_by: 'orchestration:quarantine.review-timeouts',
      decision_reason: 'review deadline passed and its workflow is NOT_FOUND',
    });
    assert.equal((await state(stuck)).status, 'pending');

    await temporal.client.workflow.getHandle(stuck).terminate('test: the review workflow is gone');
    const ok = (await check()) as StepResult;
    assert.equal(ok.status, 'succeeded');
    assert.ok(
      ((ok.outputs as { orphans: { workflow_id: string }[] }).orphans ?? []).some((o) => o.workflow_id === stuck),
    );
    assert.equal((await state(stuck)).decision_reason, 'review deadline passed and its workflow is TERMINATED');
  } finally {
    await temporal.client.workflow
      .getHandle(stuck)
      .terminate('test cleanup')
      .catch(() => {});
    await pool.query('DELETE FROM quarantine_reviews WHERE workflow_id = ANY($1)', [[orphan, stuck]]);
  }
});
