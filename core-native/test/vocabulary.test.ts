/**
 * Drift checks of the event-type vocabulary (CONTRACT section 6): contracts' EVENT_TYPES, the Rust literals of
 * crates/core/src/vocabulary.rs and the twin's src/vocabulary.ts are the same list; the Rust and twin mapping tables
 * are the same rows; every type any provider module can emit is in the vocabulary; the edge's routing (contracts)
 * sends every mapped provider type to a raw topic, and nothing else for Adyen and Braintree; the README's mapping
 * tables list every row; the feature rules only test vocabulary prefixes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ADYEN_ROUTED_CODES,
  BRAINTREE_ROUTED_KINDS,
  EVENT_TYPES as CONTRACT_TYPES,
  OTHER_TOPICS,
  routeEvent,
} from '@pep/contracts';
import { FEATURES } from '../src/features.ts';
import { ADYEN_TYPES, BRAINTREE_TYPES, CREDIT_TYPES, SQUARE_TYPES, STRIPE_TYPES } from '../src/vocabulary.ts';

const twin = { ADYEN_TYPES, BRAINTREE_TYPES, CREDIT_TYPES, SQUARE_TYPES, STRIPE_TYPES };

const root = fileURLToPath(new URL('../', import.meta.url));
const rust = readFileSync(`${root}crates/core/src/vocabulary.rs`, 'utf8');
const readme = readFileSync(`${root}README.md`, 'utf8');

/** The string literals of `pub const NAME ... = [ ... ];` in vocabulary.rs, grouped by row (tuple) when rows exist. */
function rustConst(name: string): string[][] {
  const m = new RegExp(`pub const ${name}: [^=]+= &?\\[([\\s\\S]*?)\\n\\];`).exec(rust);
  assert.ok(m, `vocabulary.rs defines ${name}`);
  const body = m[1] as string;
  const rows = [...body.matchAll(/\(([^)]*)\)/g)].map((r) =>
    [...(r[1] as string).matchAll(/"([^"]*)"/g)].map((x) => x[1] as string),
  );
  return rows.length > 0 ? rows : [...body.matchAll(/"([^"]*)"/g)].map((x) => [x[1] as string]);
}

describe('event-type vocabulary drift', () => {
  it("the Rust literals list contracts' names in the same order (the twin reads contracts directly)", () => {
    const fromRust = rustConst('EVENT_TYPES').map((r) => r[0]);
    assert.deepEqual(fromRust, [...CONTRACT_TYPES]);
  });

  it('the Rust and twin mapping tables hold the same rows', () => {
    for (const name of ['STRIPE_TYPES', 'SQUARE_TYPES', 'ADYEN_TYPES', 'BRAINTREE_TYPES', 'CREDIT_TYPES'] as const) {
      assert.deepEqual(
        rustConst(name),
        twin[name].map((row) => [...row]),
        name,
      );
    }
  });

  it('every type a provider module can emit is in the vocabulary', () => {
    const vocabulary = new Set<string>(CONTRACT_TYPES);
    const tables = [twin.STRIPE_TYPES, twin.SQUARE_TYPES, twin.BRAINTREE_TYPES, twin.CREDIT_TYPES];
    for (const t of tables) for (const [, v] of t) assert.ok(vocabulary.has(v), v);
    for (const [, ok, failed] of twin.ADYEN_TYPES) assert.ok(vocabulary.has(ok) && vocabulary.has(failed));
    // The status-dependent rules return literals of their own: every literal an `*_event_type` function returns.
    const fns = [
      ['crates/core/src/providers/stripe.rs', 'pub fn stripe_event_type'],
      ['crates/core/src/providers/square.rs', 'pub fn square_event_type'],
      ['crates/core/src/providers/adyen.rs', 'pub fn adyen_event_type'],
      ['crates/core/src/providers/braintree.rs', 'pub fn braintree_event_type'],
      ['src/providers/stripe.ts', 'export function stripeEventType'],
      ['src/providers/square.ts', 'export function squareEventType'],
      ['src/providers/adyen.ts', 'export function adyenEventType'],
      ['src/providers/braintree.ts', 'export function braintreeEventType'],
    ];
    let returned = 0;
    for (const [file, head] of fns) {
      const text = readFileSync(`${root}${file}`, 'utf8');
      const at = text.indexOf(head as string);
      assert.ok(at >= 0, `${file} defines ${head}`);
      const body = text.slice(at, text.indexOf('\n}\n', at));
      for (const m of body.matchAll(/(?:=>|return)\s*["']([a-z_]+\.[a-z_]+)["']/g)) {
        returned++;
        assert.ok(vocabulary.has(m[1] as string), `${file}: returns ${m[1]}, not in the vocabulary`);
      }
    }
    assert.ok(returned >= 20, `found the rules' literals (${returned})`);
  });

  it('the edge routes every mapped provider type to a raw topic, and only those for Adyen and Braintree', () => {
    for (const [t] of twin.STRIPE_TYPES) assert.notEqual(routeEvent('stripe', [t]), OTHER_TOPICS.stripe, t);
    for (const [t] of twin.SQUARE_TYPES) assert.notEqual(routeEvent('square', [t]), OTHER_TOPICS.square, t);
    for (const t of ['charge.dispute.closed', 'refund.updated', 'charge.refund.updated', 'checkout.session.completed'])
      assert.notEqual(routeEvent('stripe', [t]), OTHER_TOPICS.stripe, t);
    for (const t of [
      'payment.created',
      'payment.updated',
      'refund.updated',
      'terminal.refund.updated',
      'dispute.state.updated',
    ])
      assert.notEqual(routeEvent('square', [t]), OTHER_TOPICS.square, t);
    assert.deepEqual(
      twin.ADYEN_TYPES.map(([c]) => c),
      [...ADYEN_ROUTED_CODES],
    );
    assert.deepEqual(
      twin.BRAINTREE_TYPES.map(([k]) => k),
      [...BRAINTREE_ROUTED_KINDS],
    );
  });

  it("core-native's README lists every row of every mapping table", () => {
    const row = (cells: string[]) => `| ${cells.map((c) => `\`${c}\``).join(' | ')} |`;
    for (const name of ['STRIPE_TYPES', 'SQUARE_TYPES', 'BRAINTREE_TYPES', 'CREDIT_TYPES'] as const) {
      for (const [k, v] of twin[name]) assert.ok(readme.includes(row([k, v])), `README ${name}: ${row([k, v])}`);
    }
    for (const [c, ok, failed] of twin.ADYEN_TYPES)
      assert.ok(readme.includes(row([c, ok, failed])), `README ADYEN_TYPES: ${c}`);
    for (const t of CONTRACT_TYPES) assert.ok(readme.includes(`\`${t}\``), t);
  });

  it('the feature rules test only prefixes of vocabulary names', () => {
    const typed = FEATURES.filter((f) => f.source === 'event' && f.field === 'event_type');
    assert.ok(typed.length >= 2, 'is_refund and is_dispute read event_type');
    for (const f of typed) {
      for (const v of f.values ?? [])
        assert.ok(
          CONTRACT_TYPES.some((t) => t.startsWith(v)),
          `${f.name}: ${v}`,
        );
    }
  });
});
