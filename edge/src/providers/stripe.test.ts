import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Stripe from 'stripe';
import {
  checkStripe,
  parseStripeSignatureHeader,
  type StripeSignatureHeader,
  stripeSignature,
  verifyStripeSignature,
} from './stripe.ts';
import { type Rejected, unauthorized } from './verdict.ts';

const secret = 'whsec_test_secret_12345';
const opts = { secrets: [Buffer.from(secret)], toleranceSeconds: 300 };
const body = Buffer.from('{"test": "data"}');
const sdk = new Stripe('sk_test_unused');
const event = (over: Record<string, unknown> = {}) =>
  Buffer.from(
    JSON.stringify({
      id: 'evt_1234567890abcdef',
      type: 'payment_intent.succeeded',
      data: { object: { id: 'pi_1234567890abcdef', amount: 2000, currency: 'usd' } },
      ...over,
    }),
  );
const headers = (h: Record<string, string>) => new Headers(h);

describe('Stripe signature', () => {
  test('matches the golden vectors of original-system 9.1', () => {
    assert.equal(
      stripeSignature(secret, '1700000000', body).toString('hex'),
      '122e377bdecdc1af010bd49635b4617ca5f37592f4fa0390ddea83a6edcbb4fe',
    );
    assert.equal(
      stripeSignature('whsec_test_secret_for_dev', '1700000000', body).toString('hex'),
      'a459e8cdc3be716105691842686675a5a889fea1cafef07db30863132f265804',
    );
  });

  test('accepts the golden vector at its own time and rejects it 301 s later as expired', () => {
    const h = 't=1700000000,v1=122e377bdecdc1af010bd49635b4617ca5f37592f4fa0390ddea83a6edcbb4fe';
    assert.equal(verifyStripeSignature(h, body, opts, 1_700_000_000), null);
    assert.equal(verifyStripeSignature(h, body, opts, 1_700_000_300), null);
    assert.equal(verifyStripeSignature(h, body, opts, 1_700_000_301)?.code, 'signature_expired');
    assert.equal(verifyStripeSignature(h, body, opts, 1_699_999_699)?.code, 'signature_expired');
  });

  // The async SDK variants: under Bun the stripe package resolves to its worker build (WebCrypto, async only).
  test('accepts exactly what the official SDK generateTestHeaderString produces', async () => {
    const now = Math.floor(Date.now() / 1000);
    const payload = event().toString();
    const header = await sdk.webhooks.generateTestHeaderStringAsync({ payload, secret, timestamp: now });
    assert.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.equal(verifyStripeSignature(header, Buffer.from(payload), opts, now), null);
    // and the SDK agrees with us on a signature we compute
    const ours = `t=${now},v1=${stripeSignature(secret, String(now), Buffer.from(payload)).toString('hex')}`;
    assert.equal((await sdk.webhooks.constructEventAsync(payload, ours, secret)).id, 'evt_1234567890abcdef');
  });

  test('the SDK and we both reject a tampered body', async () => {
    const now = Math.floor(Date.now() / 1000);
    const payload = event().toString();
    const header = await sdk.webhooks.generateTestHeaderStringAsync({ payload, secret, timestamp: now });
    const tampered = payload.replace('2000', '2001');
    await assert.rejects(sdk.webhooks.constructEventAsync(tampered, header, secret));
    assert.equal(verifyStripeSignature(header, Buffer.from(tampered), opts, now)?.code, 'invalid_signature');
  });

  test('any v1 may match, under any rotated secret; v0 and whitespace are tolerated', () => {
    const good = stripeSignature(secret, '1700000000', body).toString('hex');
    const h = ` t=1700000000 , v0=abc, v1=${'0'.repeat(64)} ,v1=${good} `;
    const rotated = { secrets: [Buffer.from('whsec_new'), Buffer.from(secret)], toleranceSeconds: 300 };
    assert.equal(verifyStripeSignature(h, body, rotated, 1_700_000_000), null);
    assert.equal(
      verifyStripeSignature(h, body, { ...rotated, secrets: [Buffer.from('whsec_new')] }, 1_700_000_000)?.code,
      'invalid_signature',
    );
  });

  test('a repeated or malformed t is a 401, not a crash', () => {
    const v1 = `v1=${'a'.repeat(64)}`;
    for (const h of [`t=1,t=2,${v1}`, `t=abc,${v1}`, `t=,${v1}`, v1, 't=1700000000', 'garbage', `t=1.5,${v1}`]) {
      const r = verifyStripeSignature(h, body, opts, 1_700_000_000);
      assert.equal(r?.status, 401, h);
      assert.equal(r?.code, 'malformed_signature', h);
    }
    assert.equal(verifyStripeSignature(null, body, opts, 0)?.code, 'missing_signature');
    assert.equal(verifyStripeSignature('  ', body, opts, 0)?.code, 'missing_signature');
    // blank exactly as trim() === '': Unicode spaces and line terminators count, anything else does not
    assert.equal(verifyStripeSignature('\t\u00a0\u2028\ufeff\r\n', body, opts, 0)?.code, 'missing_signature');
    assert.equal(verifyStripeSignature(' \u200b ', body, opts, 0)?.code, 'malformed_signature');
  });

  test('whitespace of any kind String.trim removes is tolerated around items, keys and values', () => {
    const good = stripeSignature(secret, '1700000000', body).toString('hex');
    for (const ws of [' ', '\t', '\u00a0', '\u2028', '\ufeff', ' \t ']) {
      const h = `${ws}t${ws}=${ws}1700000000${ws},${ws}v1${ws}=${ws}${good}${ws},${ws}`;
      assert.equal(verifyStripeSignature(h, body, opts, 1_700_000_000), null, JSON.stringify(h));
    }
    assert.equal(verifyStripeSignature(`,,t=1700000000,,v1=${good},,`, body, opts, 1_700_000_000), null);
  });

  test('malformed items are a 401 malformed_signature; keys are matched exactly', () => {
    const v1 = `v1=${'a'.repeat(64)}`;
    for (const h of [
      `=5,t=1,${v1}`,
      ` =5,t=1,${v1}`,
      `t=1,${v1},x`,
      `t=1,v1`,
      `T=1,${v1}`,
      `tt=1,${v1}`,
      `t=1,V1=${'a'.repeat(64)}`,
    ]) {
      const p = parseStripeSignatureHeader(h);
      assert.ok('ok' in p, h);
      assert.equal(p.code, 'malformed_signature', h);
    }
    // `v 1` is an unknown key (ignored), a value with inner whitespace is not hex (ignored)
    const p = parseStripeSignatureHeader(`t=1,v 1=${'a'.repeat(64)},v1=${'a'.repeat(32)} ${'a'.repeat(31)},${v1}`);
    assert.ok(!('ok' in p));
    assert.equal(p.v1.length, 1);
    assert.equal(p.timestampText, '1');
  });

  test('every hex digit of v1 counts: changing any one of them fails the check', () => {
    const good = stripeSignature(secret, '1700000000', body).toString('hex');
    assert.equal(verifyStripeSignature(`t=1700000000,v1=${good}`, body, opts, 1_700_000_000), null);
    for (let i = 0; i < 64; i++) {
      for (const d of '0123456789abcdef') {
        if (d === good[i]) continue;
        const bad = good.slice(0, i) + d + good.slice(i + 1);
        const r = verifyStripeSignature(`t=1700000000,v1=${bad}`, body, opts, 1_700_000_000);
        assert.equal(r?.code, 'invalid_signature', bad);
      }
    }
  });

  test('v1 must be 64 lowercase hex characters; at most 16 are kept', () => {
    const p = parseStripeSignatureHeader(`t=5,v1=${'A'.repeat(64)},v1=${'a'.repeat(63)},v1=${'a'.repeat(65)}`);
    assert.ok('ok' in p);
    const many = parseStripeSignatureHeader(
      `t=5,${Array.from({ length: 20 }, (_, i) => `v1=${i.toString(16).padStart(64, '0')}`).join(',')}`,
    );
    assert.ok(!('ok' in many));
    assert.equal(many.v1.length, 16);
    assert.equal(many.v1[15], '0f'.padStart(64, '0'));
    // a candidate that fails half-way through decoding is dropped and its slot reused by the next good one
    const good = 'c'.repeat(64);
    for (const bad of [
      `${'a'.repeat(63)}g`,
      `${'b'.repeat(32)}\u00e9${'b'.repeat(31)}`,
      `${'d'.repeat(40)}F${'d'.repeat(23)}`,
    ]) {
      const mixed = parseStripeSignatureHeader(`t=5,v1=${bad},v1=${good}`);
      assert.ok(!('ok' in mixed));
      assert.deepEqual(mixed.v1, [good]);
    }
  });

  test('the one-scan parser agrees with the split/trim/regex parser it replaced on random headers', () => {
    const pieces = [
      't',
      'v1',
      'v0',
      '=',
      ',',
      ' ',
      '\t',
      '\u00a0',
      '1700000000',
      '12',
      'x',
      '-',
      'a'.repeat(64),
      'F'.repeat(64),
      '0'.repeat(64),
      '1'.repeat(13),
      '\u00e9',
    ];
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      let h = '';
      const n = 1 + rand(10);
      for (let j = 0; j < n; j++) h += pieces[rand(pieces.length)];
      if (rand(2) === 0) h = `t=${rand(2) ? '17' : ' 17 '},v1 = ${'b'.repeat(64)},${h}`;
      const got = parseStripeSignatureHeader(h);
      const want = referenceParse(h);
      if ('ok' in want) {
        assert.ok('ok' in got, JSON.stringify(h));
        assert.equal(got.message, want.message, JSON.stringify(h));
      } else {
        assert.ok(!('ok' in got), JSON.stringify(h));
        assert.equal(got.timestampText, want.timestampText, JSON.stringify(h));
        assert.equal(got.timestamp, want.timestamp, JSON.stringify(h));
        assert.deepEqual(got.v1, want.v1, JSON.stringify(h));
      }
    }
  });

  test('parses several v1 values and ignores non-hex ones', () => {
    const p = parseStripeSignatureHeader(`t=5,v1=${'b'.repeat(64)},v1=nothex,v1=${'c'.repeat(64)}`);
    assert.ok(!('ok' in p));
    assert.equal(p.v1.length, 2);
  });
});

