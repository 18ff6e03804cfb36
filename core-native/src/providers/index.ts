/**
 * Provider payloads → unified events, one module per provider: the twin of `crates/core/src/providers/`.
 */
export { adyenEventType, adyenFailureCode, adyenItem, adyenItems, MAX_ADYEN_ITEMS } from './adyen.ts';
export { type BtNote, type BtTxn, braintree, braintreeEventType, btFromXml } from './braintree.ts';
export type { Meta, Outcome, ProviderName, Rejected, UnifiedEvent } from './common.ts';
export { square, squareEventType } from './square.ts';
export { stripe, stripeEventType } from './stripe.ts';
