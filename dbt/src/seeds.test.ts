import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PACKAGE_DIR } from './bronze.ts';
import { currenciesCsv, exchangeRatesCsv } from './seeds.ts';

test('the committed seeds are what src/seeds.ts generates (npm run seeds -w @pep/dbt)', () => {
  assert.equal(readFileSync(join(PACKAGE_DIR, 'seeds', 'currencies.csv'), 'utf8'), currenciesCsv());
  assert.equal(readFileSync(join(PACKAGE_DIR, 'seeds', 'exchange_rates.csv'), 'utf8'), exchangeRatesCsv());
});

test('the currency seed carries the transformer minor units (JPY 0, KWD 3, USD 2)', () => {
  const rows = new Map(
    currenciesCsv()
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',') as [string, string]),
  );
  assert.equal(rows.get('JPY'), '0');
  assert.equal(rows.get('KWD'), '3');
  assert.equal(rows.get('USD'), '2');
  assert.equal(rows.has('XYZ'), false);
});
