/**
 * Temporal smoke test: a real workflow run by a Node worker (@temporalio/worker) against the local dev server —
 * a durable timer, an activity that fails once and is retried by the server, the result read back by the client —
 * and proof that the server keeps its state in the SQLite file under .stack/temporal/.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SERVICE_DEFAULTS, serviceAddresses } from '@pep/contracts';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { stackStatus, startService, stopService } from '../src/index.ts';
import { STATE_DIR } from '../src/paths.ts';
import { tcpOpen } from '../src/service.ts';
import { createSmokeActivities } from './fixtures/activities.ts';
import type { smokeWorkflow } from './fixtures/workflows.ts';
import { ensureServices, uniqueName, withTimeout } from './support.ts';

const DB_FILE = join(STATE_DIR, 'temporal', 'temporal.db');

// The worker's INFO/WARN logs (bundling, the planned activity failure) would bury the test report.
Runtime.install({ logger: new DefaultLogger('ERROR') });

/** Runs a worker for `taskQueue` until `work` (given a client) settles; closes its connection either way. */
async function runWorkerUntil<T>(taskQueue: string, work: (client: Client) => Promise<T>): Promise<T> {
  const workerConnection = await NativeConnection.connect({ address: serviceAddresses().temporalAddress });
  const connection = await Connection.connect({ address: serviceAddresses().temporalAddress, connectTimeout: 10_000 });
  try {
    const worker = await Worker.create({
      connection: workerConnection,
      namespace: SERVICE_DEFAULTS.temporal.namespace,
      taskQueue,
      workflowsPath: fileURLToPath(new URL('./fixtures/workflows.ts', import.meta.url)),
      activities: createSmokeActivities(),
      // Modest concurrency: the machine's two cores are shared.
      maxConcurrentActivityTaskExecutions: 2,
      maxConcurrentWorkflowTaskExecutions: 2,
    });
    const client = new Client({ connection, namespace: SERVICE_DEFAULTS.temporal.namespace });
    // Bundling the workflow code (in Worker.create) is bounded by the test's timeout.
    return await worker.runUntil(withTimeout(`workflow run on ${taskQueue}`, 120_000, work(client)));
  } finally {
    await connection.close();
    await workerConnection.close();
  }
}

describe('temporal', { timeout: 300_000 }, () => {
  const taskQueue = uniqueName('stack-test-tq');
  const workflowId = uniqueName('stack-test-wf');
  const { namespace } = SERVICE_DEFAULTS.temporal;
  let clientConnection: Connection;
  let client: Client;

  // The file and restart checks need the server this checkout's stack runs (not one another checkout started).
  let ours = false;

  before(async () => {
    await ensureServices(['temporal']);
    ours = (await stackStatus()).find((s) => s.name === 'temporal')?.managed ?? false;
    clientConnection = await Connection.connect({
      address: serviceAddresses().temporalAddress,
      connectTimeout: 10_000,
    });
    client = new Client({ connection: clientConnection, namespace });
  });

  after(async () => {
    await clientConnection?.close();
  });

  test('a Node worker executes a workflow with a timer and a retried activity', async () => {
    const result = await runWorkerUntil(taskQueue, (c) =>
      c.workflow.execute<typeof smokeWorkflow>('smokeWorkflow', {
        taskQueue,
        workflowId,
        args: [{ paymentId: 'pi_smoke_1', amountsMinor: [1999, 1, 8000] }],
        workflowExecutionTimeout: '2 minutes',
      }),
    );
    assert.deepEqual(result, { paymentId: 'pi_smoke_1', totalMinor: 10_000, activityAttempt: 2 });

    const description = await client.workflow.getHandle(workflowId).describe();
    assert.equal(description.status.name, 'COMPLETED');
    assert.equal(description.taskQueue, taskQueue);
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events ?? [];
    assert.ok(
      events.some((e) => e.timerFiredEventAttributes),
      'the durable timer fired',
    );
    assert.equal(events.filter((e) => e.activityTaskCompletedEventAttributes).length, 1);
  });

  test('the server keeps workflow state in the SQLite file under .stack/temporal/', (t) => {
    if (!ours) return t.skip('Temporal was not started by this checkout');
    assert.ok(existsSync(DB_FILE), `${DB_FILE} missing`);
    assert.ok(statSync(DB_FILE).size > 0, `${DB_FILE} is empty`);
    // The workflow id is stored as text in the executions tables: finding it in the file (or its journal)
    // shows the state went to disk rather than to an in-memory store.
    const dir = join(DB_FILE, '..');
    const files = readdirSync(dir).filter((f) => f.startsWith('temporal.db'));
    const found = files.some((f) => readFileSync(join(dir, f)).includes(workflowId));
    assert.ok(found, `workflow id ${workflowId} not found in ${files.join(', ')}`);
  });

  test('workflow state survives a restart of the dev server', async (t) => {
    if (!ours) return t.skip('Temporal was not started by this checkout, so the test may not restart it');
    // Started while no worker polls its queue: only the server's store holds it across the restart.
    const pendingQueue = uniqueName('stack-test-tq-restart');
    const pendingId = uniqueName('stack-test-wf-restart');
    await client.workflow.start<typeof smokeWorkflow>('smokeWorkflow', {
      taskQueue: pendingQueue,
      workflowId: pendingId,
      args: [{ paymentId: 'pi_smoke_2', amountsMinor: [250, 250] }],
      workflowExecutionTimeout: '5 minutes',
    });
    await clientConnection.close();

    const restartStartedMs = Date.now();
    await stopService('temporal');
    assert.equal(
      await tcpOpen(SERVICE_DEFAULTS.temporal.host, SERVICE_DEFAULTS.temporal.port),
      false,
      'server still up',
    );
    await startService('temporal');
    t.diagnostic(`temporal stop + start took ${Date.now() - restartStartedMs} ms`);
    clientConnection = await Connection.connect({
      address: serviceAddresses().temporalAddress,
      connectTimeout: 10_000,
    });
    client = new Client({ connection: clientConnection, namespace });

    const completed = await client.workflow.getHandle(workflowId).describe();
    assert.equal(completed.status.name, 'COMPLETED', 'the workflow completed before the restart is still known');
    const result = await runWorkerUntil(pendingQueue, (c) =>
      c.workflow.getHandle<typeof smokeWorkflow>(pendingId).result(),
    );
    assert.deepEqual(result, { paymentId: 'pi_smoke_2', totalMinor: 500, activityAttempt: 2 });
  });
});
