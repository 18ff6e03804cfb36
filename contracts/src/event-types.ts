/**
 * The event-type vocabulary of the unified event (CONTRACT section 6) and the edge's routing of provider event types
 * to raw topics (CONTRACT section 5). One vocabulary across providers: each provider's mapping table lives in
 * core-native (crates/core/src/vocabulary.rs and its twin src/vocabulary.ts, documented in core-native's README);
 * core-native/test/vocabulary.test.ts fails when the Rust literals, the twin or the routing below drift apart.
 * Not the place for the mapping itself (status-dependent rules need the payload) or for topic names (topics.ts).
 */

import { OTHER_TOPICS, type OtherTopic, type Provider, RAW_TOPICS, type RawTopic, type RawTopicKey } from './topics.ts';

/** Every `event_type` a unified event can carry. New names are added through an issue (CONTRACT section 6). */
export const EVENT_TYPES = [
  'payment.authorized',
  'payment.captured',
  'payment.succeeded',
  'payment.failed',
  'payment.canceled',
  'payment.pending',
  'payment.requires_action',
  'payment.settled',
  'refund.created',
  'refund.succeeded',
  'refund.failed',
  'dispute.opened',
  'dispute.updated',
  'dispute.evidence_submitted',
  'dispute.won',
  'dispute.lost',
  'dispute.funds_withdrawn',
  'dispute.funds_reinstated',
  'invoice.paid',
  'invoice.payment_failed',
  'payout.paid',
  'payout.failed',
  'other',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The type of a routed event that maps to no vocabulary name; its original stays in `provider_event_type`. */
export const OTHER_EVENT_TYPE: EventType = 'other';

export function isEventType(t: string): t is EventType {
  return (EVENT_TYPES as readonly string[]).includes(t);
}

/**
 * Stripe and Square: an event type goes to the raw category of the first prefix it starts with; a type matching no
 * prefix (customer.created, card.created, …) goes to `webhooks.<provider>.other`. Square terminal refunds are refunds
 * (their `data.type` is `refund`); the `charge.` category holds Stripe's charge disputes and charge refunds.
 */
export const TYPE_PREFIX_ROUTES: Readonly<
  Record<'stripe' | 'square', readonly (readonly [prefix: string, category: RawTopicKey])[]>
> = {
  stripe: [
    ['payment_intent.', 'stripe.payment_intent'],
    ['charge.', 'stripe.charge'],
    ['refund.', 'stripe.refund'],
    ['invoice.', 'stripe.invoice'],
    ['checkout.session.', 'stripe.checkout_session'],
  ],
  square: [
    ['payment.', 'square.payment'],
    ['refund.', 'square.refund'],
    ['terminal.refund.', 'square.refund'],
    ['dispute.', 'square.dispute'],
    ['invoice.', 'square.invoice'],
    ['payout.', 'square.payout'],
  ],
};

/**
 * Adyen eventCodes that core-native maps (its ADYEN_TYPES table): a standard notification with at least one item of
 * these codes goes to `webhooks.adyen.notification`; one with none of them (REPORT_AVAILABLE, RECURRING_CONTRACT,
 * ORDER_OPENED, …) and every whole-body notification (`{type, data}`, e.g. ach.notificationOfChange) to
 * `webhooks.adyen.other`.
 */
export const ADYEN_ROUTED_CODES: readonly string[] = [
  'AUTHORISATION',
  'AUTHORISATION_ADJUSTMENT',
  'CAPTURE',
  'CAPTURE_FAILED',
  'CANCELLATION',
  'TECHNICAL_CANCEL',
  'CANCEL_OR_REFUND',
  'EXPIRE',
  'OFFER_CLOSED',
  'PENDING',
  'REFUND',
  'REFUND_WITH_DATA',
  'POSTPONED_REFUND',
  'REFUND_FAILED',
  'REFUNDED_REVERSED',
  'VOID_PENDING_REFUND',
  'REQUEST_FOR_INFORMATION',
  'NOTIFICATION_OF_CHARGEBACK',
  'CHARGEBACK',
  'SECOND_CHARGEBACK',
  'CHARGEBACK_REVERSED',
  'PREARBITRATION_WON',
  'PREARBITRATION_LOST',
  'INFORMATION_SUPPLIED',
  'DISPUTE_DEFENSE_PERIOD_ENDED',
  'ISSUER_COMMENTS',
  'ISSUER_RESPONSE_TIMEFRAME_EXPIRED',
  'PAYOUT_THIRDPARTY',
  'PAYOUT_DECLINE',
  'PAYOUT_EXPIRE',
  'PAIDOUT_REVERSED',
];

/**
 * Braintree kinds that core-native maps (its BRAINTREE_TYPES table) go to `webhooks.braintree.notification`; every
 * other kind (check, account and merchant-account events, payment-method and subscription lifecycle notices) goes to
 * `webhooks.braintree.other`.
 */
export const BRAINTREE_ROUTED_KINDS: readonly string[] = [
  'transaction_settled',
  'transaction_settlement_declined',
  'transaction_disbursed',
  'transaction_reviewed',
  'transaction_retried',
  'refund_failed',
  'subscription_charged_successfully',
  'subscription_charged_unsuccessfully',
  'dispute_opened',
  'dispute_under_review',
  'dispute_disputed',
  'dispute_won',
  'dispute_lost',
  'dispute_accepted',
  'dispute_auto_accepted',
  'dispute_expired',
  'local_payment_completed',
  'local_payment_funded',
  'local_payment_expired',
  'local_payment_reversed',
  'disbursement',
  'disbursement_exception',
];

/** Where the edge writes a verified event of `provider` whose type (Adyen: any item's eventCode) is `types`. */
export function routeEvent(provider: Provider, types: readonly string[]): RawTopic | OtherTopic {
  switch (provider) {
    case 'stripe':
    case 'square': {
      const t = types[0] ?? '';
      for (const [prefix, category] of TYPE_PREFIX_ROUTES[provider]) {
        if (t.startsWith(prefix)) return RAW_TOPICS[category];
      }
      return OTHER_TOPICS[provider];
    }
    case 'adyen':
      return types.some((c) => ADYEN_ROUTED_CODES.includes(c)) ? RAW_TOPICS['adyen.notification'] : OTHER_TOPICS.adyen;
    case 'braintree':
      return types.some((k) => BRAINTREE_ROUTED_KINDS.includes(k))
        ? RAW_TOPICS['braintree.notification']
        : OTHER_TOPICS.braintree;
  }
}
