/**
 * What may not be stored is taken out of events, DLQ records, rows, log lines and error bodies (issue 13). Pure
 * functions shared by every TypeScript package; the Rust core has the same rules (`core-native/crates/core/src/
 * redact.rs`), and the twin's output is byte-identical to it (core-native's differential tests). Not for the raw
 * topics: they keep the original bytes for replay, under their retention.
 *
 * - NUL: U+0000 in a free-text value of the unified event becomes U+FFFD. A NUL carries no meaning in text, and
 *   PostgreSQL's `text` and `jsonb` cannot hold it: an event carrying one was refused by the database and lost.
 * - Card numbers: 13 to 19 digits whose leading digits and length are a card brand's (the IIN table `CARD_BRANDS`, as
 *   PAN scanners read them) and that pass the Luhn check are masked digit by digit with `*`, also when they are split
 *   into groups by spaces, dashes, underscores or `+`, and also when
 *   the digits are written as escapes (JSON `\u0034`, percent `%34`, XML `&#52;` / `&#x34;`). Within a longer run of
 *   groups (`call 555 0100 4111 1111 1111 1111`) every span from a group start to a group end is tried. Identifiers are
 *   not masked (that would merge different events): an id holding a card number makes its event a DLQ record instead
 *   (`hasCardNumber`). Adyen's 16-digit pspReferences start with 7, 8 or 9 (no brand's range) and are never taken for
 *   cards; nor is any other Luhn-valid digit run outside the table (about 1 random 16-digit string in 10 passes Luhn).
 * - Signatures: values of the keys `hmacSignature`, `bt_signature` and `signature` (any case) become `[redacted]`,
 *   as JSON members (also JSON inside JSON strings), as form fields, and in text no parser can read (after the word
 *   `signature`, a long base64/hex run); a Braintree `bt_payload` form field is decoded (base64 XML), masked and re-encoded,
 *   so card numbers cannot hide in it (a damaged one that shows a card number at any base64 alignment is redacted whole).
 *   Fail closed, whatever the key: a value shaped like a signature digest (a base64 SHA-256, a hex SHA-1/SHA-256 after
 *   `|`) is redacted too, so a byte-damaged key name (`hmacSinature`) cannot hide one (`redactDigestShapes`).
 */

export const REDACTED_VALUE = '[redacted]';
const MASK = '*';
const MIN_PAN_DIGITS = 13;
const MAX_PAN_DIGITS = 19;
const SIGNATURE_KEYS: ReadonlySet<string> = new Set(['hmacsignature', 'bt_signature', 'signature']);

/** The lengths `from..=to` as a bit set (bit `n` for `n` digits). */
const lengths = (from: number, to: number) => {
  let bits = 0;
  for (let n = from; n <= to; n++) bits |= 1 << n;
  return bits;
};

/**
 * Card brands as PAN scanners recognise them: [prefix digits, lowest prefix, highest prefix, lengths as a bit set]. A
 * digit run is a card number only when one row holds its leading digits and its length, and it passes Luhn. Identical
 * to `CARD_BRANDS` in `core-native/crates/core/src/redact.rs`. Maestro is included (its ranges hold debit cards still
 * issued), from 13 digits: its rare 12-digit numbers are left out because 12-digit runs are common in other data (phone
 * numbers with country codes 56–69, order numbers). Nothing starting with 0, 1, 7, 8 or 9 is a card here (Adyen's
 * pspReferences start with 7, 8 or 9).
 */
export const CARD_BRANDS: readonly (readonly [number, number, number, number, string])[] = [
  [1, 4, 4, (1 << 13) | (1 << 16) | (1 << 19), 'Visa'],
  [2, 51, 55, 1 << 16, 'Mastercard'],
  [4, 2221, 2720, 1 << 16, 'Mastercard 2-series'],
  [4, 2200, 2204, lengths(16, 19), 'Mir'],
  [2, 34, 34, 1 << 15, 'American Express'],
  [2, 37, 37, 1 << 15, 'American Express'],
  [4, 6011, 6011, lengths(16, 19), 'Discover'],
  [3, 644, 649, lengths(16, 19), 'Discover'],
  [2, 65, 65, lengths(16, 19), 'Discover'],
  [4, 3528, 3589, lengths(16, 19), 'JCB'],
  [3, 300, 305, lengths(14, 19), 'Diners Club (Carte Blanche)'],
  [4, 3095, 3095, lengths(14, 19), 'Diners Club International'],
  [2, 36, 36, lengths(14, 19), 'Diners Club International'],
  [2, 38, 39, lengths(14, 19), 'Diners Club International'],
  [2, 62, 62, lengths(16, 19), 'UnionPay'],
  [2, 50, 50, lengths(13, 19), 'Maestro'],
  [2, 56, 69, lengths(13, 19), 'Maestro (with the 6-series above)'],
];