describe('Stripe routing', () => {
  const signed = (b: Buffer, now: number) => ({
    'stripe-signature': `t=${now},v1=${stripeSignature(secret, String(now), b).toString('hex')}`,
  });
  const now = 1_800_000_000;

  test('routes by type prefix and keys by payment intent', () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{}, 'webhooks.stripe.payment_intent', 'pi_1234567890abcdef'],
      [
        { type: 'charge.succeeded', data: { object: { id: 'ch_1', payment_intent: 'pi_9' } } },
        'webhooks.stripe.charge',
        'pi_9',
      ],
      [
        { type: 'charge.dispute.created', data: { object: { id: 'dp_1', charge: 'ch_2' } } },
        'webhooks.stripe.charge',
        'ch_2',
      ],
      [{ type: 'refund.created', data: { object: { id: 're_1' } } }, 'webhooks.stripe.refund', 're_1'],
      [
        { type: 'invoice.payment_failed', data: { object: { id: 'in_1', charge: 'ch_5' } } },
        'webhooks.stripe.invoice',
        'ch_5',
      ],
      [
        { type: 'checkout.session.completed', data: { object: { id: 'cs_1', payment_intent: 'pi_7' } } },
        'webhooks.stripe.checkout_session',
        'pi_7',
      ],
      // Outside the vocabulary: webhooks.stripe.other, keyed by the event id.
      [
        { type: 'customer.created', data: { object: { id: 'cus_1' } } },
        'webhooks.stripe.other',
        'evt_1234567890abcdef',
      ],
    ];
    for (const [over, topic, key] of cases) {
      const b = event(over);
      const v = checkStripe(headers(signed(b, now)), b, opts, now);
      assert.ok(v.ok, JSON.stringify(v));
      assert.equal(v.topic, topic);
      assert.equal(v.key, key);
      assert.equal(v.eventId, 'evt_1234567890abcdef');
    }
  });

  test('bad JSON and missing fields are 400 after a valid signature', () => {
    const cases: [Buffer, string][] = [
      [Buffer.from('{not json'), 'invalid_json'],
      [Buffer.from('[1,2]'), 'invalid_field'],
      [event({ id: undefined }), 'missing_field'],
      [event({ id: 42 }), 'missing_field'],
      [event({ type: null }), 'missing_field'],
      [event({ data: {} }), 'missing_field'],
    ];
    for (const [b, code] of cases) {
      const v = checkStripe(headers(signed(b, now)), b, opts, now);
      assert.equal(v.ok, false);
      assert.equal(!v.ok && v.status, 400);
      assert.equal(!v.ok && v.code, code);
    }
  });

  test('checks the signature before parsing', () => {
    const v = checkStripe(
      headers({ 'stripe-signature': `t=${now},v1=${'0'.repeat(64)}` }),
      Buffer.from('{bad'),
      opts,
      now,
    );
    assert.equal(!v.ok && v.code, 'invalid_signature');
  });
});

/** The previous split/trim/regex parser, kept as the oracle for the one-scan parser. */
function referenceParse(header: string): StripeSignatureHeader | Rejected {
  let timestampText: string | null = null;
  const v1: string[] = [];
  for (const rawItem of header.split(',')) {
    const item = rawItem.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) return unauthorized('malformed_signature', 'Stripe-Signature item without key=value');
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 't') {
      if (timestampText !== null) return unauthorized('malformed_signature', 'Stripe-Signature has more than one t');
      timestampText = value;
    } else if (key === 'v1') {
      if (/^[0-9a-f]{64}$/.test(value) && v1.length < 16) v1.push(value);
    }
  }
  if (timestampText === null) return unauthorized('malformed_signature', 'Stripe-Signature has no timestamp t');
  if (!/^\d{1,12}$/.test(timestampText))
    return unauthorized('malformed_signature', 'Stripe-Signature timestamp t is not a Unix time');
  if (v1.length === 0) return unauthorized('malformed_signature', 'Stripe-Signature has no v1 signature');
  return { timestamp: Number(timestampText), timestampText, v1 };
}
