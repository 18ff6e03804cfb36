/**
 * Business rules of reference section 3.6 with its gaps fixed: configurable allowed currencies, blocklists and
 * per-currency maximum amounts; legitimate zero-amount events (a Braintree `check`, a zero refund) pass; every rule is
 * reported with a code. Workflow-safe and pure (the activity wraps it with the worker's configuration).
 */
import type { UnifiedEvent } from './event.ts';

export interface BusinessRulesConfig {
  /** Uppercase ISO 4217 codes accepted for processing. */
  readonly allowedCurrencies: readonly string[];
  readonly blockedCustomers: readonly string[];
  readonly blockedMerchants: readonly string[];
  /** Largest accepted amount in minor units when the currency has no entry in maxAmountMinorByCurrency. */
  readonly maxAmountMinor: number;
  readonly maxAmountMinorByCurrency: Readonly<Record<string, number>>;
  /** Amount (minor units) above which a `high_value` warning (not an error) is added. */
  readonly highValueWarningMinor: number;
}

/** The transformer's 20 currencies (reference 2.3), so that the two validation layers agree by default. */
export const DEFAULT_ALLOWED_CURRENCIES = [
  'USD',
  'EUR',
  'GBP',
  'JPY',
  'CAD',
  'AUD',
  'CHF',
  'CNY',
  'HKD',
  'NZD',
  'SEK',
  'SGD',
  'NOK',
  'MXN',
  'INR',
  'BRL',
  'KRW',
  'ZAR',
  'DKK',
  'PLN',
] as const;

export const DEFAULT_RULES_CONFIG: BusinessRulesConfig = {
  allowedCurrencies: DEFAULT_ALLOWED_CURRENCIES,
  blockedCustomers: ['cus_blocked_001', 'cus_blocked_002', 'cus_test_blocked'],
  blockedMerchants: ['merch_blocked_001'],
  maxAmountMinor: 100_000_000,
  maxAmountMinorByCurrency: { JPY: 10_000_000_000, KRW: 100_000_000_000 },
  highValueWarningMinor: 1_000_000,
};

export const RULE_CODES = {
  amountInvalid: 'AMOUNT_INVALID',
  amountExceedsMaximum: 'AMOUNT_EXCEEDS_MAXIMUM',
  currencyNotAllowed: 'CURRENCY_NOT_ALLOWED',
  customerBlocklisted: 'CUSTOMER_BLOCKLISTED',
  merchantBlocklisted: 'MERCHANT_BLOCKLISTED',
  missingRequiredField: 'MISSING_REQUIRED_FIELD',
} as const;

export interface RuleViolation {
  readonly rule: string;
  readonly code: string;
  readonly message: string;
}

export interface RulesResult {
  readonly isValid: boolean;
  readonly errors: RuleViolation[];
  readonly warnings: RuleViolation[];
  readonly rulesChecked: string[];
}

const RULES = ['required_fields', 'amount_bounds', 'currency_allowed', 'customer_blocklist', 'merchant_blocklist'];

export function validateBusinessRules(e: UnifiedEvent, config: BusinessRulesConfig): RulesResult {
  const errors: RuleViolation[] = [];
  const warnings: RuleViolation[] = [];
  for (const field of ['event_id', 'provider', 'event_type', 'status'] as const) {
    const v = e[field];
    if (v === null || v.trim() === '') {
      errors.push({ rule: 'required_fields', code: RULE_CODES.missingRequiredField, message: `${field} is required` });
    }
  }
  const currency = (e.currency ?? '').toUpperCase();
  const amount = e.amount_minor;
  if (amount === null || !Number.isSafeInteger(amount) || amount < 0) {
    errors.push({
      rule: 'amount_bounds',
      code: RULE_CODES.amountInvalid,
      message: `amount_minor must be a non-negative integer, got ${amount}`,
    });
  } else {
    const max = config.maxAmountMinorByCurrency[currency] ?? config.maxAmountMinor;
    if (amount > max) {
      errors.push({
        rule: 'amount_bounds',
        code: RULE_CODES.amountExceedsMaximum,
        message: `amount_minor ${amount} exceeds the maximum ${max} for ${currency || 'the currency'}`,
      });
    } else if (amount > config.highValueWarningMinor) {
      warnings.push({ rule: 'amount_bounds', code: 'HIGH_VALUE', message: `amount_minor ${amount} is high` });
    }
    // Zero is legitimate (Braintree check, zero refunds, card verifications): never an error.
  }
  // A zero-amount event may legitimately carry no currency (Braintree `check`): nothing to settle, nothing to check.
  const noMoney = amount === 0 && currency === '';
  if (!noMoney && !config.allowedCurrencies.includes(currency)) {
    errors.push({
      rule: 'currency_allowed',
      code: RULE_CODES.currencyNotAllowed,
      message: `currency ${JSON.stringify(e.currency)} is not allowed`,
    });
  }
  if (e.customer_id !== null && config.blockedCustomers.includes(e.customer_id)) {
    errors.push({
      rule: 'customer_blocklist',
      code: RULE_CODES.customerBlocklisted,
      message: 'customer is blocklisted',
    });
  }
  if (e.merchant_id !== null && config.blockedMerchants.includes(e.merchant_id)) {
    errors.push({
      rule: 'merchant_blocklist',
      code: RULE_CODES.merchantBlocklisted,
      message: 'merchant is blocklisted',
    });
  }
  return { isValid: errors.length === 0, errors, warnings, rulesChecked: [...RULES] };
}