/** True when digits[i, j) (13 to 19 of them) have a card brand's leading digits and length. */
function isCardShape(digits: readonly number[], i: number, j: number): boolean {
  for (const [k, lo, hi, lens] of CARD_BRANDS) {
    let prefix = 0;
    for (let m = i; m < i + k; m++) prefix = prefix * 10 + (digits[m] as number);
    if (prefix >= lo && prefix <= hi && (lens & (1 << (j - i))) !== 0) return true;
  }
  return false;
}

const hexVal = (c: number): number => {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
};
const asciiLower = (s: string) => s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
const isSepCode = (v: number) => v === 32 || v === 45 || v === 95 || v === 43; // space - _ +

// Unit kinds of the card scan, packed with their length into one number (no object per character): `kind | len << 8`.
const OTHER = 0;
const SEP = 1;
const DIGIT0 = 2; // DIGIT0 + d for the digit d
const unit = (kind: number, len: number) => kind | (len << 8);
const OTHER1 = unit(OTHER, 1);

/**
 * The unit of text at `i` for the card scan: a digit, a separator or neither, and how many UTF-16 code units it spans
 * (all units are ASCII, so the Rust byte offsets agree).
 */
function unitAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 48 && c <= 57) return unit(DIGIT0 + c - 48, 1);
  if (isSepCode(c)) return unit(SEP, 1);
  if (c !== 37 && c !== 92 && c !== 38) return OTHER1;
  let code = -1;
  let len = 0;
  if (c === 37 /* % */) {
    const h = hexVal(s.charCodeAt(i + 1));
    const l = hexVal(s.charCodeAt(i + 2));
    if (h >= 0 && l >= 0) {
      code = h * 16 + l;
      len = 3;
    }
  } else if (c === 92 /* \ */) {
    if (s.charCodeAt(i + 1) !== 117 /* u */) return OTHER1;
    let v = 0;
    for (let k = 2; k < 6; k++) {
      const h = hexVal(s.charCodeAt(i + k));
      if (h < 0) return OTHER1;
      v = v * 16 + h;
    }
    code = v;
    len = 6;
  } else {
    if (s.charCodeAt(i + 1) !== 35 /* # */) return OTHER1;
    const hex = s.charCodeAt(i + 2) === 120 || s.charCodeAt(i + 2) === 88; // x X
    let k = i + (hex ? 3 : 2);
    const start = k;
    let v = 0;
    const maxDigits = hex ? 6 : 7;
    while (k - start < maxDigits) {
      const ch = s.charCodeAt(k);
      const d = hex ? hexVal(ch) : ch >= 48 && ch <= 57 ? ch - 48 : -1;
      if (d < 0) break;
      v = v * (hex ? 16 : 10) + d;
      k++;
    }
    if (k > start && s.charCodeAt(k) === 59 /* ; */) {
      code = v;
      len = k + 1 - i;
    }
  }
  if (len === 0) return OTHER1;
  if (code >= 48 && code <= 57) return unit(DIGIT0 + code - 48, len);
  if (isSepCode(code)) return unit(SEP, len);
  return OTHER1;
}

const doubled = (d: number) => (d * 2 > 9 ? d * 2 - 9 : d * 2);

/**
 * Marks the digits of every card-number window of a run: 13–19 digits from the start of a group to the end of a group
 * (groups are split by separators), with a card brand's leading digits and length (`CARD_BRANDS`), passing the Luhn
 * check. Prefix sums per parity make each window's Luhn check O(1).
 */
