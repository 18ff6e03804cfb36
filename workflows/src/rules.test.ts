import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EVENT_TYPES } from '@pep/contracts';
import { FAILED_TYPES, outcomeOf, SUCCEEDED_TYPES, toUnifiedEvent, VOCABULARY } from './event.ts';
import { DEFAULT_RULES_CONFIG, validateBusinessRules } from './rules.ts';

const base = {
  event_id: 'stripe:evt_1',
  provider: 'stripe',
  event_type: 'payment.succeeded',
  status: 'succeeded',
  amount_minor: 2000,
  currency: 'USD',
  customer_id: 'cus_1',
  merchant_id: 'm_1',
};
const check = (over: Record<string, unknown>) =>
  validateBusinessRules(toUnifiedEvent({ ...base, ...over }), DEFAULT_RULES_CONFIG);
const codes = (over: Record<string, unknown>) => check(over).errors.map((e) => e.code);

describe('business rules', () => {
  it('passes a normal payment and lists every rule checked', () => {
    const r = check({});
    assert.equal(r.isValid, true);
    assert.deepEqual(r.rulesChecked.length, 5);
  });

  it('does not fail a legitimate zero-amount event (Braintree check without currency)', () => {
    const r = check({
      provider: 'braintree',
      event_type: 'check.verified',
      status: 'verified',
      amount_minor: 0,
      currency: null,
    });
    assert.deepEqual(r.errors, []);
  });

  it('rejects amounts over the per-currency maximum but allows large yen amounts', () => {
    assert.deepEqual(codes({ amount_minor: 100_000_001 }), ['AMOUNT_EXCEEDS_MAXIMUM']);
    assert.deepEqual(codes({ amount_minor: 100_000_001, currency: 'JPY' }), []);
  });

  it('rejects non-integer and negative amounts', () => {
    assert.deepEqual(codes({ amount_minor: 10.5 }), ['AMOUNT_INVALID']);
    assert.deepEqual(codes({ amount_minor: -1 }), ['AMOUNT_INVALID']);
    assert.deepEqual(codes({ amount_minor: '100' }), ['AMOUNT_INVALID']);
  });

  it('rejects currencies outside the configured set', () => {
    assert.deepEqual(codes({ currency: 'XAU' }), ['CURRENCY_NOT_ALLOWED']);
    const onlyEur = { ...DEFAULT_RULES_CONFIG, allowedCurrencies: ['EUR'] };
    assert.equal(validateBusinessRules(toUnifiedEvent(base), onlyEur).isValid, false);
  });

  it('rejects blocklisted customers and merchants, including ids with underscores', () => {
    assert.deepEqual(codes({ customer_id: 'cus_blocked_001' }), ['CUSTOMER_BLOCKLISTED']);
    assert.deepEqual(codes({ merchant_id: 'merch_blocked_001' }), ['MERCHANT_BLOCKLISTED']);
  });

  it('reports every missing required field', () => {
    assert.deepEqual(codes({ provider: null, status: ' ' }), ['MISSING_REQUIRED_FIELD', 'MISSING_REQUIRED_FIELD']);
  });

  it('warns (without failing) on high values', () => {
    const r = check({ amount_minor: 5_000_000 });
    assert.equal(r.isValid, true);
    assert.equal(r.warnings[0]?.code, 'HIGH_VALUE');
  });
});

describe('unified event', () => {
  it('requires a string event_id and tolerates wrong types elsewhere', () => {
    assert.throws(() => toUnifiedEvent({}), /event_id/);
    assert.throws(() => toUnifiedEvent([]), /object/);
    const e = toUnifiedEvent({ event_id: 'x', amount_minor: 'nope', metadata: [1] });
    assert.equal(e.amount_minor, null);
    assert.deepEqual(e.metadata, {});
  });

  it('classifies successful payments across providers', () => {
    const succeeded = [
      { event_type: 'payment.succeeded', status: 'succeeded' },
      { event_type: 'payment.authorized', status: 'authorized' },
      { event_type: 'payment.captured', status: 'captured' },
      { event_type: 'payment.settled', status: 'settled' },
      { event_type: 'payment.updated', status: 'completed' },
    ];
    for (const e of succeeded) assert.equal(outcomeOf(e), 'succeeded', JSON.stringify(e));
  });

  it('classifies failures and non-payments', () => {
    assert.equal(outcomeOf({ event_type: 'payment.failed', status: 'failed' }), 'failed');
    assert.equal(outcomeOf({ event_type: 'payment.authorized', status: 'refused' }), 'failed');
    assert.equal(outcomeOf({ event_type: 'payment.settlement_declined', status: 'settlement_declined' }), 'failed');
    assert.equal(outcomeOf({ event_type: 'refund.created', status: 'succeeded' }), 'other');
    assert.equal(outcomeOf({ event_type: 'check.verified', status: 'verified' }), 'other');
    assert.equal(outcomeOf({ event_type: 'dispute.created', status: 'disputed' }), 'other');
  });

  it('classifies vocabulary types by type: an invoice payment failure takes the retry path', () => {
    assert.equal(outcomeOf({ event_type: 'invoice.payment_failed', status: 'open' }), 'failed');
    assert.equal(outcomeOf({ event_type: 'invoice.paid', status: 'paid' }), 'succeeded');
    assert.equal(outcomeOf({ event_type: 'payment.failed', status: 'requires_payment_method' }), 'failed');
    assert.equal(outcomeOf({ event_type: 'payment.pending', status: 'pending' }), 'other');
    assert.equal(outcomeOf({ event_type: 'other', status: 'succeeded' }), 'other', 'an unmapped type is no payment');
    assert.equal(
      outcomeOf({ event_type: 'refund.failed', status: 'failed' }),
      'other',
      'a failed refund is not retried',
    );
    assert.equal(outcomeOf({ event_type: 'payout.failed', status: 'failed' }), 'other');
  });

  it('sends a dispute of any provider, whatever its status, down the same path', () => {
    const disputes = [
      { event_type: 'dispute.opened', status: 'warning_needs_response' }, // Stripe
      { event_type: 'dispute.opened', status: 'evidence_required' }, // Square
      { event_type: 'dispute.funds_withdrawn', status: 'failed' }, // Adyen CHARGEBACK with success false
      { event_type: 'dispute.opened', status: 'disputed' }, // Braintree
      { event_type: 'dispute.lost', status: 'lost' },
      { event_type: 'dispute.won', status: 'won' },
    ];
    assert.deepEqual(new Set(disputes.map((e) => outcomeOf(e))), new Set(['other']));
  });

  it('holds the vocabulary of @pep/contracts', () => {
    assert.deepEqual([...VOCABULARY], [...EVENT_TYPES]);
    for (const t of [...SUCCEEDED_TYPES, ...FAILED_TYPES]) assert.ok(VOCABULARY.has(t), t);
  });
});
