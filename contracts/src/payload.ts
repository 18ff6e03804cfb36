/** Raw bytes inside a JSON DLQ record (webhooks.dlq `body`, payments.validation.dlq `original_payload`). */

export type PayloadEncoding = 'utf8' | 'base64';

// ignoreBOM keeps a leading BOM in the text, as Rust's from_utf8 and Buffer do: the payload stays byte-exact.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Raw bytes as DLQ text: the UTF-8 string when they decode cleanly, else base64. */
export function payloadText(raw: Uint8Array): { text: string; encoding: PayloadEncoding } {
  try {
    return { text: strictUtf8.decode(raw), encoding: 'utf8' };
  } catch {
    return { text: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64'), encoding: 'base64' };
  }
}