function luhnWindows(
  digits: readonly number[],
  groupStart: readonly boolean[],
  marks: Uint8Array | null,
  oneEnd = false,
): boolean {
  const n = digits.length;
  if (n < MIN_PAN_DIGITS) return false;
  // plain[p][k] / dbl[p][k]: sums over digits m < k with m % 2 === p, as is and doubled.
  const plain = [new Int32Array(n + 1), new Int32Array(n + 1)];
  const dbl = [new Int32Array(n + 1), new Int32Array(n + 1)];
  for (let k = 0; k < n; k++) {
    const d = digits[k] as number;
    for (const p of [0, 1]) {
      (plain[p] as Int32Array)[k + 1] = ((plain[p] as Int32Array)[k] as number) + (k % 2 === p ? d : 0);
      (dbl[p] as Int32Array)[k + 1] = ((dbl[p] as Int32Array)[k] as number) + (k % 2 === p ? doubled(d) : 0);
    }
  }
  let found = false;
  for (let j = MIN_PAN_DIGITS; j <= n; j++) {
    // The rightmost digit (j - 1) is not doubled, the one before it is, and so on.
    const p = (j - 1) % 2;
    const endsGroup = j === n || (groupStart[j] as boolean);
    if (!endsGroup && !oneEnd) continue; // a window ends where a group ends
    for (let len = MIN_PAN_DIGITS; len <= MAX_PAN_DIGITS && len <= j; len++) {
      const i = j - len;
      const first = digits[i] as number;
      // A window starts where a group starts (oneEnd: or at least ends where one ends).
      if (!(groupStart[i] || (oneEnd && endsGroup))) continue;
      // Every brand's numbers start with 2 to 6: the table is only read for those.
      if (first < 2 || first > 6) continue;
      const sum =
        ((plain[p] as Int32Array)[j] as number) -
        ((plain[p] as Int32Array)[i] as number) +
        ((dbl[1 - p] as Int32Array)[j] as number) -
        ((dbl[1 - p] as Int32Array)[i] as number);
      if (sum % 10 !== 0 || !isCardShape(digits, i, j)) continue;
      found = true;
      if (!marks) return true;
      marks.fill(1, i, j);
    }
  }
  return found;
}

/** Calls `onRun(digits, positions, lengths)` for every run of digit units (separators allowed between digits); true stops. */
function forEachRun(
  s: string,
  onRun: (digits: number[], groupStart: boolean[], at: number[], lens: number[]) => boolean,
): void {
  let i = 0;
  const n = s.length;
  while (i < n) {
    const u = unitAt(s, i);
    if ((u & 255) < DIGIT0) {
      i += u >> 8;
      continue;
    }
    const digits = [(u & 255) - DIGIT0];
    const groupStart = [true];
    const at = [i];
    const lens = [u >> 8];
    let next = i + (u >> 8);
    for (;;) {
      let k = next;
      let w = unitAt(s, k);
      while (k < n && (w & 255) === SEP) {
        k += w >> 8;
        w = unitAt(s, k);
      }
      if (k >= n || (w & 255) < DIGIT0) break;
      digits.push((w & 255) - DIGIT0);
      groupStart.push(k > next);
      at.push(k);
      lens.push(w >> 8);
      next = k + (w >> 8);
    }
    if (onRun(digits, groupStart, at, lens)) return;
    i = next;
  }
}

/** `s` with every card number masked (digits replaced by `*`); the same string when there is none. */
export function maskCards(s: string): string {
  return maskCardWindows(s, false);
}

/**
 * A raw payload's card numbers masked, failing closed: a 13–19 digit window needs only one of its ends at a group's
 * edge, not both, so a card number glued to other digits on one side (byte damage that dropped a quote:
 * `"Refused51051051051051000`, seen in the 100,000-body fuzz) is still masked. For the payloads DLQ records and
 * quarantine rows carry, where a few digits masked too many cost little: some long digit runs that are no card lose
 * digits too (about 1 in 17 random 16-digit Adyen pspReferences has a card-shaped, Luhn-valid tail; the record's
 * `event_id` keeps the id whole). Events' free text and identifiers keep `maskCards`. A card number with
 * digits glued on both sides is not found by either rule.
 */
export function maskCardsInPayload(s: string): string {
  return maskCardWindows(s, true);
}

