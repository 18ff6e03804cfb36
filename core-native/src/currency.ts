/**
 * Amount bounds per currency, mirrored from `crates/core/src/currency.rs` (a test checks that the tables are identical);
 * the ISO 4217 exponents are @pep/contracts' CURRENCY_EXPONENTS.
 */
import { CURRENCY_EXPONENTS } from '@pep/contracts';

export const CURRENCIES = CURRENCY_EXPONENTS;

export const DEFAULT_MAX_MINOR = 100_000_000;
export const HIGH_NOMINAL: readonly string[] = [
  'COP',
  'GNF',
  'IDR',
  'IRR',
  'KHR',
  'KPW',
  'LAK',
  'LBP',
  'MGA',
  'MMK',
  'MNT',
  'PYG',
  'SLE',
  'SOS',
  'SYP',
  'TZS',
  'UGX',
  'UZS',
  'VES',
  'VND',
];
export const HIGH_NOMINAL_MAX_MINOR = 1_000_000_000_000;

/** Exponent of a known uppercase code, or undefined. */
export const exponentOf = (code: string): number | undefined =>
  Object.hasOwn(CURRENCIES, code) ? CURRENCIES[code] : undefined;

export class AmountBounds {
  private readonly max = new Map<string, number>();

  constructor(overrides: Readonly<Record<string, number>> = {}) {
    for (const code of Object.keys(CURRENCIES)) {
      this.max.set(code, HIGH_NOMINAL.includes(code) ? HIGH_NOMINAL_MAX_MINOR : DEFAULT_MAX_MINOR);
    }
    for (const code of Object.keys(overrides).sort()) {
      const v = overrides[code] as number;
      if (exponentOf(code) === undefined)
        throw new RangeError(`amount bound for unknown currency ${JSON.stringify(code)}`);
      if (!Number.isInteger(v) || v < 0) throw new RangeError(`amountMaxMinor.${code} must be a non-negative integer`);
      if (v > Number.MAX_SAFE_INTEGER) throw new RangeError(`amount bound for ${code} exceeds 2^53-1`);
      this.max.set(code, v);
    }
  }

  maxFor(code: string): number {
    return this.max.get(code) ?? DEFAULT_MAX_MINOR;
  }
}
