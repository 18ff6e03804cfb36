/**
 * Traffic for the security suite and benchmark: signed provider webhooks (the simulator's realistic deliveries), and
 * validly signed hostile variants of them (issue 13's probe): field values replaced by hostile ones, card numbers
 * planted in free text in several spellings, NUL characters, byte-level damage, each body re-signed with the
 * provider's real scheme so that it passes the edge's signature check and reaches the parsers behind it. Seeded:
 * the same seed gives the same bodies. Not a load generator (see send()).
 */
import { createHash, createHmac } from 'node:crypto';
import { LOCAL_WEBHOOK_SECRETS, PROVIDERS, type Provider } from '@pep/contracts';
import { type Delivery, DeliveryGenerator } from '@pep/simulator';
import { SQUARE_URL } from './platform.ts';

/** Test card numbers of the major brands (Luhn-valid), planted in bodies; none may reach a store. */
export const PLANTED_PANS = [
  '4111111111111111',
  '5555555555554444',
  '378282246310005',
  '6011000990139424',
  '4242424242424242',
  '5105105105105100',
] as const;

export interface SignedRequest {
  readonly provider: Provider;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** What the request is, for reports. */
  readonly label: string;
}

const S = LOCAL_WEBHOOK_SECRETS;
const btHmacKey = createHash('sha1').update(S.BRAINTREE_PRIVATE_KEY).digest();