function maskCardWindows(s: string, oneEnd: boolean): string {
  let out: string[] | null = null;
  let copied = 0;
  forEachRun(s, (digits, groupStart, at, lens) => {
    if (digits.length < MIN_PAN_DIGITS) return false;
    const marks = new Uint8Array(digits.length);
    if (!luhnWindows(digits, groupStart, marks, oneEnd)) return false;
    out ??= [];
    for (let k = 0; k < digits.length; k++) {
      if (marks[k] !== 1) continue;
      const pos = at[k] as number;
      out.push(s.slice(copied, pos), MASK);
      copied = pos + (lens[k] as number);
    }
    return false;
  });
  if (out === null) return s;
  (out as string[]).push(s.slice(copied));
  return (out as string[]).join('');
}

/** True when an identifier holds a card number (the windows of `maskCards`). */
export function hasCardNumber(id: string): boolean {
  let found = false;
  forEachRun(id, (digits, groupStart) => {
    if (digits.length >= MIN_PAN_DIGITS && luhnWindows(digits, groupStart, null)) {
      found = true;
    }
    return found;
  });
  return found;
}

/** A free-text value as the unified event carries it: card numbers masked, NUL as U+FFFD. */
export function cleanText(s: string): string {
  const masked = maskCards(s);
  return masked.includes('\u0000') ? masked.replaceAll('\u0000', '\ufffd') : masked;
}

/** Longest raw JSON string token (quotes included) / form key that can decode to a signature key (13 characters). */
const MAX_KEY_TOKEN = 2 + 13 * 6;
const MAX_FORM_KEY = 13 * 3;

/** Lenient percent-decoding of a form key for comparison (`+` is a space, a bad escape stays as it is), ASCII lowercased. */
function formKey(k: string): string {
  let out = '';
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c === 43) out += ' ';
    else if (c === 37 && hexVal(k.charCodeAt(i + 1)) >= 0 && hexVal(k.charCodeAt(i + 2)) >= 0) {
      out += String.fromCharCode(hexVal(k.charCodeAt(i + 1)) * 16 + hexVal(k.charCodeAt(i + 2)));
      i += 2;
    } else out += k[i];
  }
  return asciiLower(out);
}

/** The end (index after the closing quote) of the JSON string token starting at `i` (a `"`), or -1 when unterminated. */
function stringEnd(s: string, i: number): number {
  for (let k = i + 1; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c === 92) k++;
    else if (c === 34) return k + 1;
  }
  return -1;
}

/** The decoded value of a JSON string token (escapes resolved; invalid ones kept as written), ASCII lowercased. */
function tokenKey(tok: string): string {
  let out = '';
  for (let k = 1; k < tok.length - 1; k++) {
    const c = tok[k] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = tok[k + 1];
    if (e === 'u') {
      let v = 0;
      let ok = true;
      for (let m = 2; m < 6; m++) {
        const h = hexVal(tok.charCodeAt(k + m));
        if (h < 0) ok = false;
        v = v * 16 + h;
      }
      if (ok) {
        out += String.fromCharCode(v);
        k += 5;
        continue;
      }
    }
    out += e ?? '';
    k++;
  }
  return asciiLower(out);
}

const KEY_LENGTHS: ReadonlySet<number> = new Set([...SIGNATURE_KEYS].map((k) => k.length));

/** True when the JSON string token s[i, end) (quotes included) decodes to a signature key. */
function isSignatureToken(s: string, i: number, end: number): boolean {
  if (end - i > MAX_KEY_TOKEN) return false;
  let escaped = false;
  for (let k = i + 1; k < end - 1 && !escaped; k++) escaped = s.charCodeAt(k) === 92;
  if (!escaped) {
    // No escape: the common case, compared without building a string.
    if (!KEY_LENGTHS.has(end - i - 2)) return false;
    return SIGNATURE_KEYS.has(asciiLower(s.slice(i + 1, end - 1)));
  }
  return SIGNATURE_KEYS.has(tokenKey(s.slice(i, end)));
}

const isJsonWs = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;

