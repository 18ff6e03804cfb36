/**
 * Differential property tests: random valid payloads for every provider, random mutations of
 * them (field values replaced by hostile values, bytes flipped, truncated) and arbitrary bytes,
 * normalized by the native addon and by the TypeScript twin: the output bytes must be identical.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCardNumber } from '@pep/contracts/redact';
import fc from 'fast-check';
import { type CoreImpl, type OneMessage, type ProviderName, packBatch, packFeatureRows } from '../src/index.ts';
import { CPU_BOUND, cases, impls, NORMALIZED_AT_MS, payload } from './helpers.ts';

const { native, js } = await impls();
const RUNS = Number(process.env.DIFF_RUNS ?? 300);

function same(a: CoreImpl, b: CoreImpl, msgs: OneMessage[]) {
  const batch = packBatch(msgs);
  const x = a.normalizeBatch(batch, { normalizedAtMs: NORMALIZED_AT_MS });
  const y = b.normalizeBatch(batch, { normalizedAtMs: NORMALIZED_AT_MS });
  assert.equal(Buffer.from(x.events.data).toString(), Buffer.from(y.events.data).toString());
  assert.equal(Buffer.from(x.dlq.data).toString(), Buffer.from(y.dlq.data).toString());
  assert.deepEqual(Array.from(x.events.lengths), Array.from(y.events.lengths));
  assert.deepEqual(Array.from(x.dlq.lengths), Array.from(y.dlq.lengths));
  assert.deepEqual(Buffer.from(x.events.keys), Buffer.from(y.events.keys));
  assert.deepEqual(Buffer.from(x.dlq.keys), Buffer.from(y.dlq.keys));
  assert.deepEqual(Array.from(x.status), Array.from(y.status));
}

// Values that exercise the rules: null tokens, types, bounds, odd strings, numbers at the edges.
const hostile = fc.oneof(
  fc.constantFrom(
    null,
    '',
    'null',
    'NONE',
    'None',
    ' usd ',
    'XYZ',
    'jpy',
    'KWD',
    '-5.00',
    '10.555',
    '1e3',
    'abc',
    true,
    false,
  ),
  fc.constantFrom(0, -0, -1, 1.5, 100000000, 100000001, 9007199254740991, 9007199254740992, 1e300, 2 ** 53),
  fc.constantFrom('2024-01-15T12:00:00Z', '2024-02-30T00:00:00Z', '2024-01-15T12:00:00.123456789+05:30', 'x'),
  fc.constantFrom('4242', '424242424242', 'VISA', 'American Express', '411111', '\u0000', '\ud83d\ude00', 'é'),
  fc.integer({ min: -1000, max: 10 ** 10 }),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.constant(null)), {
    maxKeys: 4,
  }),
);

function paths(v: unknown, prefix: string[] = [], out: string[][] = []): string[][] {
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.push([...prefix, k]);
      paths(x, [...prefix, k], out);
    }
  }
  return out;
}

const jsonBases = cases
  .filter(
    (c) => c.input !== undefined && c.provider !== 'unknown' && c.input.startsWith('{') && (c.expect.events ?? 0) > 0,
  )
  .map((c) => ({ provider: c.provider as ProviderName, value: JSON.parse(c.input as string) }))
  .filter((b) => b.provider !== 'braintree' || typeof b.value.kind === 'string');

const mutatedJson = fc
  .tuple(
    fc.constantFrom(...jsonBases),
    fc.array(fc.tuple(fc.nat(), hostile, fc.boolean()), { minLength: 1, maxLength: 4 }),
  )
  .map(([base, edits]) => {
    const v = structuredClone(base.value);
    const ps = paths(v);
    for (const [n, val, del] of edits) {
      const p = ps[n % ps.length] as string[];
      // biome-ignore lint/suspicious/noExplicitAny: edits arbitrary parsed JSON
      let parent: any = v;
      for (const k of p.slice(0, -1)) parent = parent?.[k];
      if (parent && typeof parent === 'object') {
        if (del) delete parent[p.at(-1) as string];
        else parent[p.at(-1) as string] = val;
      }
    }
    return { provider: base.provider, bytes: JSON.stringify(v) };
  });

const rawBases = [
  ['stripe', 'stripe_payment_intent_succeeded.json'],
  ['stripe', 'stripe_charge_failed.json'],
  ['square', 'square_payment_completed.json'],
  ['adyen', 'adyen_notification.json'],
  ['braintree', 'braintree_transaction_settled.form'],
  ['braintree', 'braintree_credit_card_refund.form'],
  ['braintree', 'braintree_dispute_opened.form'],
] as const;

const mutatedBytes = fc
  .tuple(
    fc.constantFrom(...rawBases),
    fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.nat(3)), { minLength: 1, maxLength: 6 }),
  )
  .map(([[provider, file], edits]) => {
    const b = Array.from(payload(file));
    for (const [at, byte, op] of edits) {
      const i = at % Math.max(1, b.length);
      if (op === 0) b[i] = byte;
      else if (op === 1) b.splice(i, 1);
      else if (op === 2) b.splice(i, 0, byte);
      else b.length = i;
    }
    return { provider: provider as ProviderName, bytes: new Uint8Array(b) };
  });

const arbitrary = fc.tuple(
  fc.constantFrom<ProviderName>('stripe', 'square', 'adyen', 'braintree'),
  fc.uint8Array({ maxLength: 64 }),
);

const msg = (provider: ProviderName, bytes: Uint8Array | string, i: number): OneMessage => ({
  provider,
  bytes,
  topic: `webhooks.${provider}`,
  partition: i % 3,
  offset: i,
  receivedAtMs: 1_767_225_000_000 + i,
});

// Found by the property below in CI (seed -470815423): the TypeScript twin took an explicit null item for its
// wrapper object and listed missing fields, where the native one rejects the null item.
test('an Adyen wrapper whose NotificationRequestItem is null or not an object: the same rejection in both', () => {
  const good = JSON.parse(payload('adyen_notification.json').toString());
  for (const inner of [null, 'x', 7, [], true]) {
    const bytes = JSON.stringify({
      ...good,
      notificationItems: [...good.notificationItems, { NotificationRequestItem: inner }],
    });
    same(native, js, [msg('adyen', bytes, 0)]);
    const out = js.normalizeBatch(packBatch([msg('adyen', bytes, 0)]), { normalizedAtMs: NORMALIZED_AT_MS });
    assert.match(Buffer.from(out.dlq.data).toString(), /notification item must be an object/);
  }
});

test('random valid payloads with hostile field edits: identical bytes', CPU_BOUND, () => {
  fc.assert(
    fc.property(fc.array(mutatedJson, { minLength: 1, maxLength: 8 }), (ms) =>
      same(
        native,
        js,
        ms.map((m, i) => msg(m.provider, m.bytes, i)),
      ),
    ),
    { numRuns: RUNS },
  );
});

test('byte-level mutations of real payloads: identical bytes', CPU_BOUND, () => {
  fc.assert(
    fc.property(fc.array(mutatedBytes, { minLength: 1, maxLength: 8 }), (ms) =>
      same(
        native,
        js,
        ms.map((m, i) => msg(m.provider, m.bytes, i)),
      ),
    ),
    { numRuns: RUNS },
  );
});

test('arbitrary bytes: identical DLQ records, never a throw', CPU_BOUND, () => {
  fc.assert(
    fc.property(fc.array(arbitrary, { minLength: 1, maxLength: 8 }), (ms) =>
      same(
        native,
        js,
        ms.map(([p, b], i) => msg(p, b, i)),
      ),
    ),
    { numRuns: RUNS },
  );
});

// Issue 13: the redaction (card numbers in every spelling, signatures, Braintree payloads) must be byte-identical in
// both. Text built from the pieces the scanner looks at: digits, separators, escapes, signature keys, quotes.
const redactionText = fc
  .array(
    fc.oneof(
      fc.constantFrom('4111111111111111', '5555 5555 5555 4444', '3782-822463-10005', '6011000990139424'),
      fc.constantFrom('4', '1', '0', '9', ' ', '-', '_', '+', '%34', '%2', '\\u0034', '\\u00', '&#52;', '&#x34;', '&#'),
      fc.constantFrom(
        '"hmacSignature":"',
        '"signature" : "',
        'bt_signature=',
        '&',
        '=',
        '"',
        '\\',
        'bt_payload=',
        '\\"hmacSignature\\" : \\"',
        '\\"',
        '\u0000',
        // Text no parser reads: the word signature, then a long value run; damaged base64 and percent escapes.
        'Signature',
        'x-signature: ',
        'coqCmt/IZ4E3C+zPabcdef==',
        'pk|0a1b2c3d4e5f60718293',
        // Signature digests under damaged key names (redacted by their shape): base64 SHA-256, hex SHA-1 after a pipe.
        '"hmacSinature":"',
        'coqCmt/IZ4E3C+zPVKbMwQ9dGx9Mqj7Y2PyDKmYlnWw=',
        '|0123456789abcdef0123456789abcdef01234567',
        '%7C0123456789abcdef0123456789abcdef01234567',
        '%7c',
        '|',
        'PG5vdGlmaWNhdGlvbj48bm90ZT40MTExIDExMTEgMTExMSAxMTExPC9ub3RlPjwvbm90aWZpY2F0aW9uPg==',
        'NDExMSAxMTExIDExMTEgMTExMQ',
        '%ZZ',
        '!',
      ),
      fc.string({ maxLength: 3 }),
      fc.integer({ min: 0, max: 10 ** 9 }).map(String),
    ),
    { maxLength: 24 },
  )
  .map((parts) => parts.join(''));

test('redaction of card numbers and signatures: identical bytes in events and DLQ records', CPU_BOUND, () => {
  const stripeBase = JSON.parse(payload('stripe_payment_intent_succeeded.json').toString());
  fc.assert(
    fc.property(fc.array(redactionText, { minLength: 1, maxLength: 6 }), (texts) => {
      const ms = texts.flatMap((t, i) => {
        const ev = structuredClone(stripeBase);
        ev.data.object.metadata = { note: t, [t.slice(0, 40) || 'k']: 'v' };
        const bt = Buffer.from(`<notification><kind>check</kind><x>${t}</x></notification>`).toString('base64');
        return [
          msg('stripe', JSON.stringify(ev), 3 * i), // an event: metadata masked
          msg('adyen', `{"notificationItems":[${JSON.stringify(t)}], "x": ${JSON.stringify(t)}`, 3 * i + 1), // DLQ
          msg(
            'braintree',
            `bt_signature=${encodeURIComponent(t)}&bt_payload=${encodeURIComponent(bt)}&${t}`,
            3 * i + 2,
          ),
        ];
      });
      same(native, js, ms);
    }),
    { numRuns: RUNS },
  );
});

/** `n` digits starting with `prefix`, made Luhn-valid by the last digit. */
function luhnValid(prefix: string, n: number): string {
  const body = prefix.padEnd(n - 1, '3');
  let sum = 0;
  [...body].reverse().forEach((c, k) => {
    const x = Number(c);
    sum += k % 2 === 0 ? (x * 2 > 9 ? x * 2 - 9 : x * 2) : x;
  });
  return `${body}${(10 - (sum % 10)) % 10}`;
}

