/**
 * Drift check of the provider twins' structure: `src/providers/<p>.ts` has the units of `crates/core/src/providers/<p>.rs`
 * under the same names (camelCase) in the same order, so a change to one side has an obvious place on the other. The
 * byte-level agreement of their output is the differential tests'; this test fails when a unit is added, renamed or
 * moved on one side only.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const read = (rel: string) => readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');
const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Top-level functions of a Rust module, camelCased, in file order. */
const rustUnits = (src: string) =>
  [...src.matchAll(/^(?:pub(?:\(crate\))? )?fn (\w+)/gm)].map((m) => camel(m[1] as string));
/** Top-level functions of a TypeScript module (declarations and arrow-function constants), in file order. */
const tsUnits = (src: string) =>
  [...src.matchAll(/^(?:export )?(?:function (\w+)|const (\w+) = (?:async )?\()/gm)].map(
    (m) => (m[1] ?? m[2]) as string,
  );

/** Rust functions the twin writes as a lookup table (`Record`) or does not need (Rust's `Read`/`Result` plumbing). */
const RUST_ONLY = new Set([
  'adyenStatus',
  'adyenMethod',
  'adyenCardBrand',
  'braintreeKindStatus',
  'braintreeTxnStatus',
  'braintreeInstrument',
  'own',
  'squareSourceType',
  'squarePaymentStatus',
  'squareRefundStatus',
  'payloadNotObject',
  'okOrErr',
]);
/** Twin helpers Rust gets from the language (`Ok(event)`, a `match` on the kind, byte order of `str`, `match` tables). */
const TS_ONLY = new Set(['accept', 'missingCode', 'compareKeys', 'mapLookup']);

for (const [rs, ts] of [
  ['mod.rs', 'common.ts'],
  ['stripe.rs', 'stripe.ts'],
  ['square.rs', 'square.ts'],
  ['adyen.rs', 'adyen.ts'],
  ['braintree.rs', 'braintree.ts'],
] as const) {
  test(`providers/${ts} has the units of providers/${rs}, same names, same order`, () => {
    const r = rustUnits(read(`../crates/core/src/providers/${rs}`)).filter((u) => !RUST_ONLY.has(u));
    const t = tsUnits(read(`../src/providers/${ts}`)).filter((u) => !TS_ONLY.has(u));
    assert.ok(r.length >= 5, `found only ${r.length} units in ${rs}`);
    assert.deepEqual(t, r);
  });
}
