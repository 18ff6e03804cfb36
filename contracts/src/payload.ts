/**
 * Raw bytes inside a JSON DLQ record (webhooks.dlq `body`, payments.validation.dlq `original_payload`): redacted
 * (signatures, card numbers: ./redact.ts, issue 13), UTF-8 text when they decode, else base64 of the redacted bytes.
 * The exact bytes of an accepted event stay in its raw topic, which a DLQ record names by its coordinates.
 */
import { redactPayload } from './redact.ts';

export type PayloadEncoding = 'utf8' | 'base64';

/** Raw bytes as DLQ text: redacted; the UTF-8 string when they decode cleanly (a BOM kept), else base64. */
export function payloadText(raw: Uint8Array): { text: string; encoding: PayloadEncoding } {
  return redactPayload(raw);
}