// The card brands' IIN table (redact.rs CARD_BRANDS, @pep/contracts/redact CARD_BRANDS) must be the same on both sides:
// a Luhn-valid number for every 4-digit prefix 1000–9999 at every length 13–19, in free text (masked or not) and as a
// customer id (CARD_NUMBER_IN_ID or not), gives identical bytes.
test('card brand table: every 4-digit prefix at every length 13-19 is judged alike', CPU_BOUND, () => {
  const stripeBase = JSON.parse(payload('stripe_payment_intent_succeeded.json').toString());
  const ms: OneMessage[] = [];
  let refused = 0;
  for (let n = 13; n <= 19; n++)
    for (let from = 1000; from < 10000; from += 100) {
      const numbers = Array.from({ length: 100 }, (_, k) => luhnValid(String(from + k), n));
      const ev = structuredClone(stripeBase);
      ev.data.object.metadata = { note: numbers.join(' x ') };
      ms.push(msg('stripe', JSON.stringify(ev), ms.length));
      // One of them as an identifier: the event is refused when it is a card number.
      const id = numbers[(from / 100) % 100] as string;
      ev.data.object.customer = `cus_${id}`;
      ev.data.object.metadata = {};
      ms.push(msg('stripe', JSON.stringify(ev), ms.length));
      if (hasCardNumber(id)) refused++;
    }
  same(native, js, ms);
  // Both kinds were exercised: some identifiers are card numbers and most are not.
  assert.ok(refused > 50 && refused < ms.length / 2 - 50, `refused ${refused}`);
});

