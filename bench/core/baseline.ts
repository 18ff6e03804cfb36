/**
 * The baseline a team would write instead of core-native: JSON.parse, a valibot schema, JS
 * normalization into the unified event, JSON.stringify — for Stripe events (the benchmark
 * workload). Used only by the core benchmark.
 */
import * as v from 'valibot';

const StripeEvent = v.looseObject({
  id: v.pipe(v.string(), v.regex(/^evt_[A-Za-z0-9]+$/)),
  type: v.string(),
  created: v.pipe(v.number(), v.integer()),
  data: v.looseObject({
    object: v.looseObject({
      id: v.string(),
      amount: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100_000_000)),
      currency: v.pipe(v.string(), v.length(3)),
      customer: v.nullish(v.union([v.string(), v.looseObject({ id: v.string() })])),
      status: v.nullish(v.string()),
      metadata: v.nullish(v.record(v.string(), v.string())),
      payment_method_types: v.nullish(v.array(v.string())),
      payment_method_details: v.nullish(
        v.looseObject({
          type: v.nullish(v.string()),
          card: v.nullish(v.looseObject({ brand: v.nullish(v.string()), last4: v.nullish(v.string()) })),
        }),
      ),
      failure_code: v.nullish(v.string()),
      failure_message: v.nullish(v.string()),
      created: v.nullish(v.number()),
    }),
  }),
});

const TYPES: Record<string, string> = {
  'payment_intent.succeeded': 'payment.succeeded',
  'payment_intent.payment_failed': 'payment.failed',
  'payment_intent.created': 'payment.created',
};
const NULLS = new Set(['', 'null', 'NULL', 'Null', 'none', 'None', 'NONE']);
const nn = (s: string | null | undefined) => (s == null || NULLS.has(s) ? null : s);
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Normalizes one raw Stripe message the straightforward way; returns output bytes. */
export function baselineNormalize(raw: Uint8Array, receivedAtMs: number, normalizedAtMs: number): Uint8Array {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(raw));
  } catch (e) {
    return encoder.encode(JSON.stringify({ error: 'INVALID_JSON', message: String(e) }));
  }
  const r = v.safeParse(StripeEvent, parsed);
  if (!r.success)
    return encoder.encode(JSON.stringify({ error: 'VALIDATION', issues: r.issues.map((i) => i.message) }));
  const ev = r.output;
  const o = ev.data.object;
  const customer = typeof o.customer === 'object' && o.customer !== null ? o.customer.id : nn(o.customer);
  const out = {
    event_id: `stripe:${ev.id}`,
    provider: 'stripe',
    provider_event_id: ev.id,
    object_id: o.id,
    event_type: TYPES[ev.type] ?? ev.type,
    merchant_id: nn(o.metadata?.merchant_id),
    customer_id: customer,
    amount_minor: o.amount,
    currency: o.currency.toUpperCase(),
    payment_method_type: o.payment_method_types?.[0] ?? o.payment_method_details?.type ?? null,
    card_brand: o.payment_method_details?.card?.brand ?? null,
    card_last_four: o.payment_method_details?.card?.last4 ?? null,
    status: o.status ?? 'unknown',
    failure_code: nn(o.failure_code),
    failure_message: nn(o.failure_message),
    metadata: o.metadata ?? {},
    provider_created_at: new Date((o.created ?? ev.created) * 1000).toISOString(),
    received_at: new Date(receivedAtMs).toISOString(),
    normalized_at: new Date(normalizedAtMs).toISOString(),
    schema_version: 1,
  };
  return encoder.encode(JSON.stringify(out));
}