/** JSON members `"<signature key>": "<value>"`: the value's characters become `[redacted]`. */
function redactJsonSignatures(s: string): string {
  let out: string[] | null = null;
  let copied = 0;
  let i = s.indexOf('"');
  while (i >= 0) {
    const end = stringEnd(s, i);
    if (end < 0) break;
    let next = end;
    if (isSignatureToken(s, i, end)) {
      let k = end;
      while (k < s.length && isJsonWs(s.charCodeAt(k))) k++;
      if (s.charCodeAt(k) === 58 /* : */) {
        k++;
        while (k < s.length && isJsonWs(s.charCodeAt(k))) k++;
        if (s.charCodeAt(k) === 34) {
          const vEnd = stringEnd(s, k);
          if (vEnd > 0) {
            out ??= [];
            out.push(s.slice(copied, k + 1), REDACTED_VALUE);
            copied = vEnd - 1;
            next = vEnd;
          }
        }
      }
    }
    i = s.indexOf('"', next);
  }
  if (out === null) return s;
  (out as string[]).push(s.slice(copied));
  return (out as string[]).join('');
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Strict base64 (line feeds and carriage returns skipped, padding optional but complete), as core-native's decoder. */
function base64Bytes(s: string): Uint8Array | undefined {
  const out: number[] = [];
  let acc = 0;
  let n = 0;
  let pad = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\n' || c === '\r') continue;
    if (c === '=') {
      pad++;
      continue;
    }
    if (pad > 0) return undefined;
    const v = B64.indexOf(c);
    if (v < 0) return undefined;
    acc = ((acc << 6) | v) & 0xffffff;
    n++;
    if (n === 4) {
      out.push(acc >> 16, (acc >> 8) & 255, acc & 255);
      acc = 0;
      n = 0;
    }
  }
  if (n === 2 && (pad === 0 || pad === 2) && (acc & 0xf) === 0) out.push((acc >> 4) & 255);
  else if (n === 3 && (pad === 0 || pad === 1) && (acc & 3) === 0) out.push((acc >> 10) & 255, (acc >> 2) & 255);
  else if (!(n === 0 && pad === 0)) return undefined;
  return Uint8Array.from(out);
}

// ignoreBOM: a leading U+FEFF is kept as text, as Rust's from_utf8 keeps it (the default would drop it).
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8 = new TextEncoder();

/** Percent-decoding of a form value when every escape is valid (`+` a space), else undefined. */
function formValue(v: string): string | undefined {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 43) out += ' ';
    else if (c === 37) {
      const h = hexVal(v.charCodeAt(i + 1));
      const l = hexVal(v.charCodeAt(i + 2));
      if (h < 0 || l < 0) return undefined;
      out += String.fromCharCode(h * 16 + l);
      i += 2;
    } else out += v[i];
  }
  return out;
}

/** Lenient percent-decoding of a value (`+` a space, a bad escape kept as written), one character per byte. */
function percentLenient(v: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 43) out += ' ';
    else if (c === 37 && hexVal(v.charCodeAt(i + 1)) >= 0 && hexVal(v.charCodeAt(i + 2)) >= 0) {
      out += String.fromCharCode(hexVal(v.charCodeAt(i + 1)) * 16 + hexVal(v.charCodeAt(i + 2)));
      i += 2;
    } else out += v[i];
  }
  return out;
}

/** The base64 alphabet's characters of a damaged value, as a lenient reader keeps them. */
function base64Kept(s: string): string {
  let kept = '';
  for (let i = 0; i < s.length; i++) if (B64.includes(s[i] as string)) kept += s[i];
  return kept;
}

/** The bytes of `kept` decoded from character `from` on, whole quads only. */
function base64Quads(kept: string, from: number): Uint8Array {
  const s = kept.slice(from);
  return base64Bytes(s.slice(0, s.length - (s.length % 4))) ?? new Uint8Array(0);
}

const latin1Of = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

/**
 * A bt_payload value with the card numbers of its notification masked and re-encoded; the same value when there is
 * none. The bytes are scanned as they are (one character per byte: masking only touches ASCII). A payload that is not
 * strictly percent- and base64-encoded (a refused request's) is read leniently at each of the four base64 alignments
 * (damage can shift it): when one of them shows a card number, the whole value becomes `[redacted]`.
 */