test('feature rows are bit-identical for every normalized case and random records', CPU_BOUND, () => {
  const batch = packBatch(jsonBases.map((b, i) => msg(b.provider, JSON.stringify(b.value), i)));
  const r = native.normalizeBatch(batch, { normalizedAtMs: NORMALIZED_AT_MS });
  const events = Array.from(r.events.offsets, (o, i) => r.events.data.subarray(o, o + (r.events.lengths[i] as number)));
  const rec = fc.option(
    fc.dictionary(
      fc.constantFrom(
        'total_payments_30d',
        'failure_rate_30d',
        'avg_amount_minor_30d',
        'merchant_health_score',
        'fraud_rate_30d',
        'x',
      ),
      fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constant('7'), fc.constant(null)),
    ),
    { nil: null },
  );
  assert.equal(native.vectorizeOne(events[0] as Uint8Array).length, js.featureSpec().features.length);
  assert.deepEqual(native.featureSpec(), JSON.parse(JSON.stringify(js.featureSpec())));
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(events.length - 1), rec, rec), { minLength: 1, maxLength: 16 }), (rows) => {
      const packed = rows.map(([i, c, m]) => ({
        event: events[i] as Uint8Array,
        customer: c === null ? null : JSON.stringify(c),
        merchant: m === null ? null : JSON.stringify(m),
      }));
      const a = native.vectorizeBatch(packFeatureRows(packed));
      const b = js.vectorizeBatch(packFeatureRows(packed));
      assert.deepEqual(
        Buffer.from(a.buffer, a.byteOffset, a.byteLength),
        Buffer.from(b.buffer, b.byteOffset, b.byteLength),
      );
    }),
    { numRuns: RUNS },
  );
});
