/**
 * Field rules shared by the four providers, mirrored function by function from
 * `crates/core/src/rules.rs` (same order, same messages).
 */
import { type AmountBounds, exponentOf } from './currency.ts';
import type { Json } from './json.ts';

export const NULL_TOKENS: ReadonlySet<string> = new Set(['', 'null', 'NULL', 'Null', 'none', 'None', 'NONE']);
export const MAX_ID_BYTES = 255;
export const MAX_CODE_BYTES = 255;
export const MAX_TEXT_BYTES = 2048;
export const MAX_TOKEN_CHARS = 64;
export const MAX_METADATA_ENTRIES = 64;
export const MAX_METADATA_KEY_BYTES = 256;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export const C = {
  INVALID_JSON: 'INVALID_JSON',
  MISSING_EVENT_ID: 'MISSING_EVENT_ID',
  MISSING_EVENT_TYPE: 'MISSING_EVENT_TYPE',
  MISSING_DATA_OBJECT: 'MISSING_DATA_OBJECT',
  MISSING_DATA: 'MISSING_DATA',
  MISSING_PAYMENT: 'MISSING_PAYMENT',
  MISSING_REFUND: 'MISSING_REFUND',
  UNKNOWN_OBJECT_TYPE: 'UNKNOWN_OBJECT_TYPE',
  MISSING_OBJECT_ID: 'MISSING_OBJECT_ID',
  INVALID_AMOUNT: 'INVALID_AMOUNT',
  INVALID_AMOUNT_NEGATIVE: 'INVALID_AMOUNT_NEGATIVE',
  INVALID_AMOUNT_TOO_LARGE: 'INVALID_AMOUNT_TOO_LARGE',
  INVALID_CURRENCY: 'INVALID_CURRENCY',
  MISSING_PSP_REFERENCE: 'MISSING_PSP_REFERENCE',
  MISSING_EVENT_CODE: 'MISSING_EVENT_CODE',
  MISSING_MERCHANT_ACCOUNT: 'MISSING_MERCHANT_ACCOUNT',
  MISSING_KIND: 'MISSING_KIND',
  MISSING_TRANSACTION_ID: 'MISSING_TRANSACTION_ID',
  INVALID_AMOUNT_PRECISION: 'INVALID_AMOUNT_PRECISION',
  INVALID_TIMESTAMP: 'INVALID_TIMESTAMP',
  MISSING_TIMESTAMP: 'MISSING_TIMESTAMP',
  INVALID_FIELD_TYPE: 'INVALID_FIELD_TYPE',
  INVALID_FIELD_VALUE: 'INVALID_FIELD_VALUE',
  FIELD_TOO_LONG: 'FIELD_TOO_LONG',
  INVALID_METADATA: 'INVALID_METADATA',
  INVALID_CARD_LAST_FOUR: 'INVALID_CARD_LAST_FOUR',
  INVALID_PAYLOAD: 'INVALID_PAYLOAD',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  TOO_MANY_ITEMS: 'TOO_MANY_ITEMS',
  UNKNOWN_PROVIDER: 'UNKNOWN_PROVIDER',
  INVALID_RECEIVED_AT: 'INVALID_RECEIVED_AT',
  CARD_NUMBER_IN_ID: 'CARD_NUMBER_IN_ID',
} as const;
export type Code = (typeof C)[keyof typeof C] | 'INTERNAL_ERROR';

export interface FieldError {
  field: string;
  code: Code;
  message: string;
}

export class Errs {
  list: FieldError[] = [];
  push(field: string, code: Code, message: string): void {
    this.list.push({ field, code, message });
  }
  get empty(): boolean {
    return this.list.length === 0;
  }
}

/** Marks a read that recorded an error (Rust `Err(())`). */
export const BAD: unique symbol = Symbol('bad');
export type Read<T> = T | undefined | typeof BAD;
export const ok = <T>(r: Read<T>): T | undefined => (r === BAD ? undefined : r);

