/**
 * Kafka topics of CONTRACT section 5: the single source of truth for topic names and partition counts.
 * The local stack creates exactly these; docker-compose.yml is checked against this file by a test.
 */

export const PROVIDERS = ['stripe', 'square', 'adyen', 'braintree'] as const;
export type Provider = (typeof PROVIDERS)[number];
/** Each provider's number in core-native's batch layouts (its index in PROVIDERS; the Rust crate's PROVIDER_NAMES). */
export const PROVIDER_CODES = { stripe: 0, square: 1, adyen: 2, braintree: 3 } as const satisfies Record<
  Provider,
  number
>;

/**
 * Raw webhook topics written by the edge, one per provider object category; the transformer consumes exactly these.
 * Which provider event types go to which category is in event-types.ts (ROUTES).
 */
export const RAW_TOPICS = {
  'stripe.payment_intent': 'webhooks.stripe.payment_intent',
  'stripe.charge': 'webhooks.stripe.charge',
  'stripe.refund': 'webhooks.stripe.refund',
  'stripe.invoice': 'webhooks.stripe.invoice',
  'stripe.checkout_session': 'webhooks.stripe.checkout_session',
  'square.payment': 'webhooks.square.payment',
  'square.refund': 'webhooks.square.refund',
  'square.dispute': 'webhooks.square.dispute',
  'square.invoice': 'webhooks.square.invoice',
  'square.payout': 'webhooks.square.payout',
  'adyen.notification': 'webhooks.adyen.notification',
  'braintree.notification': 'webhooks.braintree.notification',
} as const;
export type RawTopicKey = keyof typeof RAW_TOPICS;
export type RawTopic = (typeof RAW_TOPICS)[RawTopicKey];

/**
 * `webhooks.<provider>.other`: verified, well-formed events of types outside the event vocabulary (CONTRACT
 * sections 5 and 6), kept for replay and analytics. Not consumed by the transformer; counted by reconcile.
 */
export const OTHER_TOPICS = {
  stripe: 'webhooks.stripe.other',
  square: 'webhooks.square.other',
  adyen: 'webhooks.adyen.other',
  braintree: 'webhooks.braintree.other',
} as const satisfies Record<Provider, string>;
export type OtherTopic = (typeof OTHER_TOPICS)[Provider];

export const TOPICS = {
  ...RAW_TOPICS,
  webhooksDlq: 'webhooks.dlq',
  normalized: 'payments.normalized',
  validationDlq: 'payments.validation.dlq',
} as const;

export type TopicKind = 'raw' | 'normalized' | 'dlq';

export interface TopicSpec {
  readonly name: string;
  readonly kind: TopicKind;
}

/** Every topic the platform uses, with its kind (the kind picks the partition count). */
export const TOPIC_SPECS: readonly TopicSpec[] = [
  ...Object.values(RAW_TOPICS).map((name) => ({ name, kind: 'raw' as const })),
  ...Object.values(OTHER_TOPICS).map((name) => ({ name, kind: 'raw' as const })),
  { name: TOPICS.normalized, kind: 'normalized' },
  { name: TOPICS.webhooksDlq, kind: 'dlq' },
  { name: TOPICS.validationDlq, kind: 'dlq' },
];

/** Default partition counts per kind; override with KAFKA_PARTITIONS_RAW / _NORMALIZED / _DLQ. */
export const DEFAULT_PARTITIONS: Readonly<Record<TopicKind, number>> = {
  raw: 3,
  normalized: 3,
  dlq: 1,
};
