import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INFERENCE_PATHS } from '@pep/contracts';
import { ApplicationFailure } from '@temporalio/activity';
import { InferenceUnavailableError } from './inference-client.ts';
import { withInProcessFraud } from './local-fraud.ts';

class Invalid extends Error {}
const isInvalid = (err: unknown) => err instanceof Invalid;

function setup(score: (items: readonly unknown[]) => Promise<unknown[]>) {
  const httpCalls: string[] = [];
  const http = {
    post: async <T>(path: string, _body: unknown) => {
      httpCalls.push(path);
      return { via: 'http' } as T;
    },
  };
  return { httpCalls, client: withInProcessFraud(http, { scoreFraud: score }, isInvalid) };
}

test('fraud paths are scored in process, in order; other paths still go to the service', async () => {
  const { httpCalls, client } = setup(async (items) => items.map((i) => ({ echo: i })));
  assert.deepEqual(await client.post(INFERENCE_PATHS.fraudScoreBatch, { items: [1, 2] }), {
    results: [{ echo: 1 }, { echo: 2 }],
  });
  assert.deepEqual(await client.post(INFERENCE_PATHS.fraudScore, { event_id: 'e' }), { echo: { event_id: 'e' } });
  assert.deepEqual(await client.post(INFERENCE_PATHS.churnPredictBatch, { items: [] }), { via: 'http' });
  assert.deepEqual(httpCalls, [INFERENCE_PATHS.churnPredictBatch]);
});

test('a bad item is non-retryable InferenceRequestRejected; any other failure is retryable', async () => {
  const bad = setup(async () => {
    throw new Invalid('items[1]: amount_minor must be an integer');
  }).client;
  await assert.rejects(
    bad.post(INFERENCE_PATHS.fraudScoreBatch, { items: [{}] }),
    (err: unknown) =>
      err instanceof ApplicationFailure &&
      err.nonRetryable &&
      err.type === 'InferenceRequestRejected' &&
      /items\[1\]: amount_minor/.test(err.message),
  );
  await assert.rejects(bad.post(INFERENCE_PATHS.fraudScoreBatch, { items: 'x' }), /items must be an array/);
  const down = setup(async () => {
    throw new Error('Redis timeout');
  }).client;
  await assert.rejects(
    down.post(INFERENCE_PATHS.fraudScoreBatch, { items: [{}] }),
    (err: unknown) => err instanceof InferenceUnavailableError && /Redis timeout/.test(err.message),
  );
});
