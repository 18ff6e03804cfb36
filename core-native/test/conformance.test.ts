/**
 * The shared conformance table (original cases 9.3, crash inputs 2.9, real payloads, hostile
 * inputs) against both implementations: hand-written expectations and the exact golden bytes
 * that `cargo test` also checks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadCore, packBatch, recordKey, recordStrings } from '../src/index.ts';
import { type Case, CPU_BOUND, caseMessage, cases, golden, impls, NORMALIZED_AT_MS } from './helpers.ts';

const { native, js } = await impls();

function field(ev: unknown, key: string): unknown {
  let idx = 0;
  let p = key;
  const m = /^(\d+)\.(.*)$/.exec(key);
  if (m) {
    idx = Number(m[1]);
    p = m[2] as string;
  }
  // biome-ignore lint/suspicious/noExplicitAny: walks arbitrary parsed JSON in a test
  let cur: any = (ev as unknown[])[idx];
  for (const part of p.split('.')) cur = cur?.[part] === undefined ? '<absent>' : cur[part];
  return cur;
}

for (const impl of [native, js]) {
  describe(`conformance (${impl.kind})`, () => {
    cases.forEach((c, i) => {
      test(c.name, () => {
        const msg = caseMessage(c, i);
        const r = impl.normalizeBatch(
          {
            ...packBatch([{ ...msg, provider: 'stripe' }]),
            providers: new Uint8Array([{ stripe: 0, square: 1, adyen: 2, braintree: 3 }[c.provider as 'stripe'] ?? 9]),
          },
          { normalizedAtMs: NORMALIZED_AT_MS },
        );
        const events = recordStrings(r.events);
        const dlq = recordStrings(r.dlq);
        const parsed = events.map((e) => JSON.parse(e));
        parsed.forEach((e, k) => {
          assert.equal(recordKey(r.events, k), e.event_id);
        });
        const x = c.expect;
        if (x.events !== undefined) assert.equal(events.length, x.events, 'event count');
        if (x.dlq !== undefined) assert.equal(dlq.length, x.dlq, 'DLQ count');
        if (x.codes) {
          const codes = dlq.flatMap((d) => JSON.parse(d).validation_errors.map((e: { code: string }) => e.code));
          assert.deepEqual(codes, x.codes);
        }
        for (const [k, want] of Object.entries(x.fields ?? {})) assert.deepEqual(field(parsed, k), want, k);
        assert.deepEqual({ events, dlq }, golden[c.name], 'golden bytes');
        assert.equal(r.status[0], dlq.length === 0 ? 0 : events.length === 0 ? 1 : 2);
      });
    });
  });
}

test('a whole batch of every case gives the same bytes from both implementations', CPU_BOUND, () => {
  const batch = packBatch(cases.filter((c) => c.provider !== 'unknown').map((c, i) => caseMessage(c, i)));
  const a = native.normalizeBatch(batch, { normalizedAtMs: NORMALIZED_AT_MS });
  const b = js.normalizeBatch(batch, { normalizedAtMs: NORMALIZED_AT_MS });
  assert.deepEqual(Buffer.from(a.events.data), Buffer.from(b.events.data));
  assert.deepEqual(Buffer.from(a.dlq.data), Buffer.from(b.dlq.data));
  for (const k of ['offsets', 'lengths', 'keyOffsets', 'keyLengths', 'sourceIndex'] as const) {
    assert.deepEqual(Array.from(a.events[k]), Array.from(b.events[k]), `events.${k}`);
    assert.deepEqual(Array.from(a.dlq[k]), Array.from(b.dlq[k]), `dlq.${k}`);
  }
  assert.deepEqual(Buffer.from(a.events.keys), Buffer.from(b.events.keys));
  assert.deepEqual(Buffer.from(a.dlq.keys), Buffer.from(b.dlq.keys));
  assert.deepEqual(Array.from(a.status), Array.from(b.status));
});

test('caller errors throw in both implementations', () => {
  const batch = packBatch([caseMessage(cases[0] as Case, 0)]);
  for (const impl of [native, js]) {
    assert.throws(() => impl.normalizeBatch(batch, { normalizedAtMs: 1.5 }), /normalizedAtMs/);
    assert.throws(
      () => impl.normalizeBatch({ ...batch, lengths: new Uint32Array(0) }, { normalizedAtMs: 0 }),
      /lengths/,
    );
  }
});

test('an invalid receivedAtMs sends the message to the DLQ with a reason', () => {
  for (const impl of [native, js]) {
    const r = impl.normalizeOne(
      { ...caseMessage(cases[0] as Case, 0), receivedAtMs: Number.NaN },
      { normalizedAtMs: 0 },
    );
    assert.equal(r.events.length, 0);
    assert.equal(JSON.parse(r.dlq[0] as string).failure_reason, 'INVALID_RECEIVED_AT');
  }
});

test('per-currency amount bounds are configurable, identically in both implementations', async () => {
  const cfg = { amountMaxMinor: { USD: 1999 } };
  const msg = caseMessage(cases[0] as Case, 0); // 2000 USD
  const outs = [];
  for (const impl of ['native', 'js'] as const) {
    const core = await loadCore({ impl, config: cfg });
    const r = core.normalizeOne(msg, { normalizedAtMs: NORMALIZED_AT_MS });
    assert.equal(r.events.length, 0);
    assert.equal(JSON.parse(r.dlq[0] as string).failure_reason, 'INVALID_AMOUNT_TOO_LARGE');
    outs.push(r.dlq[0]);
    await assert.rejects(async () => loadCore({ impl, config: { amountMaxMinor: { XYZ: 5 } } }));
    await assert.rejects(async () => loadCore({ impl, config: { amountMaxMinor: { USD: 2 ** 60 } } }));
  }
  assert.equal(outs[0], outs[1]);
});