function redactBtPayload(value: string): string {
  const strict = formValue(value);
  const bytes = strict === undefined ? undefined : base64Bytes(strict);
  if (bytes === undefined) {
    const kept = base64Kept(percentLenient(value));
    for (let from = 0; from < 4; from++) {
      const text = latin1Of(base64Quads(kept, from));
      if (maskCards(text) !== text) return REDACTED_VALUE;
    }
    return value;
  }
  const latin1 = latin1Of(bytes);
  const masked = maskCards(latin1);
  if (masked === latin1) return value;
  return encodeURIComponent(Buffer.from(masked, 'latin1').toString('base64'));
}

/** Form fields `<signature key>=<value>`: the value becomes `[redacted]`; `bt_payload` values are redacted inside. */
function redactFormFields(s: string): string {
  if (!s.includes('=')) return s;
  const parts = s.split('&');
  let changed = false;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p] as string;
    const eq = part.indexOf('=');
    if (eq < 0 || eq > MAX_FORM_KEY) continue;
    const key = formKey(part.slice(0, eq));
    if (SIGNATURE_KEYS.has(key)) {
      parts[p] = `${part.slice(0, eq + 1)}${REDACTED_VALUE}`;
      changed = true;
    } else if (key === 'bt_payload') {
      const v = redactBtPayload(part.slice(eq + 1));
      if (v !== part.slice(eq + 1)) {
        parts[p] = `${part.slice(0, eq + 1)}${v}`;
        changed = true;
      }
    }
  }
  return changed ? parts.join('&') : s;
}

const ESC_QUOTE = '\\"';

/**
 * The same as redactJsonSignatures one level down: JSON held in a JSON string (a DLQ record's `original_payload`, a
 * metadata value), where members read `\"hmacSignature\":\"…\"`. Keys are compared as written (ASCII case-insensitive).
 */
function redactNestedJsonSignatures(s: string): string {
  let i = s.indexOf(ESC_QUOTE);
  if (i < 0) return s;
  let out: string[] | null = null;
  let copied = 0;
  while (i >= 0) {
    const close = s.indexOf(ESC_QUOTE, i + 2);
    if (close < 0) break;
    let next = close + 2;
    if (close - i - 2 <= 13 && SIGNATURE_KEYS.has(asciiLower(s.slice(i + 2, close)))) {
      let k = next;
      while (s.charCodeAt(k) === 32) k++;
      if (s.charCodeAt(k) === 58 /* : */) {
        k++;
        while (s.charCodeAt(k) === 32) k++;
        if (s.startsWith(ESC_QUOTE, k)) {
          const vClose = s.indexOf(ESC_QUOTE, k + 2);
          if (vClose >= 0) {
            out ??= [];
            out.push(s.slice(copied, k + 2), REDACTED_VALUE);
            copied = vClose;
            next = vClose + 2;
          }
        }
      }
    }
    i = s.indexOf(ESC_QUOTE, next);
  }
  if (out === null) return s;
  (out as string[]).push(s.slice(copied));
  return (out as string[]).join('');
}

const LOOSE_SKIP = new Set([32, 34, 39, 92, 58, 61, 9, 13, 10]); // space " ' \ : = tab CR LF
const isSigValueChar = (c: number) =>
  (c >= 48 && c <= 57) ||
  (c >= 65 && c <= 90) ||
  (c >= 97 && c <= 122) ||
  c === 43 || // +
  c === 47 || // /
  c === 61 || // =
  c === 124 || // |
  c === 37 || // %
  c === 95 || // _
  c === 46 || // .
  c === 45; // -

/**
 * The last word on signatures, for text no parser can read (damaged JSON, quotes out of place): after any spelling of
 * `signature` (which ends each key name), up to 8 quote, colon, equals, backslash or blank characters, a run of 16 or
 * more base64, hex or `key|hex` characters becomes `[redacted]`.
 */
function redactLooseSignatures(s: string): string {
  const lower = asciiLower(s);
  let out: string[] | null = null;
  let copied = 0;
  let i = lower.indexOf('signature');
  while (i >= 0) {
    let j = i + 9;
    while (j < s.length && j - (i + 9) < 8 && LOOSE_SKIP.has(s.charCodeAt(j))) j++;
    let k = j;
    while (k < s.length && isSigValueChar(s.charCodeAt(k))) k++;
    let next = i + 9;
    if (k - j >= 16) {
      out ??= [];
      out.push(s.slice(copied, j), REDACTED_VALUE);
      copied = k;
      next = k;
    }
    i = lower.indexOf('signature', next);
  }
  if (out === null) return s;
  (out as string[]).push(s.slice(copied));
  return (out as string[]).join('');
}

