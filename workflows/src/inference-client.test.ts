import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { createInferenceClient, InferenceUnavailableError } from './inference-client.ts';

let port = 0;
const server = createServer((req, res) => {
  const status = Number(req.url?.slice(1));
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ status }));
});

describe('inference client error mapping', () => {
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  it('returns the JSON body on 200', async () => {
    const c = createInferenceClient({ baseUrl: `http://127.0.0.1:${port}/`, timeoutMs: 2000 });
    assert.deepEqual(await c.post('/200', {}), { status: 200 });
  });

  it('makes 5xx and 429 retryable', async () => {
    const c = createInferenceClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2000 });
    await assert.rejects(c.post('/503', {}), InferenceUnavailableError);
    await assert.rejects(c.post('/429', {}), InferenceUnavailableError);
  });

  it('makes other 4xx a non-retryable ApplicationFailure', async () => {
    const c = createInferenceClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2000 });
    await assert.rejects(c.post('/422', {}), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.nonRetryable, true);
      assert.equal(err.type, 'InferenceRequestRejected');
      return true;
    });
  });

  it('makes a refused connection retryable', async () => {
    const c = createInferenceClient({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 2000 });
    await assert.rejects(c.post('/x', {}), InferenceUnavailableError);
  });
});
