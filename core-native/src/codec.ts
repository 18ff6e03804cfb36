/** Base64 and form decoding, mirrored from `crates/core/src/codec.rs` (the edge parses Braintree forms with it too). */

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUE = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64_VALUE[B64.charCodeAt(i)] = i;

export function base64Encode(data: Uint8Array): string {
  let out = '';
  for (let i = 0; i < data.length; i += 3) {
    const b0 = data[i] as number;
    const b1 = i + 1 < data.length ? (data[i + 1] as number) : 0;
    const b2 = i + 2 < data.length ? (data[i + 2] as number) : 0;
    const n = (b0 << 16) | (b1 << 8) | b2;
    out += B64[(n >> 18) & 63];
    out += B64[(n >> 12) & 63];
    out += i + 1 < data.length ? B64[(n >> 6) & 63] : '=';
    out += i + 2 < data.length ? B64[n & 63] : '=';
  }
  return out;
}

export function base64Decode(input: Uint8Array): Uint8Array | undefined {
  const out = new Uint8Array(Math.floor(input.length / 4) * 3 + 3);
  let len = 0;
  let acc = 0;
  let n = 0;
  let pad = 0;
  for (const c of input) {
    if (c === 10 || c === 13) continue;
    if (c === 61) {
      pad++;
      continue;
    }
    if (pad > 0) return undefined;
    const v = B64_VALUE[c] as number;
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    n++;
    if (n === 4) {
      out[len++] = acc >> 16;
      out[len++] = (acc >> 8) & 255;
      out[len++] = acc & 255;
      acc = 0;
      n = 0;
    }
  }
  if (n === 0 && pad === 0) {
    // complete
  } else if (n === 2 && (pad === 0 || pad === 2)) {
    if ((acc & 0xf) !== 0) return undefined;
    out[len++] = (acc >> 4) & 255;
  } else if (n === 3 && (pad === 0 || pad === 1)) {
    if ((acc & 0x3) !== 0) return undefined;
    out[len++] = (acc >> 10) & 255;
    out[len++] = (acc >> 2) & 255;
  } else return undefined;
  return out.subarray(0, len);
}

const hex = (c: number | undefined): number => {
  if (c === undefined) return -1;
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
};

export function formComponent(s: Uint8Array): Uint8Array | undefined {
  const out = new Uint8Array(s.length);
  let len = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as number;
    if (c === 43) out[len++] = 32;
    else if (c === 37) {
      const h = hex(s[i + 1]);
      const l = hex(s[i + 2]);
      if (h < 0 || l < 0) return undefined;
      out[len++] = (h << 4) | l;
      i += 2;
    } else out[len++] = c;
  }
  return out.subarray(0, len);
}

/** Why a body is not a Braintree webhook form (mirrors `BtFormError` in codec.rs). */
export type BtFormError =
  | 'malformed'
  | 'unknown_field'
  | 'duplicate_field'
  | 'missing_signature'
  | 'missing_payload'
  | 'signature_chars'
  | 'payload_chars';

export const BT_FORM_ERRORS: Readonly<Record<BtFormError, { readonly field: string; readonly message: string }>> = {
  malformed: { field: 'payload', message: 'body is not a urlencoded form (bad % escape)' },
  unknown_field: { field: 'payload', message: 'a Braintree webhook form holds only bt_signature and bt_payload' },
  duplicate_field: { field: 'payload', message: 'bt_signature and bt_payload must each appear once' },
  missing_signature: { field: 'bt_signature', message: 'bt_signature is required' },
  missing_payload: { field: 'bt_payload', message: 'bt_payload is required' },
  signature_chars: { field: 'bt_signature', message: 'bt_signature must be printable ASCII' },
  payload_chars: { field: 'bt_payload', message: 'bt_payload must be base64 (A-Z a-z 0-9 + / =, line feeds)' },
};

/** The two fields of a Braintree webhook, percent-decoded. */
export interface BtForm {
  readonly signature: Uint8Array;
  readonly payload: Uint8Array;
}

const SIGNATURE = 0;
const PAYLOAD = 1;
/** 0 for `bt_signature`, 1 for `bt_payload`, -1 for any other name. */
function btFieldIndex(k: Uint8Array): number {
  const names = ['bt_signature', 'bt_payload'];
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (k.length !== name.length) continue;
    let same = true;
    for (let j = 0; j < k.length && same; j++) same = k[j] === name.charCodeAt(j);
    if (same) return i;
  }
  return -1;
}

const isBase64Byte = (c: number) =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47 || c === 61 || c === 10;

/**
 * Parses a Braintree webhook body (CONTRACT section 4): an `application/x-www-form-urlencoded` form of exactly the
 * fields `bt_signature` and `bt_payload`, each once and non-empty; pairs split on `&` (empty pairs skipped), names and
 * values percent-decoded strictly (`+` is a space). The edge verifies what this returns and the transformer (native:
 * `braintree_form` in codec.rs, the same rules) reads what it returns, so the bytes that were verified are the only
 * bytes that are parsed. A Braintree webhook is a form, never JSON.
 */
export function braintreeForm(body: Uint8Array): BtForm | BtFormError {
  const found: (Uint8Array | undefined)[] = [undefined, undefined];
  let start = 0;
  for (let i = 0; i <= body.length; i++) {
    if (i < body.length && body[i] !== 38) continue;
    const pair = body.subarray(start, i);
    start = i + 1;
    if (pair.length === 0) continue;
    const eq = pair.indexOf(61);
    const k = formComponent(eq < 0 ? pair : pair.subarray(0, eq));
    const v = formComponent(eq < 0 ? new Uint8Array(0) : pair.subarray(eq + 1));
    if (k === undefined || v === undefined) return 'malformed';
    const slot = btFieldIndex(k);
    if (slot < 0) return 'unknown_field';
    if (found[slot] !== undefined) return 'duplicate_field';
    found[slot] = v;
  }
  const signature = found[SIGNATURE];
  const payload = found[PAYLOAD];
  if (signature === undefined || signature.length === 0) return 'missing_signature';
  if (payload === undefined || payload.length === 0) return 'missing_payload';
  if (!signature.every((c) => c >= 0x21 && c <= 0x7e)) return 'signature_chars';
  if (!payload.every(isBase64Byte)) return 'payload_chars';
  return { signature, payload };
}
