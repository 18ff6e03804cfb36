/**
 * Typed readers for configuration from environment variables, shared by every service so that a bad value gets the
 * same clear message everywhere: the variable's name, what it must be, and what it got. An unset or blank variable
 * takes the documented default. Every reader throws ConfigError, which a service's main turns into exit status 2.
 */

import { getPriority, setPriority } from 'node:os';

export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
}

export type Env = Readonly<Record<string, string | undefined>>;

function raw(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/** A decimal integer in [min, max] (no hex, exponents or fractions: `1e3` in a config is more likely a typo). */
export function envInt(env: Env, name: string, def: number, min: number, max: number): number {
  const v = raw(env, name);
  if (v === undefined) return def;
  const n = /^-?\d{1,16}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(env[name])}`);
  }
  return n;
}

/** A string, trimmed. */
export function envStr(env: Env, name: string, def: string): string {
  return raw(env, name) ?? def;
}

/** true/false, also 1/0, on/off, yes/no. */
export function envBool(env: Env, name: string, def: boolean): boolean {
  const v = raw(env, name)?.toLowerCase();
  if (v === undefined) return def;
  if (['1', 'true', 'on', 'yes'].includes(v)) return true;
  if (['0', 'false', 'off', 'no'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(env[name])}`);
}

/** One of a fixed set of values. */
export function envOneOf<T extends string>(env: Env, name: string, def: T, allowed: readonly T[]): T {
  const v = envStr(env, name, def);
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

/** A comma-separated list, items trimmed, empty items dropped; `minItems` items at least. */
export function envList(env: Env, name: string, def: readonly string[], minItems = 0): string[] {
  const v = raw(env, name);
  const items = v === undefined ? [...def] : v.split(',').flatMap((s) => (s.trim() ? [s.trim()] : []));
  if (items.length < minItems) {
    throw new ConfigError(`${name} must list at least ${minItems} comma-separated item${minItems === 1 ? '' : 's'}`);
  }
  return items;
}

/** The URL with its password replaced, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable url>';
  }
}

/**
 * Lowers this process's CPU priority to `nice` (0-19; never raises it): work that may wait (DLQ review registration,
 * quarantine rows) yields the CPU to the payment path on a busy machine (issue 13). Returns the niceness in effect,
 * or null where the platform does not allow it.
 */
export function lowerPriority(nice: number): number | null {
  try {
    if (nice > getPriority()) setPriority(nice);
    return getPriority();
  } catch {
    return null;
  }
}
