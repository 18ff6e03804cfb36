import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { createInferenceClient, InferenceUnavailableError, MAX_RESPONSE_BYTES } from './inference-client.ts';

let port = 0;
const server = createServer((req, res) => {
  if (req.url === '/big') {
    // Over the bound, without a Content-Length (chunked): cut off while it arrives.
    res.writeHead(200, { 'content-type': 'application/json' });
    for (let i = 0; i < 40; i++) res.write(Buffer.alloc(8192, 0x20));
    return res.end('{}');
  }
  if (req.url === '/big-declared') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': MAX_RESPONSE_BYTES + 1 });
    return res.end(Buffer.alloc(MAX_RESPONSE_BYTES + 1, 0x20));
  }
  if (req.url === '/garbage') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 2654435761) >>> 24)));
  }
  if (req.url === '/slow') return void setTimeout(() => res.end('{}'), 2000);
  if (req.url === '/echo') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    return void req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(Buffer.concat(chunks));
    });
  }
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

  it('sends the JSON body and reads the answer back over a kept-alive connection', async () => {
    const c = createInferenceClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2000 });
    const body = { items: Array.from({ length: 64 }, (_, i) => ({ event_id: `e${i}`, note: 'é✓' })) };
    assert.deepEqual(await c.post('/echo', body), body);
    assert.deepEqual(await c.post('/echo', body), body);
    c.close();
  });

  it('refuses answers over the bound, declared or not, and garbage bytes, as retryable', async () => {
    const c = createInferenceClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2000 });
    await assert.rejects(c.post('/big', {}), /more than 262144 bytes/);
    await assert.rejects(c.post('/big-declared', {}), /more than 262144 bytes/);
    await assert.rejects(c.post('/garbage', {}), (err: unknown) => {
      assert.ok(err instanceof InferenceUnavailableError);
      assert.match(err.message, /non-JSON/);
      return true;
    });
    c.close();
  });

  it('gives up after timeoutMs, retryable', async () => {
    const c = createInferenceClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 200 });
    await assert.rejects(c.post('/slow', {}), (err: unknown) => {
      assert.ok(err instanceof InferenceUnavailableError);
      assert.match(err.message, /timeout/);
      return true;
    });
    c.close();
  });
});
