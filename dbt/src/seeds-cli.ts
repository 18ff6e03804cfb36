/** Rewrites seeds/currencies.csv and seeds/exchange_rates.csv from src/seeds.ts. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_DIR } from './bronze.ts';
import { currenciesCsv, exchangeRatesCsv } from './seeds.ts';

writeFileSync(join(PACKAGE_DIR, 'seeds', 'currencies.csv'), currenciesCsv());
writeFileSync(join(PACKAGE_DIR, 'seeds', 'exchange_rates.csv'), exchangeRatesCsv());
console.log('wrote seeds/currencies.csv and seeds/exchange_rates.csv');