const isB64Code = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 43 || c === 47;
const isHexCode = (c: number) => hexVal(c) >= 0;
const B64_SHA256_LEN = 43; // base64 characters of a 32-byte digest before its one `=`

/**
 * Fail-closed signature redaction by the value's shape, whatever key (or no key) it sits under: a key name damaged by
 * one byte (`hmacSinature`, `bt_signatrue`) hides a signature from every key-based pass above (issue 13). Becomes
 * `[redacted]`:
 * - a base64 SHA-256 digest (Adyen's `hmacSignature`): exactly 43 base64 characters and one `=`, with no base64
 *   character or `=` on either side;
 * - a hex SHA-1 or SHA-256 digest after a `|` (written as is or `%7C`): Braintree's `public_key|hex` pairs, exactly 40
 *   or 64 hex digits with no letter or digit after them.
 */
function redactDigestShapes(s: string): string {
  let out: string[] | null = null;
  let copied = 0;
  const cut = (from: number, to: number) => {
    out ??= [];
    out.push(s.slice(copied, from), REDACTED_VALUE);
    copied = to;
  };
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 124 /* | */ || (c === 37 /* % */ && s.charCodeAt(i + 1) === 55 && (s.charCodeAt(i + 2) | 32) === 99)) {
      const from = c === 124 ? i + 1 : i + 3;
      let k = from;
      while (k < n && isHexCode(s.charCodeAt(k))) k++;
      const next = s.charCodeAt(k);
      const bounded = k >= n || !((next >= 48 && next <= 57) || ((next | 32) >= 97 && (next | 32) <= 122));
      if ((k - from === 40 || k - from === 64) && bounded) {
        cut(from, k);
        i = k;
      } else i = from;
      continue;
    }
    if (!isB64Code(c)) {
      i++;
      continue;
    }
    // A maximal run of base64 characters and `=`: redacted when it is exactly a digest's shape.
    const start = i;
    while (i < n && isB64Code(s.charCodeAt(i))) i++;
    const b64End = i;
    while (i < n && s.charCodeAt(i) === 61) i++;
    const before = start > 0 ? s.charCodeAt(start - 1) : -1;
    if (b64End - start === B64_SHA256_LEN && i - b64End === 1 && before !== 61 && !isB64Code(before)) cut(start, i);
  }
  if (out === null) return s;
  (out as string[]).push(s.slice(copied));
  return (out as string[]).join('');
}

/** A raw payload's text with signatures and card numbers taken out (JSON, form and XML alike). */
export function redactText(s: string): string {
  return maskCardsInPayload(
    redactDigestShapes(redactLooseSignatures(redactFormFields(redactNestedJsonSignatures(redactJsonSignatures(s))))),
  );
}

/**
 * The bytes of a message with signatures and card numbers taken out: UTF-8 text redacted as text; bytes that are not
 * UTF-8 read one character each (Latin-1), redacted, and written back the same way (`utf8` tells which).
 */
export function redactBytes(raw: Uint8Array): { bytes: Uint8Array; utf8: boolean } {
  let text: string;
  try {
    text = strictUtf8.decode(raw);
  } catch {
    const latin1 = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
    const red = redactText(latin1);
    return { bytes: red === latin1 ? raw : Buffer.from(red, 'latin1'), utf8: false };
  }
  const red = redactText(text);
  return { bytes: red === text ? raw : utf8.encode(red), utf8: true };
}

/**
 * A raw message as a DLQ record carries it: UTF-8 text redacted (`utf8`), or, for bytes that are not UTF-8, the
 * redacted bytes (see `redactBytes`) in base64 (`base64`).
 */
export function redactPayload(raw: Uint8Array): { text: string; encoding: 'utf8' | 'base64' } {
  const r = redactBytes(raw);
  const b = Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
  return r.utf8 ? { text: b.toString('utf8'), encoding: 'utf8' } : { text: b.toString('base64'), encoding: 'base64' };
}