/** UTF-8 byte length (Rust `str::len`). */
export function byteLen(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

const longerThan = (s: string, max: number) => s.length > max / 3 && byteLen(s) > max;

export function optString(v: Json | undefined, field: string, e: Errs): Read<string> {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  e.push(field, C.INVALID_FIELD_TYPE, 'must be a string');
  return BAD;
}

export function optText(v: Json | undefined, field: string, max: number, e: Errs): Read<string> {
  const s = optString(v, field, e);
  if (s === BAD || s === undefined) return s;
  if (NULL_TOKENS.has(s)) return undefined;
  if (longerThan(s, max)) {
    e.push(field, C.FIELD_TOO_LONG, `must be at most ${max} bytes`);
    return BAD;
  }
  return s;
}

const ID_RE = /^[\x21\x23-\x5b\x5d-\x7e]{1,255}$/;
export const validId = (s: string): boolean => ID_RE.test(s);
const ID_MESSAGE = 'must be 1 to 255 printable ASCII characters without quotes or backslashes';

export function optId(v: Json | undefined, field: string, e: Errs): Read<string> {
  const s = optText(v, field, MAX_TEXT_BYTES, e);
  if (s === BAD || s === undefined) return s;
  if (!validId(s)) {
    e.push(field, C.INVALID_FIELD_VALUE, ID_MESSAGE);
    return BAD;
  }
  return s;
}

export function reqId(v: Json | undefined, field: string, missing: Code, e: Errs): string | undefined {
  const s = optId(v, field, e);
  if (s === BAD) return undefined;
  if (s === undefined) {
    e.push(field, missing, 'is required');
    return undefined;
  }
  return s;
}

const TYPE_RE = /^[A-Za-z0-9_.]{1,128}$/;
export const validType = (s: string): boolean => TYPE_RE.test(s);

export function reqType(v: Json | undefined, field: string, missing: Code, e: Errs): string | undefined {
  const s = optText(v, field, MAX_TEXT_BYTES, e);
  if (s === BAD) return undefined;
  if (s === undefined) {
    e.push(field, missing, 'is required');
    return undefined;
  }
  if (!validType(s)) {
    e.push(field, C.INVALID_FIELD_VALUE, 'must be 1 to 128 characters of [A-Za-z0-9_.]');
    return undefined;
  }
  return s;
}

export const asciiTrim = (s: string): string => s.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '');

export type Currency = readonly [code: string, exponent: number];

export function currency(v: Json | undefined, field: string, e: Errs): Currency | undefined {
  if (v === undefined || v === null) {
    e.push(field, C.INVALID_CURRENCY, 'currency is required');
    return undefined;
  }
  if (typeof v !== 'string') {
    e.push(field, C.INVALID_CURRENCY, 'currency must be a string');
    return undefined;
  }
  const raw = asciiTrim(v);
  if (raw.length === 0) {
    e.push(field, C.INVALID_CURRENCY, 'currency cannot be empty');
    return undefined;
  }
  if (!/^[A-Za-z]{3}$/.test(raw)) {
    e.push(field, C.INVALID_CURRENCY, 'currency must be a 3-letter ISO 4217 code');
    return undefined;
  }
  const up = raw.toUpperCase();
  const exp = exponentOf(up);
  if (exp === undefined) {
    e.push(field, C.INVALID_CURRENCY, `unsupported currency ${up}`);
    return undefined;
  }
  return [up, exp];
}

const INTEGER_MSG = 'amount must be an integer number of minor units';

export function amountMinor(v: Json | undefined, field: string, e: Errs): number | undefined {
  if (v === undefined || v === null) {
    e.push(field, C.INVALID_AMOUNT, 'amount is required');
    return undefined;
  }
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) {
      e.push(field, C.INVALID_AMOUNT, INTEGER_MSG);
      return undefined;
    }
    if (v < 0) {
      e.push(field, C.INVALID_AMOUNT_NEGATIVE, 'amount must be >= 0');
      return undefined;
    }
    if (v > MAX_SAFE) {
      e.push(field, C.INVALID_AMOUNT_TOO_LARGE, 'amount exceeds 2^53-1');
      return undefined;
    }
    return v === 0 ? 0 : v;
  }
  if (typeof v === 'string') return digitsAmount(v, field, e);
  e.push(field, C.INVALID_AMOUNT, INTEGER_MSG);
  return undefined;
}

function digitsAmount(s: string, field: string, e: Errs): number | undefined {
  const neg = s.startsWith('-');
  const digits = neg ? s.slice(1) : s;
  if (!/^[0-9]+$/.test(digits)) {
    e.push(field, C.INVALID_AMOUNT, INTEGER_MSG);
    return undefined;
  }
  const sig = digits.replace(/^0+/, '');
  if (neg && sig.length > 0) {
    e.push(field, C.INVALID_AMOUNT_NEGATIVE, 'amount must be >= 0');
    return undefined;
  }
  if (sig.length > 16) {
    e.push(field, C.INVALID_AMOUNT_TOO_LARGE, 'amount exceeds 2^53-1');
    return undefined;
  }
  const v = sig.length === 0 ? 0 : Number(sig);
  if (v > MAX_SAFE) {
    e.push(field, C.INVALID_AMOUNT_TOO_LARGE, 'amount exceeds 2^53-1');
    return undefined;
  }
  return v;
}

