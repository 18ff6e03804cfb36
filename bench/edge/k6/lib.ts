/**
 * Shared pieces of the edge k6 scenarios: configuration from k6 env (`-e EDGE_URL=…`), and request builders that
 * sign exactly as the providers do (CONTRACT section 4) with the local default secrets of `.env.example`.
 * Runs inside k6 (goja/sobek), so only k6 modules are used.
 */
import crypto from 'k6/crypto';
import { b64encode } from 'k6/encoding';
import type { RefinedParams, ResponseType } from 'k6/http';

export const EDGE_URL = __ENV.EDGE_URL || 'http://127.0.0.1:8080';
const STRIPE_SECRET = __ENV.STRIPE_WEBHOOK_SECRET || 'whsec_test_secret_for_dev';
const SQUARE_KEY = __ENV.SQUARE_WEBHOOK_SIGNATURE_KEY || 'sq_signature_key_for_dev';
const SQUARE_URL = __ENV.SQUARE_NOTIFICATION_URL || 'http://127.0.0.1:8080/webhooks/square';
const ADYEN_HEX = __ENV.ADYEN_HMAC_KEY || '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const BT_PUBLIC = __ENV.BRAINTREE_PUBLIC_KEY || 'test_public_key';
const BT_PRIVATE = __ENV.BRAINTREE_PRIVATE_KEY || 'test_private_key';

export interface SignedRequest {
  readonly url: string;
  readonly body: string;
  readonly params: RefinedParams<ResponseType>;
}

function hexToBytes(hex: string): ArrayBuffer {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out.buffer;
}
const ADYEN_KEY = hexToBytes(ADYEN_HEX);
const BT_HMAC_KEY = crypto.sha1(BT_PRIVATE, 'binary');

/** A ~1 KiB Stripe payment_intent.succeeded event (the body the edge benchmark harness sends). */
export function stripeEventBody(id: string): string {
  const now = Math.floor(Date.now() / 1000);
  return JSON.stringify({
    id,
    object: 'event',
    api_version: '2024-09-30.acacia',
    created: now,
    data: {
      object: {
        id: `pi_${id.slice(4)}`,
        object: 'payment_intent',
        amount: 2000,
        amount_received: 2000,
        currency: 'usd',
        customer: 'cus_QbenchCustomer01',
        payment_method_types: ['card'],
        status: 'succeeded',
        metadata: { merchant_id: 'MERCHANT0001', order_id: 'ord_000123' },
        description: 'x'.repeat(560),
        created: now,
      },
    },
    livemode: false,
    pending_webhooks: 1,
    type: 'payment_intent.succeeded',
  });
}

export function stripe(body: string, opts: { forged?: boolean } = {}): SignedRequest {
  const t = Math.floor(Date.now() / 1000);
  const sig = crypto.hmac('sha256', opts.forged ? `${STRIPE_SECRET}_forged` : STRIPE_SECRET, `${t}.${body}`, 'hex');
  return {
    url: `${EDGE_URL}/webhooks/stripe`,
    body,
    params: {
      headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${sig}` },
      tags: { provider: 'stripe' },
    },
  };
}

export function square(id: string): SignedRequest {
  const body = JSON.stringify({
    merchant_id: 'MBENCH',
    type: 'payment.updated',
    event_id: id,
    created_at: new Date().toISOString(),
    data: {
      type: 'payment',
      id: `P${id}`,
      object: { payment: { id: `P${id}`, amount_money: { amount: 1500, currency: 'USD' }, status: 'COMPLETED' } },
    },
  });
  const sig = crypto.hmac('sha256', SQUARE_KEY, SQUARE_URL + body, 'base64');
  return {
    url: `${EDGE_URL}/webhooks/square`,
    body,
    params: {
      headers: { 'content-type': 'application/json', 'x-square-hmacsha256-signature': sig },
      tags: { provider: 'square' },
    },
  };
}

export function adyen(psp: string): SignedRequest {
  const item: Record<string, unknown> = {
    pspReference: psp,
    merchantAccountCode: 'BenchMerchantECOM',
    merchantReference: `order_${psp}`,
    amount: { value: 2500, currency: 'EUR' },
    eventCode: 'AUTHORISATION',
    eventDate: new Date().toISOString(),
    success: 'true',
    paymentMethod: 'visa',
  };
  const signing = [psp, '', 'BenchMerchantECOM', `order_${psp}`, '2500', 'EUR', 'AUTHORISATION', 'true'].join(':');
  item.additionalData = { hmacSignature: crypto.hmac('sha256', ADYEN_KEY, signing, 'base64') };
  const body = JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] });
  return {
    url: `${EDGE_URL}/webhooks/adyen`,
    body,
    params: { headers: { 'content-type': 'application/json' }, tags: { provider: 'adyen' } },
  };
}

export function braintree(txn: string): SignedRequest {
  const xml = `<notification><timestamp type="datetime">${new Date().toISOString()}</timestamp><kind>transaction_settled</kind><subject><transaction><id>${txn}</id><status>settled</status><type>sale</type><currency-iso-code>USD</currency-iso-code><amount>25.00</amount></transaction></subject></notification>`;
  const payload = `${b64encode(xml, 'std')}\n`;
  const sig = crypto.hmac('sha1', BT_HMAC_KEY, payload, 'hex');
  const body = `bt_signature=${encodeURIComponent(`${BT_PUBLIC}|${sig}`)}&bt_payload=${encodeURIComponent(payload)}`;
  return {
    url: `${EDGE_URL}/webhooks/braintree`,
    body,
    params: { headers: { 'content-type': 'application/x-www-form-urlencoded' }, tags: { provider: 'braintree' } },
  };
}
