/**
 * Drift checks: the literals the Rust crate repeats are the ones @pep/contracts owns (ISO 4217 exponents, provider
 * codes, output header names, the copied edge headers and their bound, the fields and their order of unified events
 * and validation-DLQ records, as both cores write them), and the tables the twin mirrors from the crate (the
 * high-nominal bound list, the limits) are the same data.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  COPIED_HEADER_MAX_BYTES,
  COPIED_HEADERS,
  CURRENCY_EXPONENTS,
  DLQ_CODES,
  OUTPUT_HEADERS,
  PROVIDER_CODES,
  PROVIDERS,
  UNIFIED_EVENT_FIELDS,
  VALIDATION_DLQ_FIELDS,
} from '@pep/contracts';
import { BATCH_HEADER_BYTES, COMPRESSION_CODECS } from '@pep/kafka-wire/record-batch';
import { HIGH_NOMINAL } from '../src/currency.ts';
import { packBatch, recordStrings } from '../src/index.ts';
import { LIMITS } from '../src/types.ts';
import { caseMessage, cases, impls, NORMALIZED_AT_MS } from './helpers.ts';

const rust = (file: string) =>
  readFileSync(fileURLToPath(new URL(`../crates/core/src/${file}`, import.meta.url)), 'utf8');

test('ISO 4217 table and high-nominal list match currency.rs', () => {
  const src = rust('currency.rs');
  const table = src.slice(src.indexOf('pub const CURRENCIES'), src.indexOf('];', src.indexOf('pub const CURRENCIES')));
  const pairs = [...table.matchAll(/\("([A-Z]{3})", (\d)\)/g)].map((m) => [m[1], Number(m[2])]);
  assert.ok(pairs.length > 150);
  assert.deepEqual(Object.entries(CURRENCY_EXPONENTS), pairs);
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

/** The string literals of a Rust `const NAME: [...] = [...];` array, in order. */
function rustArray(src: string, name: string): string[] {
  const m = new RegExp(`const ${name}: [^=]+ = \\[([^\\]]*)\\];`).exec(src);
  assert.ok(m, `${name} not found`);
  return [...(m[1] as string).matchAll(/b?"([^"]*)"/g)].map((x) => x[1] as string);
}

test('records.rs repeats the contracts: provider codes, copied headers and their bound, output header names', () => {
  const src = rust('records.rs');
  assert.deepEqual(rustArray(src, 'PROVIDER_NAMES'), [...PROVIDERS]);
  for (const p of PROVIDERS) assert.equal(PROVIDER_CODES[p], PROVIDERS.indexOf(p));
  assert.deepEqual(rustArray(src, 'COPIED'), [...COPIED_HEADERS]);
  assert.match(src, new RegExp(`const COPIED_HEADER_MAX_BYTES: usize = ${COPIED_HEADER_MAX_BYTES};`));
  const own = Object.values(OUTPUT_HEADERS).filter((h) => !(COPIED_HEADERS as readonly string[]).includes(h));
  for (const h of own) assert.ok(src.includes(`b"${h}"`), `records.rs does not write the header ${h}`);
  assert.ok(src.includes(`"failure_reason\\":\\"${DLQ_CODES.recordTooLarge}\\"`), 'RECORD_TOO_LARGE in records.rs');
});

test("records.rs repeats kafka-wire's RecordBatch constants: header size, compression codecs", () => {
  const src = rust('records.rs');
  assert.match(src, new RegExp(`const BATCH_HEADER_BYTES: usize = ${BATCH_HEADER_BYTES};`));
  assert.deepEqual(rustArray(src, 'COMPRESSION_NAMES'), [...COMPRESSION_CODECS]);
});

test('both cores write unified events and validation-DLQ records with the contract fields, in order', async () => {
  const { native, js } = await impls();
  const code: Record<string, number> = PROVIDER_CODES;
  for (const impl of [native, js]) {
    let events = 0;
    let dlq = 0;
    cases.forEach((c, i) => {
      const batch = packBatch([{ ...caseMessage(c, i), provider: 'stripe' }]);
      const r = impl.normalizeBatch(
        { ...batch, providers: new Uint8Array([code[c.provider] ?? 9]) },
        { normalizedAtMs: NORMALIZED_AT_MS },
      );
      for (const e of recordStrings(r.events)) {
        assert.deepEqual(Object.keys(JSON.parse(e)), [...UNIFIED_EVENT_FIELDS], `${impl.kind} ${c.name}`);
        events++;
      }
      for (const d of recordStrings(r.dlq)) {
        assert.deepEqual(Object.keys(JSON.parse(d)), [...VALIDATION_DLQ_FIELDS], `${impl.kind} ${c.name}`);
        dlq++;
      }
    });
    assert.ok(events > 20 && dlq > 20, `${impl.kind}: ${events} events, ${dlq} DLQ records checked`);
  }
});
