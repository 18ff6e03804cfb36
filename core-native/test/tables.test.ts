/**
 * The tables the twin mirrors from the Rust crate are the same data: ISO 4217 codes and
 * exponents, the high-nominal bound list, and the limits.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CURRENCIES, HIGH_NOMINAL } from '../src/currency.ts';
import { LIMITS } from '../src/types.ts';

const rust = (file: string) =>
  readFileSync(fileURLToPath(new URL(`../crates/core/src/${file}`, import.meta.url)), 'utf8');

test('ISO 4217 table and high-nominal list match currency.rs', () => {
  const src = rust('currency.rs');
  const table = src.slice(src.indexOf('pub const CURRENCIES'), src.indexOf('];', src.indexOf('pub const CURRENCIES')));
  const pairs = [...table.matchAll(/\("([A-Z]{3})", (\d)\)/g)].map((m) => [m[1], Number(m[2])]);
  assert.ok(pairs.length > 150);
  assert.deepEqual(Object.entries(CURRENCIES), pairs);
  const high = src.slice(
    src.indexOf('pub const HIGH_NOMINAL'),
    src.indexOf('];', src.indexOf('pub const HIGH_NOMINAL')),
  );
  assert.deepEqual(
    [...high.matchAll(/"([A-Z]{3})"/g)].map((m) => m[1]),
    [...HIGH_NOMINAL],
  );
});

test('batch limits match normalize.rs', () => {
  const src = rust('normalize.rs');
  const num = (name: string) => {
    const m = new RegExp(`pub const ${name}: usize = ([^;]+);`).exec(src);
    assert.ok(m, name);
    // Forms used there: `1 << 20`, `64 << 20`, `10_000`.
    const [a, shift] = (m[1] as string)
      .replaceAll('_', '')
      .split('<<')
      .map((x) => Number(x.trim()));
    return shift === undefined ? (a as number) : (a as number) * 2 ** shift;
  };
  assert.equal(num('MAX_MESSAGE_BYTES'), LIMITS.maxMessageBytes);
  assert.equal(num('MAX_BATCH_MESSAGES'), LIMITS.maxBatchMessages);
  assert.equal(num('MAX_BATCH_BYTES'), LIMITS.maxBatchBytes);
  assert.equal(num('MAX_OUTPUT_BYTES'), LIMITS.maxOutputBytes);
});
