/** Shared test helpers: the conformance table, fixed clocks, and both implementations. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type CoreImpl, loadCore, type OneMessage, type ProviderName } from '../src/index.ts';

export const NORMALIZED_AT_MS = 1_767_225_600_000;
export const RECEIVED_AT_MS = 1_767_225_599_000;

/**
 * Options of a CPU-bound test (a property over DIFF_RUNS cases, every conformance case through both implementations):
 * its wall time is its CPU work times the machine's load, seconds on a shared 2-core machine. Bun's runner otherwise
 * fails a test after 5 s (node's has no limit), which is what failed these under load; the deadline that stays only
 * catches a hang. Pass it as `test(name, CPU_BOUND, fn)` (both runners read it).
 */
export const CPU_BOUND = { timeout: 120_000 } as const;

export interface Case {
  name: string;
  provider: ProviderName | 'unknown';
  input?: string;
  inputBase64?: string;
  expect: { events?: number; dlq?: number; fields?: Record<string, unknown>; codes?: string[] };
}

const dir = fileURLToPath(new URL('../fixtures/', import.meta.url));
export const cases: Case[] = JSON.parse(readFileSync(`${dir}cases.json`, 'utf8'));
export const golden: Record<string, { events: string[]; dlq: string[] }> = JSON.parse(
  readFileSync(`${dir}golden.json`, 'utf8'),
);
export const payload = (name: string) => readFileSync(`${dir}payloads/${name}`);

export function caseMessage(c: Case, index: number): OneMessage {
  const bytes = c.inputBase64 !== undefined ? Buffer.from(c.inputBase64, 'base64') : Buffer.from(c.input ?? '', 'utf8');
  return {
    provider: c.provider as ProviderName,
    bytes: new Uint8Array(bytes),
    topic: 'webhooks.test',
    partition: 0,
    offset: index,
    receivedAtMs: RECEIVED_AT_MS,
  };
}

/** Both implementations; the native one must load (the build runs before the tests). */
export async function impls(): Promise<{ native: CoreImpl; js: CoreImpl }> {
  return { native: await loadCore({ impl: 'native' }), js: await loadCore({ impl: 'js' }) };
}
