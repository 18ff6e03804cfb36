/**
 * The conformance table is complete and consistent: one case per published example file and per Braintree kind,
 * each with exactly one outcome, and the topic it names is where contracts' routing sends the example.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EVENT_TYPES, OTHER_TOPICS, RAW_TOPICS, routeEvent } from '@pep/contracts';
import { EXAMPLE_CASES } from './cases.ts';
import { braintreeKinds, loadExamples } from './examples.ts';

function typesOf(provider: string, body: Buffer): string[] {
  const doc = JSON.parse(body.toString('utf8'));
  if (provider !== 'adyen') return [doc.type];
  if (Array.isArray(doc.notificationItems)) {
    return doc.notificationItems.map(
      (w: { NotificationRequestItem: { eventCode: string } }) => w.NotificationRequestItem.eventCode,
    );
  }
  return [doc.type];
}

describe('conformance cases', () => {
  const key = (p: string, n: string) => `${p}/${n}`;
  const byKey = new Map(EXAMPLE_CASES.map((c) => [key(c.provider, c.name), c]));

  it('has one case per example file and per Braintree kind, and no other', () => {
    assert.equal(byKey.size, EXAMPLE_CASES.length, 'no duplicate case');
    const wanted = [
      ...loadExamples().map((e) => key(e.provider, e.name)),
      ...braintreeKinds().map((k) => key('braintree', k)),
    ];
    assert.deepEqual([...byKey.keys()].sort(), wanted.sort());
    const counts = { stripe: 31, square: 25, adyen: 47 };
    for (const [p, n] of Object.entries(counts)) {
      assert.equal(EXAMPLE_CASES.filter((c) => c.provider === p).length, n, `${p} examples`);
    }
  });

  it('gives each case exactly one outcome, with a reason whenever it is not normalized', () => {
    for (const c of EXAMPLE_CASES) {
      const outcomes = [c.event !== undefined, c.dlq !== undefined, c.topic.endsWith('.other')].filter(Boolean);
      assert.equal(outcomes.length, 1, c.name);
      if (c.event === undefined) assert.ok((c.reason ?? '').length > 10, `${c.name} says why`);
      if (c.event) {
        assert.ok(EVENT_TYPES.includes(c.event.event_type), c.name);
        assert.ok(Number.isSafeInteger(c.event.amount_minor) && c.event.amount_minor >= 0, c.name);
        assert.match(c.event.currency, /^[A-Z]{3}$/);
      }
      const raw: readonly string[] = Object.values(RAW_TOPICS);
      const other: readonly string[] = Object.values(OTHER_TOPICS);
      assert.ok(raw.includes(c.topic) || other.includes(c.topic), `${c.name}: ${c.topic} is a contract topic`);
    }
  });

  it('names the topic the edge routing of contracts sends each example to', () => {
    for (const e of loadExamples()) {
      const c = byKey.get(key(e.provider, e.name));
      assert.equal(routeEvent(e.provider, typesOf(e.provider, e.body)), c?.topic, `${e.provider}/${e.name}`);
    }
    for (const k of braintreeKinds())
      assert.equal(routeEvent('braintree', [k]), byKey.get(key('braintree', k))?.topic, k);
  });

  it('covers every event type of the vocabulary that a provider example can show', () => {
    const seen = new Set(EXAMPLE_CASES.flatMap((c) => (c.event ? [c.event.event_type] : [])));
    // payment.requires_action comes from Stripe only, and appears; every name is reachable from some example.
    assert.deepEqual(
      EVENT_TYPES.filter((t) => !seen.has(t)),
      [],
    );
  });
});
