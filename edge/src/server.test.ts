import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '@pep/contracts/log';
import { loadConfig } from './config.ts';
import { stripeSignature } from './providers/stripe.ts';
import { type RunningEdge, runtime, startEdge } from './server.ts';
import type { MemorySink } from './sink.ts';

// The real server of this runtime (Bun.serve with its native webhook routes on Bun, @hono/node-server on Node) with
// the memory sink: the routes answer alike whichever way a request reaches the handler.
describe(`edge server on ${runtime}`, () => {
  const config = {
    ...loadConfig({ EDGE_SINK: 'memory', EDGE_MAX_BODY_BYTES: '4096', LOG_LEVEL: 'error' }),
    host: '127.0.0.1',
    port: 0,
  };
  let edge: RunningEdge;
  let base: string;
  before(async () => {
    edge = await startEdge(
      config,
      createLogger('error', {}, () => undefined),
    );
    base = `http://127.0.0.1:${edge.port}`;
  });
  after(async () => {
    await edge.stop();
  });

  const body = (id: string) =>
    JSON.stringify({ id, type: 'payment_intent.succeeded', data: { object: { id: 'pi_1', payment_intent: 'pi_1' } } });
  const post = (path: string, text: string, headers: Record<string, string> = {}) => {
    const t = String(Math.floor(Date.now() / 1000));
    const sig = stripeSignature('whsec_test_secret_for_dev', t, Buffer.from(text)).toString('hex');
    return fetch(`${base}${path}`, {
      method: 'POST',
      body: text,
      headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${sig}`, ...headers },
    });
  };

  test('POST /webhooks/stripe, with a trailing slash, a query or a percent-encoded name: 200 with x-request-id', async () => {
    for (const [i, path] of [
      '/webhooks/stripe',
      '/webhooks/stripe/',
      '/webhooks/stripe?attempt=2',
      '/webhooks/str%69pe',
    ].entries()) {
      const res = await post(path, body(`evt_s${i}`));
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      assert.deepEqual(await res.json(), { status: 'accepted', event_id: `evt_s${i}` });
    }
    const sink = edge.sink as MemorySink;
    assert.deepEqual(
      sink.records.map((r) => r.headers['event-id']),
      ['evt_s0', 'evt_s1', 'evt_s2', 'evt_s3'],
    );
    assert.equal(Buffer.from(sink.records[0]?.value as Uint8Array).toString(), body('evt_s0'));
  });

  test('an incoming x-request-id is kept; a forged signature is 401 through the same route', async () => {
    const ok = await post('/webhooks/stripe', body('evt_r'), { 'x-request-id': 'req-42' });
    assert.equal(ok.headers.get('x-request-id'), 'req-42');
    await ok.arrayBuffer();
    const forged = await fetch(`${base}/webhooks/stripe`, {
      method: 'POST',
      body: body('evt_f'),
      headers: { 'stripe-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` },
    });
    assert.equal(forged.status, 401);
    assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'invalid_signature');
    assert.ok(forged.headers.get('x-request-id'));
  });

  test('other methods on the webhook paths and unknown providers are 404 JSON; the Braintree challenge still answers', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await fetch(`${base}/webhooks/stripe`, { method, body: method === 'PUT' ? '{}' : undefined });
      assert.equal(res.status, 404, method);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
    }
    const unknown = await post('/webhooks/paypal', '{}');
    assert.equal(unknown.status, 404);
    await unknown.arrayBuffer();
    const extra = await post('/webhooks/stripe/extra', body('evt_x'));
    assert.equal(extra.status, 404);
    await extra.arrayBuffer();
    const challenge = await fetch(`${base}/webhooks/braintree?bt_challenge=20f9f8ed05f77439fe955c977e4c8a53`);
    assert.equal(challenge.status, 200);
    assert.match(await challenge.text(), /^[^|]+\|[0-9a-f]{40}$/);
  });

  test("HTTP/1.0 without a Host header (a balancer's health check): /readyz and a webhook answer as usual", async () => {
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        let got = '';
        const socket = connect(edge.port, '127.0.0.1', () => socket.write(request));
        socket.on('data', (d: Buffer) => {
          got += d.toString('latin1');
        });
        socket.on('error', reject);
        socket.on('close', () => resolve(got));
        socket.setTimeout(5000, () =>
          socket.destroy(new Error(`no answer to ${JSON.stringify(request.slice(0, 40))}`)),
        );
      });
    const ready = await raw('GET /readyz HTTP/1.0\r\n\r\n');
    assert.match(ready, /^HTTP\/1\.[01] 200 /, ready);
    assert.match(ready, /"status":"ready"/);
    const text = body('evt_http10');
    const t = String(Math.floor(Date.now() / 1000));
    const sig = stripeSignature('whsec_test_secret_for_dev', t, Buffer.from(text)).toString('hex');
    const webhook = await raw(
      `POST /webhooks/stripe HTTP/1.0\r\ncontent-type: application/json\r\nstripe-signature: t=${t},v1=${sig}\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
    );
    assert.match(webhook, /^HTTP\/1\.[01] 200 /, webhook);
  });

  test('a body over EDGE_MAX_BODY_BYTES is 413 on the native route too', async () => {
    const res = await post('/webhooks/stripe', 'x'.repeat(5000));
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'body_too_large');
  });
});
