import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkSquare, squareSignature, verifySquareSignature } from './square.ts';

const key = 'sq_signature_key_test_12345';
const url = 'https://example.com/webhooks/square/';
const opts = { keys: [Buffer.from(key)], notificationUrl: url };
const body = Buffer.from('{"test": "data"}');

const event = (over: Record<string, unknown> = {}) =>
  Buffer.from(
    JSON.stringify({
      merchant_id: 'MERCHANT123456789',
      type: 'payment.completed',
      event_id: 'evt_square_12345678',
      created_at: '2024-01-15T12:00:00Z',
      data: {
        type: 'payment',
        id: 'PAY_1',
        object: { payment: { id: 'PAY_1', amount_money: { amount: 2000, currency: 'USD' } } },
      },
      ...over,
    }),
  );
const sign = (b: Buffer) => ({ 'x-square-hmacsha256-signature': squareSignature(key, url, b).toString('base64') });
const headers = (h: Record<string, string>) => new Headers(h);

describe('Square signature', () => {
  test('matches the golden vectors of original-system 9.1', () => {
    assert.equal(squareSignature(key, url, body).toString('base64'), 'rL2fOQBBpuQRfU3gBwCOt9kFiTVU0YjKwS0VhwFg5tE=');
    assert.equal(
      squareSignature('sq_signature_key_for_dev', 'http://traefik:8000/webhooks/square/', body).toString('base64'),
      'GyVuozuEbT+ZRzQR4eMvLYXc+C78TqVE14Bq0q/fJcI=',
    );
    assert.equal(verifySquareSignature('rL2fOQBBpuQRfU3gBwCOt9kFiTVU0YjKwS0VhwFg5tE=', body, opts), null);
  });

  test('rejects a tampered body, a wrong URL, a wrong key, and a non-digest header', () => {
    const sig = 'rL2fOQBBpuQRfU3gBwCOt9kFiTVU0YjKwS0VhwFg5tE=';
    assert.equal(verifySquareSignature(sig, Buffer.from('{"test": "datA"}'), opts)?.code, 'invalid_signature');
    assert.equal(verifySquareSignature(sig, body, { ...opts, notificationUrl: `${url}x` })?.code, 'invalid_signature');
    assert.equal(
      verifySquareSignature(sig, body, { ...opts, keys: [Buffer.from('other')] })?.code,
      'invalid_signature',
    );
    assert.equal(verifySquareSignature('aW52YWxpZF9zaWduYXR1cmU=', body, opts)?.code, 'malformed_signature');
    assert.equal(verifySquareSignature(null, body, opts)?.code, 'missing_signature');
  });

  test('any rotated key verifies', () => {
    const sig = 'rL2fOQBBpuQRfU3gBwCOt9kFiTVU0YjKwS0VhwFg5tE=';
    assert.equal(verifySquareSignature(sig, body, { ...opts, keys: [Buffer.from('new-key'), Buffer.from(key)] }), null);
  });
});

describe('Square routing', () => {
  test('payment and refund types go to their topics keyed by the payment id', () => {
    const p = event();
    const v = checkSquare(headers(sign(p)), p, opts);
    assert.ok(v.ok);
    assert.deepEqual(
      [v.topic, v.key, v.eventId, v.eventType],
      ['webhooks.square.payment', 'PAY_1', 'evt_square_12345678', 'payment.completed'],
    );
    const r = event({
      type: 'refund.created',
      event_id: 'evt_r',
      data: { type: 'refund', id: 'R1', object: { refund: { id: 'R1', payment_id: 'PAY_1' } } },
    });
    const vr = checkSquare(headers(sign(r)), r, opts);
    assert.ok(vr.ok);
    assert.deepEqual([vr.topic, vr.key], ['webhooks.square.refund', 'PAY_1']);
    const o = event({ type: 'customer.created', data: { type: 'customer', id: 'C1', object: {} } });
    const vo = checkSquare(headers(sign(o)), o, opts);
    assert.ok(vo.ok);
    assert.deepEqual([vo.topic, vo.key], ['webhooks.square.other', 'evt_square_12345678']);
    const d = event({
      type: 'dispute.created',
      event_id: 'evt_d',
      data: { type: 'dispute', id: 'D1', object: { dispute: { id: 'D1', disputed_payment: { payment_id: 'PAY_9' } } } },
    });
    const vd = checkSquare(headers(sign(d)), d, opts);
    assert.ok(vd.ok);
    assert.deepEqual([vd.topic, vd.key], ['webhooks.square.dispute', 'PAY_9'], 'a dispute is keyed by its payment');
    const t = event({
      type: 'terminal.refund.updated',
      event_id: 'evt_t',
      data: { type: 'refund', id: 'TR1', object: {} },
    });
    const vt = checkSquare(headers(sign(t)), t, opts);
    assert.ok(vt.ok);
    assert.equal(vt.topic, 'webhooks.square.refund', 'a Terminal refund is a refund');
  });

  test('missing event_id, type or data is a 400', () => {
    for (const over of [{ event_id: undefined }, { type: 7 }, { data: 'x' }]) {
      const b = event(over);
      const v = checkSquare(headers(sign(b)), b, opts);
      assert.equal(!v.ok && v.code, 'missing_field');
    }
  });
});
