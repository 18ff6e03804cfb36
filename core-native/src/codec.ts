/** Base64 and form decoding, mirrored from `crates/core/src/codec.rs`. */

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

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The single value of `name`; 'error' when malformed or repeated; undefined when absent. */
export function formField(body: Uint8Array, name: Uint8Array): Uint8Array | undefined | 'error' {
  let found: Uint8Array | undefined;
  let start = 0;
  for (let i = 0; i <= body.length; i++) {
    if (i < body.length && body[i] !== 38) continue;
    const pair = body.subarray(start, i);
    start = i + 1;
    if (pair.length === 0) continue;
    const eq = pair.indexOf(61);
    const k = formComponent(eq < 0 ? pair : pair.subarray(0, eq));
    if (k === undefined) return 'error';
    if (equal(k, name)) {
      if (found !== undefined) return 'error';
      const v = formComponent(eq < 0 ? new Uint8Array(0) : pair.subarray(eq + 1));
      if (v === undefined) return 'error';
      found = v;
    }
  }
  return found;
}
