import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ADYEN_ROUTED_CODES,
  BRAINTREE_ROUTED_KINDS,
  EVENT_TYPES,
  isEventType,
  routeEvent,
  TYPE_PREFIX_ROUTES,
} from './event-types.ts';
import { OTHER_TOPICS, RAW_TOPICS } from './topics.ts';

describe('event-type vocabulary', () => {
  it('is CONTRACT section 6, each name once, `<area>.<what>` or `other`', () => {
    assert.equal(new Set(EVENT_TYPES).size, EVENT_TYPES.length);
    assert.equal(EVENT_TYPES.length, 23);
    for (const t of EVENT_TYPES) assert.match(t, /^(other|(payment|refund|dispute|invoice|payout)\.[a-z_]+)$/);
    assert.ok(isEventType('dispute.opened'));
    assert.ok(!isEventType('dispute.created'), 'the original names are not in the vocabulary');
  });
});

describe('edge routing', () => {
  it('sends Stripe and Square types to their category by prefix, the rest to webhooks.<provider>.other', () => {
    assert.equal(routeEvent('stripe', ['charge.dispute.created']), RAW_TOPICS['stripe.charge']);
    assert.equal(routeEvent('stripe', ['checkout.session.completed']), RAW_TOPICS['stripe.checkout_session']);
    assert.equal(routeEvent('stripe', ['invoice.payment_failed']), RAW_TOPICS['stripe.invoice']);
    assert.equal(routeEvent('stripe', ['customer.created']), OTHER_TOPICS.stripe);
    assert.equal(routeEvent('stripe', ['issuing_dispute.created']), OTHER_TOPICS.stripe);
    assert.equal(routeEvent('square', ['terminal.refund.updated']), RAW_TOPICS['square.refund']);
    assert.equal(routeEvent('square', ['terminal.checkout.updated']), OTHER_TOPICS.square);
    assert.equal(routeEvent('square', ['dispute.state.updated']), RAW_TOPICS['square.dispute']);
    assert.equal(routeEvent('square', ['card.created']), OTHER_TOPICS.square);
  });

  it('routes an Adyen notification with any mapped code, and a Braintree kind when it is mapped', () => {
    assert.equal(routeEvent('adyen', ['REPORT_AVAILABLE', 'CAPTURE']), RAW_TOPICS['adyen.notification']);
    assert.equal(routeEvent('adyen', ['REPORT_AVAILABLE']), OTHER_TOPICS.adyen);
    assert.equal(routeEvent('adyen', ['ach.notificationOfChange']), OTHER_TOPICS.adyen);
    assert.equal(routeEvent('braintree', ['local_payment_funded']), RAW_TOPICS['braintree.notification']);
    assert.equal(routeEvent('braintree', ['check']), OTHER_TOPICS.braintree);
  });

  it('lists routed codes and kinds once each and only raw categories of their own provider', () => {
    assert.equal(new Set(ADYEN_ROUTED_CODES).size, ADYEN_ROUTED_CODES.length);
    assert.equal(new Set(BRAINTREE_ROUTED_KINDS).size, BRAINTREE_ROUTED_KINDS.length);
    for (const [provider, routes] of Object.entries(TYPE_PREFIX_ROUTES)) {
      for (const [, category] of routes) assert.ok(category.startsWith(`${provider}.`), category);
    }
  });
});
