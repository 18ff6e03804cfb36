/**
 * The two reference seeds, generated so they cannot drift from their sources: `currencies.csv` from core-native's ISO
 * 4217 table (the transformer's own list of valid currencies and minor-unit exponents), `exchange_rates.csv` from the
 * monthly reference rates below. `npm run seeds -w @pep/dbt` rewrites both; a unit test fails when the committed files
 * differ from what this module generates.
 *
 * The rates are illustrative month-start reference values (value of one major unit in USD), not market data: replace
 * the table (or the seed) with your treasury's rates; nothing else changes.
 */
import { CURRENCIES } from '@pep/core-native/currency';

export const REPORTING_CURRENCY = 'USD';

/** USD per major unit at the start of 2024, and the monthly drift applied from there (deterministic). */
const BASE_RATES: Readonly<Record<string, readonly [number, number]>> = {
  EUR: [1.09, 0.0009],
  GBP: [1.27, 0.0007],
  CAD: [0.74, -0.0004],
  AUD: [0.67, -0.0005],
  CHF: [1.15, 0.0006],
  SEK: [0.096, 0.00004],
  NOK: [0.094, 0.00003],
  DKK: [0.146, 0.0001],
  JPY: [0.0069, -0.000004],
  KWD: [3.25, 0.0004],
  BHD: [2.65, 0],
  CNY: [0.139, -0.00005],
  INR: [0.012, -0.000006],
  BRL: [0.2, -0.0004],
  MXN: [0.058, 0.00002],
  SGD: [0.75, 0.0003],
  HKD: [0.128, 0],
  NZD: [0.61, -0.0003],
  PLN: [0.25, 0.0002],
  ZAR: [0.053, 0.00001],
  KRW: [0.00076, -0.0000004],
};
const FIRST_MONTH = { year: 2024, month: 0 };
const MONTHS = 48;

export function currenciesCsv(): string {
  const rows = Object.entries(CURRENCIES)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([code, exponent]) => `${code},${exponent}`);
  return `currency,minor_unit_exponent\n${rows.join('\n')}\n`;
}

export function exchangeRatesCsv(): string {
  const lines = ['rate_date,currency,reporting_currency,rate_to_reporting'];
  for (let m = 0; m < MONTHS; m++) {
    const d = new Date(Date.UTC(FIRST_MONTH.year, FIRST_MONTH.month + m, 1)).toISOString().slice(0, 10);
    for (const [code, [base, drift]] of Object.entries(BASE_RATES).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!(code in CURRENCIES)) throw new Error(`exchange rate for ${code}, which is not an ISO 4217 code`);
      // a drift plus a small seasonal wobble, rounded to 10 significant digits
      const rate = (base + drift * m) * (1 + 0.01 * Math.sin(m / 2));
      lines.push(`${d},${code},${REPORTING_CURRENCY},${Number(rate.toPrecision(10))}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
