/**
 * The providers' published webhook examples (provider-examples/, provenance in its SOURCES.md) and Braintree's, which
 * its official SDK makes for every WebhookNotification.Kind (`webhookTesting.sampleNotification`). Readers only: the
 * expected outcome of each is in cases.ts; signing and sending are in the platform test.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Provider } from '@pep/contracts';

const require = createRequire(import.meta.url);
// biome-ignore lint/suspicious/noExplicitAny: the SDK is untyped (types/braintree.d.ts)
const braintreeSdk: any = require('braintree');

export const EXAMPLES_DIR = fileURLToPath(new URL('../provider-examples/', import.meta.url));

/** A published example file, as bytes exactly as stored. */
export interface Example {
  readonly provider: Exclude<Provider, 'braintree'>;
  /** File name without `.json` (for Stripe and Square, the event type). */
  readonly name: string;
  readonly body: Buffer;
}

/** Every example file of the three providers that publish files, sorted by provider then name. */
export function loadExamples(): Example[] {
  const out: Example[] = [];
  for (const provider of ['stripe', 'square', 'adyen'] as const) {
    for (const f of readdirSync(`${EXAMPLES_DIR}${provider}`).sort()) {
      if (!f.endsWith('.json')) continue;
      out.push({ provider, name: f.slice(0, -'.json'.length), body: readFileSync(`${EXAMPLES_DIR}${provider}/${f}`) });
    }
  }
  return out;
}

/** Every Braintree kind the SDK knows (WebhookNotification.Kind), sorted. */
export function braintreeKinds(): string[] {
  return (Object.values(braintreeSdk.WebhookNotification.Kind) as string[]).sort();
}

export interface BraintreeKeys {
  readonly publicKey: string;
  readonly privateKey: string;
}

/**
 * The SDK's sample notification of `kind` for subject `id`, signed by the SDK with `keys`: the form fields
 * `bt_signature` and `bt_payload` exactly as a Braintree webhook posts them. `timestamp` (RFC 3339) replaces the
 * sample's own (the current time), `editXml` may change the XML, and the payload is then signed again the SDK's way, so
 * golden outputs are stable.
 */
export function braintreeSample(
  kind: string,
  id: string,
  keys: BraintreeKeys,
  timestamp?: string,
  editXml: (xml: string) => string = (x) => x,
): { bt_signature: string; bt_payload: string } {
  const gateway = new braintreeSdk.BraintreeGateway({
    environment: braintreeSdk.Environment.Sandbox,
    merchantId: 'conformance',
    publicKey: keys.publicKey,
    privateKey: keys.privateKey,
  });
  const sample = gateway.webhookTesting.sampleNotification(kind, id) as { bt_signature: string; bt_payload: string };
  if (timestamp === undefined) return sample;
  const xml = editXml(
    Buffer.from(sample.bt_payload, 'base64')
      .toString('utf8')
      .replace(/<timestamp type="datetime">[^<]*<\/timestamp>/, `<timestamp type="datetime">${timestamp}</timestamp>`),
  );
  // The SDK's own signer (the one sampleNotification uses): `public_key|hex HMAC-SHA1`.
  const payload = `${Buffer.from(xml, 'utf8').toString('base64')}\n`;
  return { bt_signature: gateway.webhookTesting.sampleSignature(payload), bt_payload: payload };
}

/** The form body Braintree posts (`application/x-www-form-urlencoded`). */
export function braintreeForm(fields: { bt_signature: string; bt_payload: string }): string {
  return new URLSearchParams(fields).toString();
}
