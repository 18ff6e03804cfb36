/**
 * JSON reading with exactly the acceptance rules of the Rust crate (`crates/core/src/json.rs`):
 * strict UTF-8, no lone surrogates, no number overflowing to infinity, at most 64 levels of
 * nesting, last duplicate key wins. `JSON.parse` does most of it; a walk checks the rest.
 */

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export const MAX_DEPTH = 64;
export const INVALID: unique symbol = Symbol('invalid JSON');

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

function valid(v: Json, depth: number, checkStrings: boolean): boolean {
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v === 'string') return !checkStrings || v.isWellFormed();
  if (v === null || typeof v === 'boolean') return true;
  if (depth + 1 > MAX_DEPTH) return false;
  if (Array.isArray(v)) {
    for (const x of v) if (!valid(x, depth + 1, checkStrings)) return false;
    return true;
  }
  for (const k in v) {
    if (checkStrings && !k.isWellFormed()) return false;
    if (!valid(v[k] as Json, depth + 1, checkStrings)) return false;
  }
  return true;
}

export function parseText(text: string): Json | typeof INVALID {
  let v: Json;
  try {
    v = JSON.parse(text) as Json;
  } catch {
    return INVALID;
  }
  return valid(v, 0, SURROGATE_ESCAPE.test(text)) ? v : INVALID;
}

/** Decodes strict UTF-8 (a BOM is kept, so JSON.parse rejects it as serde_json does). */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

export function parseBytes(bytes: Uint8Array): Json | typeof INVALID {
  const text = decodeUtf8(bytes);
  return text === undefined ? INVALID : parseText(text);
}

export const isObject = (v: Json | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Own-property lookup (never the prototype chain: `{}` has no "toString" member). */
export function get(o: Json | undefined, key: string): Json | undefined {
  return isObject(o) && Object.hasOwn(o, key) ? o[key] : undefined;
}

export function path(o: Json | undefined, keys: readonly string[]): Json | undefined {
  let cur = o;
  for (const k of keys) {
    cur = get(cur, k);
    if (cur === undefined) return undefined;
  }
  return cur;
}

export const isNonEmptyObject = (v: Json | undefined): boolean => isObject(v) && Object.keys(v).length > 0;