export function signStripe(body: Buffer, t = Math.floor(Date.now() / 1000)): Record<string, string> {
  const hex = createHmac('sha256', S.STRIPE_WEBHOOK_SECRET).update(`${t}.`).update(body).digest('hex');
  return { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${hex}` };
}

export function signSquare(body: Buffer): Record<string, string> {
  const sig = createHmac('sha256', S.SQUARE_WEBHOOK_SIGNATURE_KEY).update(SQUARE_URL).update(body).digest('base64');
  return { 'content-type': 'application/json', 'x-square-hmacsha256-signature': sig };
}

const str = (v: unknown) => (v === undefined || v === null ? '' : String(v));

/** Adyen's signing string of one NotificationRequestItem (CONTRACT section 4; an amount of 0 is "0"). */
export function adyenSigningString(item: Record<string, unknown>): string {
  const amount = (item.amount && typeof item.amount === 'object' ? item.amount : {}) as Record<string, unknown>;
  return [
    item.pspReference,
    item.originalReference,
    item.merchantAccountCode,
    item.merchantReference,
    amount.value,
    amount.currency,
    item.eventCode,
    item.success,
  ]
    .map(str)
    .join(':');
}

export function adyenSignature(item: Record<string, unknown>): string {
  return createHmac('sha256', Buffer.from(S.ADYEN_HMAC_KEY, 'hex')).update(adyenSigningString(item)).digest('base64');
}

/** Signs every item of an Adyen notification in place (additionalData.hmacSignature); returns the signatures. */
export function signAdyenItems(doc: Record<string, unknown>): string[] {
  const out: string[] = [];
  const items = Array.isArray(doc.notificationItems) ? doc.notificationItems : [];
  for (const w of items) {
    const item = (w as Record<string, unknown>)?.NotificationRequestItem;
    if (!item || typeof item !== 'object' || Array.isArray(item)) continue;
    const it = item as Record<string, unknown>;
    const sig = adyenSignature(it);
    const ad = it.additionalData && typeof it.additionalData === 'object' ? it.additionalData : {};
    it.additionalData = { ...(ad as object), hmacSignature: sig };
    out.push(sig);
  }
  return out;
}

/**
 * A Stripe `payment_intent.succeeded` event body (2000 USD minor units by default); `over` replaces event fields,
 * `obj` fields of the payment intent.
 */
export function stripePaymentBody(
  id: string,
  piId: string,
  over: Record<string, unknown> = {},
  obj: Record<string, unknown> = {},
): Buffer {
  return Buffer.from(
    JSON.stringify({
      id,
      object: 'event',
      type: 'payment_intent.succeeded',
      created: Math.floor(Date.now() / 1000),
      data: {
        object: {
          id: piId,
          object: 'payment_intent',
          amount: 2000,
          currency: 'usd',
          status: 'succeeded',
          customer: 'cus_sec',
          ...obj,
        },
      },
      ...over,
    }),
  );
}

/** A Braintree webhook form for a notification XML, signed with the local key pair. */
export function braintreeBody(xml: string | Buffer): { body: Buffer; signature: string } {
  const payload = Buffer.from(xml).toString('base64');
  const signature = `${S.BRAINTREE_PUBLIC_KEY}|${createHmac('sha1', btHmacKey).update(payload).digest('hex')}`;
  return {
    body: Buffer.from(`bt_signature=${encodeURIComponent(signature)}&bt_payload=${encodeURIComponent(payload)}`),
    signature,
  };
}

/** The simulator's realistic deliveries (all four providers), re-addressed to the harness's Square URL. */
export function deliveries(opts: { seed: number; invalidRate?: number; signatureFaultRate?: number }) {
  const gen = new DeliveryGenerator({
    seed: opts.seed,
    providers: PROVIDERS,
    invalidRate: opts.invalidRate ?? 0,
    duplicateRate: 0,
    signatureFaultRate: opts.signatureFaultRate ?? 0,
    fraudRate: 0.02,
    customers: 200,
    merchantsPerProvider: 5,
    secrets: {
      stripe: S.STRIPE_WEBHOOK_SECRET,
      square: S.SQUARE_WEBHOOK_SIGNATURE_KEY,
      squareNotificationUrl: SQUARE_URL,
      adyenHex: S.ADYEN_HMAC_KEY,
      braintreePublic: S.BRAINTREE_PUBLIC_KEY,
      braintreePrivate: S.BRAINTREE_PRIVATE_KEY,
    },
  });
  return (): Delivery => gen.next().delivery;
}

export function fromDelivery(d: Delivery): SignedRequest {
  return { provider: d.provider, path: d.path, headers: d.headers, body: Buffer.from(d.body), label: d.label };
}

/** xorshift32: seeded, so a failing body can be reproduced from its seed and index. */
export function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(a: readonly T[]): T => a[int(a.length)] as T };
}
type Rng = ReturnType<typeof rng>;

/** A planted card number in one of the spellings the redaction must catch. */
function plantedPan(r: Rng): string {
  const pan = r.pick(PLANTED_PANS);
  switch (r.int(6)) {
    case 0:
      return pan;
    case 1:
      return pan.replace(/(\d{4})(?=\d)/g, '$1 ');
    case 2:
      return pan.replace(/(\d{4})(?=\d)/g, '$1-');
    case 3:
      return `card ${pan} exp 12/30`;
    case 4:
      return `ref:${pan};`;
    default:
      return `${pan.slice(0, 6)} ${pan.slice(6)}`;
  }
}

const HOSTILE: readonly unknown[] = [
  null,
  '',
  'null',
  'None',
  ' usd ',
  'usd ',
  'XYZ',
  -1,
  0,
  1.5,
  1e300,
  2 ** 53,
  '-5.00',
  '10.555',
  true,
  [],
  {},
  'a\u0000b',
  '\u0000',
  '\ud83d\ude00',
  'é\u200b',
  '<script>alert(1)</script>',
  "'; DROP TABLE payment_events; --",
  '../../etc/passwd',
  '%00%0d%0a',
  'x'.repeat(5000),
  { nested: { deeper: [1, 2, { x: 'y' }] } },
];

function hostileValue(r: Rng): unknown {
  // A copy: the body's later edits must not reach the shared table.
  return r.next() < 0.35 ? plantedPan(r) : structuredClone(r.pick(HOSTILE));
}

function paths(v: unknown, prefix: string[] = [], out: string[][] = []): string[][] {
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v as object)) {
      out.push([...prefix, k]);
      if (out.length < 400) paths(x, [...prefix, k], out);
    }
  }
  return out;
}

function mutateJson(doc: unknown, r: Rng): void {
  const ps = paths(doc);
  const edits = 1 + r.int(4);
  for (let i = 0; i < edits && ps.length > 0; i++) {
    const p = r.pick(ps);
    // biome-ignore lint/suspicious/noExplicitAny: edits arbitrary parsed JSON
    let parent: any = doc;
    for (const k of p.slice(0, -1)) parent = parent?.[k];
    if (!parent || typeof parent !== 'object') continue;
    const key = p[p.length - 1] as string;
    if (r.next() < 0.1) delete parent[key];
    else parent[key] = hostileValue(r);
  }
  // Free text a provider lets a merchant or customer fill: where card numbers get planted in practice.
  // biome-ignore lint/suspicious/noExplicitAny: edits arbitrary parsed JSON
  const d = doc as any;
  if (r.next() < 0.5 && d?.data?.object && typeof d.data.object === 'object') {
    d.data.object.metadata = { note: plantedPan(r), order: 'o-1', [plantedPan(r).slice(0, 20)]: 'k' };
    if (r.next() < 0.5) d.data.object.description = `card ${plantedPan(r)}`;
  }
  const item = d?.notificationItems?.[0]?.NotificationRequestItem;
  if (r.next() < 0.5 && item && typeof item === 'object') {
    item.merchantReference = plantedPan(r);
    item.reason = `Refused ${plantedPan(r)}`;
  }
}

function mutateBytes(b: Buffer, r: Rng): Buffer {
  const a = Array.from(b);
  const n = 1 + r.int(3);
  for (let i = 0; i < n; i++) {
    const at = r.int(Math.max(1, a.length));
    switch (r.int(4)) {
      case 0:
        a[at] = r.int(256);
        break;
      case 1:
        a.splice(at, 1);
        break;
      case 2:
        a.splice(at, 0, r.pick([0x00, 0x22, 0x5c, 0x7b, 0x7d, 0xff, 0x26, 0x3d]));
        break;
      default:
        a.length = at;
    }
  }
  return Buffer.from(a);
}

function mutateXml(xml: string, r: Rng): string {
  let out = xml;
  const edits = 1 + r.int(3);
  for (let i = 0; i < edits; i++) {
    const tags = [...out.matchAll(/<([a-z-]+)(?: [^>]*)?>([^<]*)<\/\1>/g)];
    if (tags.length === 0) break;
    const m = r.pick(tags);
    const v = hostileValue(r);
    const text = typeof v === 'string' ? v.replace(/&/g, '&amp;').replace(/</g, '&lt;') : JSON.stringify(v ?? '');
    out = out.replace(m[0], `<${m[1]}>${text}</${m[1]}>`);
  }
  if (r.next() < 0.5)
    out = out.replace(
      /<\/subject>/,
      `<note>${plantedPan(r)}</note></subject>`.replace('<note>', '<plan-id>').replace('</note>', '</plan-id>'),
    );
  if (r.next() < 0.05) out = out.replace('<notification>', '<!DOCTYPE x [<!ENTITY a "b">]><notification>');
  return out;
}

/** The notification XML inside a Braintree form body (base64 bt_payload), or null. */
function braintreeXml(body: Buffer): string | null {
  const payload = new URLSearchParams(body.toString('utf8')).get('bt_payload');
  return payload ? Buffer.from(payload, 'base64').toString('utf8') : null;
}

export interface FuzzedRequest extends SignedRequest {
  /** Adyen item signatures and Braintree bt_signature values the body carries (valid ones: none may be stored). */
  readonly signatures: readonly string[];
}

/**
 * `count` validly signed hostile bodies from realistic deliveries (all four providers): JSON/XML-level edits always,
 * byte-level damage in one body of five (signed after the damage, so it still passes the signature check).
 */
export function* fuzzedRequests(seed: number, count: number): Generator<FuzzedRequest> {
  const r = rng(seed);
  const next = deliveries({ seed });
  for (let i = 0; i < count; i++) {
    const d = next();
    const bytesToo = r.next() < 0.2;
    if (d.provider === 'braintree') {
      const xml = braintreeXml(Buffer.from(d.body)) ?? '<notification/>';
      let mutated: Buffer = Buffer.from(mutateXml(xml, r));
      if (bytesToo) mutated = mutateBytes(mutated, r);
      const { body, signature } = braintreeBody(mutated);
      yield {
        provider: 'braintree',
        path: d.path,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
        label: `fuzz:${i}`,
        signatures: [signature.split('|')[1] as string],
      };
      continue;
    }
    const doc = JSON.parse(d.body) as Record<string, unknown>;
    mutateJson(doc, r);
    const signatures = d.provider === 'adyen' ? signAdyenItems(doc) : [];
    let body: Buffer = Buffer.from(JSON.stringify(doc));
    if (bytesToo) body = mutateBytes(body, r);
    const headers = d.provider === 'stripe' ? signStripe(body) : d.provider === 'square' ? signSquare(body) : d.headers;
    yield { provider: d.provider, path: d.path, headers, body, label: `fuzz:${i}`, signatures };
  }
}

export interface SendResult {
  readonly status: number;
  readonly requestId: string;
  readonly ms: number;
}

/** Sends one request to the edge with an `x-request-id` the caller can find it by in Kafka. */
export async function send(edgeUrl: string, req: SignedRequest, requestId: string): Promise<SendResult> {
  const t0 = performance.now();
  const res = await fetch(edgeUrl + req.path, {
    method: 'POST',
    body: req.body,
    headers: { ...req.headers, 'x-request-id': requestId },
  });
  await res.arrayBuffer();
  return { status: res.status, requestId, ms: performance.now() - t0 };
}
