/**
 * Timers of the batch graph in Temporal's time-skipping test server (the Java server from Maven Central, see
 * test-server.ts; the SDK's own download is unreachable here, started with --enable-time-skipping): a transient failure backs off 10 then 20 minutes of
 * server time and succeeds on its third attempt, in seconds of wall time; a deterministic one is not retried; a
 * schedule-started tick resolves the partitions of the time it was meant for. Activities are the real ones against
 * the stack's PostgreSQL. Schedules themselves cannot run here: this server answers CreateSchedule with
 * UNIMPLEMENTED (asserted below), so schedule behaviour is tested on the dev server (graph.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type pg from 'pg';
import { createActivities } from '../src/activities.ts';
import { stepEnv } from '../src/step-env.ts';
import { defaultGraph } from '../src/steps/index.ts';
import type { StepResult } from '../src/types.ts';
import { WORKFLOWS_PATH } from '../src/worker.ts';
import { TEST_STEPS } from './fixtures/test-steps.ts';
import { freePort, setupDb, testDays, uniq } from './helpers.ts';
import { startTimeSkippingServer, type TimeSkippingServer } from './test-server.ts';

let server: TimeSkippingServer;
let env: TestWorkflowEnvironment;
let pool: pg.Pool;
let worker: Worker;
let running: Promise<void>;
const taskQueue = uniq('orch-ts');

before(async () => {
  pool = await setupDb();
  server = await startTimeSkippingServer(await freePort());
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: server.address });
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    activities: createActivities({ graph: defaultGraph(TEST_STEPS), env: stepEnv(pool) }),
  });
  running = worker.run();
});

after(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await server?.stop();
  await pool?.end();
});

// First: the server's clock still matches the wall clock (time skipping moves it ahead, far ahead when idle).
test('a tick resolves its partitions from the scheduled time: yesterday and today for the daily graph', async () => {
  const r = (await env.client.workflow
    .execute('TickWorkflow', {
      workflowId: uniq('orch-ts-tick'),
      taskQueue,
      args: [
        {
          schedule: 'test',
          steps: ['test.derived', 'test.source'],
          partitions: 'current-and-previous',
          definitionHash: 'x',
        },
      ],
    })
    .catch((err: { cause?: Error }) => {
      throw new Error(`tick failed: ${err.cause?.message}`);
    })) as { partition: string; steps: StepResult[] }[];
  const now = Date.now();
  const today = new Date(now).toISOString().slice(0, 10);
  const yesterday = new Date(now - 86_400_000).toISOString().slice(0, 10);
  assert.deepEqual(
    r.map((p) => p.partition),
    [yesterday, today],
  );
  assert.deepEqual(
    r[0]?.steps.map((s) => s.step),
    ['test.source', 'test.derived'],
  );
});

test('a transient failure is retried with backoff (10 min, 20 min of server time) and then succeeds', async () => {
  const [d] = testDays(1) as [string];
  const wall = Date.now();
  const handle = await env.client.workflow.start('StepWorkflow', {
    workflowId: uniq('orch-ts-flaky'),
    taskQueue,
    args: [{ step: 'test.flaky', partition: d, trigger: 'test' }],
  });
  const r = (await handle.result()) as StepResult;
  assert.equal(r.status, 'succeeded');
  const info = await handle.describe();
  const skippedMs = (info.closeTime?.getTime() ?? 0) - info.startTime.getTime();
  assert.ok(skippedMs >= 30 * 60_000, `server time advanced ${skippedMs} ms, expected the 10 + 20 min backoff`);
  assert.ok(Date.now() - wall < 60_000, 'the backoff was skipped, not waited');
  const { rows } = await pool.query(
    `SELECT status, attempts FROM orchestration.step_runs WHERE step = 'test.flaky' AND partition_key = $1`,
    [d],
  );
  assert.deepEqual(rows, [{ status: 'succeeded', attempts: 3 }]);
});

test('a deterministic failure is not retried, whatever the retry policy allows', async () => {
  const [d] = testDays(1) as [string];
  await pool.query(`INSERT INTO orch_test.flags (day, flag) VALUES ($1, 'broken')`, [d]);
  await assert.rejects(
    env.client.workflow.execute('StepWorkflow', {
      workflowId: uniq('orch-ts-broken'),
      taskQueue,
      args: [{ step: 'test.broken', partition: d, trigger: 'test' }],
    }),
    (err: { cause?: { type?: string; message?: string } }) =>
      err.cause?.type === 'TestBroken' && /is broken/.test(String(err.cause.message)),
  );
  const { rows } = await pool.query(
    `SELECT status, attempts, error_type FROM orchestration.step_runs WHERE step = 'test.broken' AND partition_key = $1`,
    [d],
  );
  assert.deepEqual(rows, [{ status: 'failed', attempts: 1, error_type: 'TestBroken' }]);
});

test('this server has no schedules (why schedule tests use the dev server)', async () => {
  await assert.rejects(
    env.client.schedule.create({
      scheduleId: uniq('orch-ts-schedule'),
      spec: { intervals: [{ every: '1h' }] },
      action: { type: 'startWorkflow', workflowType: 'TickWorkflow', taskQueue },
    }),
    (err: Error) => /UNIMPLEMENTED|unimplemented/.test(`${err.message} ${String((err as { cause?: unknown }).cause)}`),
  );
});