export function decimalAmount(s: string, exponent: number, field: string, e: Errs): number | undefined {
  const neg = s.startsWith('-');
  const body = neg ? s.slice(1) : s;
  const dot = body.indexOf('.');
  const intPart = dot < 0 ? body : body.slice(0, dot);
  const fracPart = dot < 0 ? undefined : body.slice(dot + 1);
  const okShape = /^[0-9]+$/.test(intPart) && (fracPart === undefined || /^[0-9]+$/.test(fracPart));
  if (!okShape) {
    e.push(field, C.INVALID_AMOUNT, 'amount must be a decimal number like 10.50');
    return undefined;
  }
  const fracSig = (fracPart ?? '').replace(/0+$/, '');
  const intSig = intPart.replace(/^0+/, '');
  if (neg && !(intSig.length === 0 && fracSig.length === 0)) {
    e.push(field, C.INVALID_AMOUNT_NEGATIVE, 'amount must be >= 0');
    return undefined;
  }
  if (fracSig.length > exponent) {
    e.push(field, C.INVALID_AMOUNT_PRECISION, `amount has more than ${exponent} decimal places for its currency`);
    return undefined;
  }
  if (intSig.length + exponent > 16) {
    e.push(field, C.INVALID_AMOUNT_TOO_LARGE, 'amount exceeds 2^53-1');
    return undefined;
  }
  const digits = intSig + fracSig.padEnd(exponent, '0');
  const v = digits.length === 0 ? 0 : Number(digits);
  if (v > MAX_SAFE) {
    e.push(field, C.INVALID_AMOUNT_TOO_LARGE, 'amount exceeds 2^53-1');
    return undefined;
  }
  return v;
}

export function checkMax(amount: number, cur: string, bounds: AmountBounds, field: string, e: Errs): boolean {
  const max = bounds.maxFor(cur);
  if (amount > max) {
    e.push(field, C.INVALID_AMOUNT_TOO_LARGE, `amount exceeds the maximum ${max} for ${cur}`);
    return false;
  }
  return true;
}

export function lastFour(v: Json | undefined, field: string, e: Errs): Read<string> {
  const s = optText(v, field, MAX_TEXT_BYTES, e);
  if (s === BAD || s === undefined) return s;
  if (!/^[0-9]{4}$/.test(s)) {
    e.push(field, C.INVALID_CARD_LAST_FOUR, 'must be exactly 4 digits');
    return BAD;
  }
  return s;
}

export function token(s: string): string | undefined {
  let out = '';
  let n = 0;
  for (const ch of s) {
    if (++n > MAX_TOKEN_CHARS) return undefined;
    const c = ch.charCodeAt(0);
    if ((c >= 48 && c <= 57) || (c >= 97 && c <= 122)) out += ch;
    else if (c >= 65 && c <= 90) out += String.fromCharCode(c + 32);
    else out += '_';
  }
  return n === 0 ? undefined : out;
}

export const lower = (s: string): string => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

const BRANDS: Readonly<Record<string, string | null>> = {
  visa: 'visa',
  mastercard: 'mastercard',
  mc: 'mastercard',
  amex: 'amex',
  americanexpress: 'amex',
  discover: 'discover',
  discoverdiners: 'diners',
  diners: 'diners',
  dinersclub: 'diners',
  jcb: 'jcb',
  unionpay: 'unionpay',
  chinaunionpay: 'unionpay',
  cup: 'unionpay',
  maestro: 'maestro',
  ukmaestro: 'maestro',
  cartesbancaires: 'cartes_bancaires',
  cartebancaire: 'cartes_bancaires',
  cb: 'cartes_bancaires',
  eftpos: 'eftpos',
  eftposau: 'eftpos',
  interac: 'interac',
  elo: 'elo',
  bcmc: 'bancontact',
  bancontact: 'bancontact',
  '': null,
  unknown: null,
  other: null,
  otherbrand: null,
};

export function cardBrand(raw: string): string | undefined {
  const key = lower(raw.replace(/[ _-]/g, ''));
  if (Object.hasOwn(BRANDS, key)) return BRANDS[key] ?? undefined;
  if (/^[0-9]+$/.test(key)) return undefined;
  return token(raw);
}

export const orToken = (mapped: string | undefined, raw: string): string | undefined => mapped ?? token(raw);
