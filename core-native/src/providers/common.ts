/**
 * Provider payloads → unified events: the twin of `crates/core/src/providers/` (this file is mod.rs: the shared
 * readers; one file per provider, with units of the same names in camelCase, in the same order). The differential
 * tests compare their bytes.
 */
import type { Provider } from '@pep/contracts';
import { cleanText } from '@pep/contracts/redact';
import type { AmountBounds } from '../currency.ts';
import { get, isObject, type Json, type JsonObject } from '../json.ts';
import {
  amountMinor,
  BAD,
  byteLen,
  C,
  type Currency,
  checkMax,
  currency,
  type Errs,
  MAX_METADATA_ENTRIES,
  MAX_METADATA_KEY_BYTES,
  MAX_TEXT_BYTES,
  ok,
  optText,
  type Read,
  token,
} from '../rules.ts';
import { parseRfc3339 } from '../time.ts';

/** A provider's name (@pep/contracts' PROVIDERS). */
export type ProviderName = Provider;
export type Meta = null | boolean | string | string[];

export interface UnifiedEvent {
  provider: ProviderName;
  providerEventId: string;
  objectId: string | undefined;
  eventType: string;
  providerEventType: string;
  merchantId: string | undefined;
  customerId: string | undefined;
  amountMinor: number;
  currency: string;
  paymentMethodType: string | undefined;
  cardBrand: string | undefined;
  cardLastFour: string | undefined;
  status: string;
  failureCode: string | undefined;
  failureMessage: string | undefined;
  /** Sorted by key (code point order), unique keys. */
  metadata: [string, Meta][];
  providerCreatedAtMs: number;
}

export interface Rejected {
  providerEventId: string | undefined;
  errors: Errs;
}
export type Outcome = { ok: true; event: UnifiedEvent } | { ok: false; rejected: Rejected };

export const reject = (id: string | undefined, e: Errs): Outcome => ({
  ok: false,
  rejected: { providerEventId: id, errors: e },
});
export const accept = (event: UnifiedEvent): Outcome => ({ ok: true, event });

export function optToken(v: Json | undefined, field: string, e: Errs): Read<string> {
  const s = optText(v, field, MAX_TEXT_BYTES, e);
  if (s === BAD || s === undefined) return s;
  const t = token(s);
  if (t === undefined) {
    e.push(field, C.INVALID_FIELD_VALUE, 'must be at most 64 characters');
    return BAD;
  }
  return t;
}

export function optObject(v: Json | undefined, field: string, e: Errs): Read<JsonObject> {
  if (v === undefined || v === null) return undefined;
  if (isObject(v)) return v;
  e.push(field, C.INVALID_FIELD_TYPE, 'must be an object');
  return BAD;
}

export function rfc3339Field(v: Json | undefined, field: string, e: Errs): Read<number> {
  const s = optText(v, field, 64, e);
  if (s === BAD || s === undefined) return s;
  const ms = parseRfc3339(s);
  if (ms === undefined) {
    e.push(field, C.INVALID_TIMESTAMP, 'must be an RFC 3339 timestamp with a time zone');
    return BAD;
  }
  return ms;
}

export const missingTimestamp = (field: string, e: Errs) => e.push(field, C.MISSING_TIMESTAMP, 'is required');

/** Code point order (= UTF-8 byte order, as Rust sorts). */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i) as number;
    const y = b.codePointAt(i) as number;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

export function stringMetadata(v: Json | undefined, field: string, e: Errs): [string, Meta][] {
  if (v === undefined || v === null) return [];
  if (!isObject(v)) {
    e.push(field, C.INVALID_METADATA, 'metadata must be an object');
    return [];
  }
  // JSON.parse already kept the last duplicate. Keys as the event carries them (cleanText); two raw keys that clean to
  // the same key: the greater raw key wins. Validated in sorted order like the Rust crate.
  const sorted = Object.keys(v)
    .map((raw) => [cleanText(raw), raw] as const)
    .sort((a, b) => compareKeys(a[0], b[0]) || compareKeys(a[1], b[1]));
  const keys: (readonly [string, string])[] = [];
  for (const kv of sorted) {
    if (keys.length > 0 && (keys[keys.length - 1] as readonly [string, string])[0] === kv[0])
      keys[keys.length - 1] = kv;
    else keys.push(kv);
  }
  if (keys.length > MAX_METADATA_ENTRIES) {
    e.push(field, C.INVALID_METADATA, `metadata must have at most ${MAX_METADATA_ENTRIES} entries`);
    return [];
  }
  const out: [string, Meta][] = [];
  for (const [k, raw] of keys) {
    if (byteLen(raw) > MAX_METADATA_KEY_BYTES) {
      e.push(field, C.INVALID_METADATA, `metadata keys must be at most ${MAX_METADATA_KEY_BYTES} bytes`);
      return [];
    }
    const val = v[raw] as Json;
    if (val === null) out.push([k, null]);
    else if (typeof val === 'string') {
      if (byteLen(val) > MAX_TEXT_BYTES) {
        e.push(field, C.INVALID_METADATA, `metadata values must be at most ${MAX_TEXT_BYTES} bytes`);
        return [];
      }
      out.push([k, val]);
    } else {
      e.push(field, C.INVALID_METADATA, 'metadata values must be strings');
      return [];
    }
  }
  return out;
}

export const metaStr = (k: string, v: string | undefined): [string, Meta] => [k, v ?? null];

/**
 * An amount in minor units and its currency, read in that order, and the amount checked against the currency's maximum
 * (reported at `amountField`).
 */
export function boundedMoney(
  amount: Json | undefined,
  amountField: string,
  cur: Json | undefined,
  curField: string,
  bounds: AmountBounds,
  e: Errs,
): [number | undefined, Currency | undefined] {
  const a = amountMinor(amount, amountField, e);
  const c = currency(cur, curField, e);
  if (a !== undefined && c !== undefined) checkMax(a, c[0], bounds, amountField, e);
  return [a, c];
}

/** Optional text fields of `obj` copied into metadata under their own names (an invalid one is recorded and null). */
export function textMetadata(
  obj: JsonObject,
  field: (k: string) => string,
  keys: readonly string[],
  e: Errs,
): [string, Meta][] {
  return keys.map((k) => metaStr(k, ok(optText(get(obj, k), field(k), MAX_TEXT_BYTES, e))));
}

/** The value of `k` in a record map (own keys only). */
export const mapLookup = (t: Readonly<Record<string, string>>, k: string): string | undefined =>
  Object.hasOwn(t, k) ? t[k] : undefined;
