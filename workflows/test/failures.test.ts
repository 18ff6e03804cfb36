/**
 * Failure behaviour against the real dev server: a failing activity retries with its policy and then fails the
 * workflow visibly (no row, nothing reported as success); a rejected request is not retried; the worker killed with
 * SIGKILL in the middle of a workflow finishes it after a restart, with one row.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { paymentWorkflowId } from '@pep/contracts';
import { ActivityFailure, ApplicationFailure, type Client, WorkflowFailedError } from '@temporalio/client';
import type pg from 'pg';
import type { PaymentEventResult } from '../src/types.ts';
import {
  failureOf,
  rowsFor,
  setupDb,
  startInference,
  startTestWorker,
  temporalClient,
  unifiedEvent,
  uniq,
  waitFor,
  workerEnv,
} from './helpers.ts';

let pool: pg.Pool;
let temporal: Awaited<ReturnType<typeof temporalClient>>;
let client: Client;
const fastScoring = { scoring: { maximumAttempts: 3, initialIntervalMs: 100, maximumIntervalMs: 200 } };

before(async () => {
  pool = await setupDb();
  temporal = await temporalClient();
  client = temporal.client;
});
after(async () => {
  await temporal?.close();
  await pool?.end();
});

describe('failures are retried, then visible', () => {
  it('retries a failing fraud score with its policy, then fails the workflow with no row', async () => {
    let fraudCalls = 0;
    const inference = await startInference(async (path) => {
      if (path !== '/fraud/score') return undefined;
      fraudCalls++;
      return new Response('{"error":{"code":"internal_error","message":"down"}}', { status: 500 });
    });
    const taskQueue = uniq('wf-fail');
    const worker = await startTestWorker(taskQueue, inference.url, pool);
    try {
      const e = unifiedEvent('stripe');
      const err = await failureOf(
        client.workflow.execute('PaymentEventWorkflow', {
          taskQueue,
          workflowId: paymentWorkflowId(e.event_id as string),
          args: [{ event: e, policies: fastScoring }],
        }),
      );
      assert.ok(err instanceof WorkflowFailedError);
      assert.ok(err.cause instanceof ActivityFailure);
      assert.match(String(err.cause.cause?.message), /answered 500/);
      assert.equal(fraudCalls, 3, 'three attempts, as the policy says');
      assert.equal((await rowsFor(pool, e.event_id as string)).length, 0, 'nothing persisted after the error');
      const desc = await client.workflow.getHandle(paymentWorkflowId(e.event_id as string)).describe();
      assert.equal(desc.status.name, 'FAILED');
    } finally {
      await worker.shutdown();
      await inference.close();
    }
  });

  it('does not retry a request the inference service rejects (non-retryable)', async () => {
    let churnCalls = 0;
    const inference = await startInference(async (path) => {
      if (path !== '/churn/predict') return undefined;
      churnCalls++;
      return new Response('{"error":{"code":"invalid_request","message":"nope"}}', { status: 422 });
    });
    const taskQueue = uniq('wf-reject');
    const worker = await startTestWorker(taskQueue, inference.url, pool);
    try {
      const e = unifiedEvent('square', { event_type: 'payment.updated', status: 'completed' });
      const err = await failureOf(
        client.workflow.execute('PaymentEventWorkflow', {
          taskQueue,
          workflowId: paymentWorkflowId(e.event_id as string),
          args: [{ event: e, policies: fastScoring }],
        }),
      );
      assert.ok(err instanceof WorkflowFailedError);
      const cause = (err.cause as ActivityFailure).cause;
      assert.ok(cause instanceof ApplicationFailure);
      assert.equal(cause.type, 'InferenceRequestRejected');
      assert.equal(churnCalls, 1);
    } finally {
      await worker.shutdown();
      await inference.close();
    }
  });

  it('processes the same way with local activities', async () => {
    const inference = await startInference();
    const taskQueue = uniq('wf-local');
    const worker = await startTestWorker(taskQueue, inference.url, pool);
    try {
      const e = unifiedEvent('adyen', { event_type: 'payment.captured', status: 'captured', amount_minor: 2_000_000 });
      const r = (await client.workflow.execute('PaymentEventWorkflow', {
        taskQueue,
        workflowId: paymentWorkflowId(e.event_id as string),
        args: [{ event: e, activityMode: 'local' }],
      })) as PaymentEventResult;
      assert.equal(r.status, 'processed');
      assert.equal(r.risk_level, 'medium');
      assert.equal((await rowsFor(pool, e.event_id as string)).length, 1);
      const blocked = unifiedEvent('stripe', { merchant_id: 'merch_blocked_001' });
      const rb = (await client.workflow.execute('PaymentEventWorkflow', {
        taskQueue,
        workflowId: paymentWorkflowId(blocked.event_id as string),
        args: [{ event: blocked, activityMode: 'local' }],
      })) as PaymentEventResult;
      assert.equal(rb.status, 'rejected');
      assert.equal((await rowsFor(pool, blocked.event_id as string))[0]?.validation_status, 'failed');
    } finally {
      await worker.shutdown();
      await inference.close();
    }
  });
});

function spawnWorker(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./fixtures/worker-child.ts', import.meta.url))],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    // Bundling the workflows takes ~7 s on a quiet machine and over 60 s at load 50. A child that is not ready in time is
    // killed: left running, it kept this test file from ever exiting.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker child not ready after 180 s: ${out}`));
    }, 180_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker child exited with ${code}: ${out}`));
    });
  });
}

describe('worker crash', () => {
  let children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('finishes a workflow after the worker is killed (SIGKILL) mid-workflow and restarted', async () => {
    let release: (() => void) | undefined;
    const hung = new Promise<void>((r) => {
      release = r;
    });
    let fraudCalls = 0;
    const inference = await startInference(async (path) => {
      if (path !== '/fraud/score') return undefined;
      fraudCalls++;
      if (fraudCalls === 1) {
        await hung;
        return new Response('{}', { status: 503 });
      }
      return undefined;
    });
    const { client: c, close } = await temporalClient();
    try {
      const taskQueue = uniq('wf-crash');
      const env = workerEnv(taskQueue, inference.url);
      const first = await spawnWorker(env);
      children.push(first);
      const e = unifiedEvent('braintree', { event_type: 'payment.settled', status: 'settled' });
      const id = paymentWorkflowId(e.event_id as string);
      const handle = await c.workflow.start('PaymentEventWorkflow', {
        taskQueue,
        workflowId: id,
        args: [{ event: e, policies: { scoring: { startToCloseTimeoutMs: 3000, initialIntervalMs: 200 } } }],
      });
      await waitFor('the fraud activity to be in flight', async () => fraudCalls >= 1);
      first.removeAllListeners('exit');
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      release?.();
      assert.equal((await handle.describe()).status.name, 'RUNNING');
      const second = await spawnWorker(env);
      children.push(second);
      const r = (await handle.result()) as PaymentEventResult;
      assert.equal(r.status, 'processed');
      assert.equal(typeof r.fraud_score, 'number');
      assert.equal((await rowsFor(pool, e.event_id as string)).length, 1);
      const history = await handle.fetchHistory();
      const attempts = (history.events ?? [])
        .map((ev) => ev.activityTaskStartedEventAttributes?.attempt)
        .filter((a): a is number => typeof a === 'number');
      assert.ok(Math.max(...attempts) >= 2, 'the in-flight activity was retried on the new worker');
      second.removeAllListeners('exit');
      second.kill('SIGTERM');
      children = children.filter((x) => x !== first);
    } finally {
      await close();
      await inference.close();
    }
  });
});
