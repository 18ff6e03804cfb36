/**
 * The loader: CORE_NATIVE_IMPL picks the implementation; `native` fails loudly with the addon's
 * load error as `cause`; `auto` falls back to the twin. Each case runs in a fresh process
 * (a loaded addon stays loaded), with NAPI_RS_NATIVE_LIBRARY_PATH pointing at a missing file to
 * simulate an absent addon.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { implChoice } from '../src/index.ts';

const probe = fileURLToPath(new URL('./load-probe.ts', import.meta.url));
const isBun = (process.versions as Record<string, string | undefined>).bun !== undefined;

function run(env: Record<string, string>): Record<string, unknown> {
  const args = isBun ? [probe] : ['--import', 'tsx', probe];
  const out = execFileSync(process.execPath, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1) as string);
}

const MISSING = { NAPI_RS_NATIVE_LIBRARY_PATH: '/nonexistent/pep-core.node' };

test('CORE_NATIVE_IMPL=native loads the addon', () => {
  assert.deepEqual(run({ CORE_NATIVE_IMPL: 'native' }), { kind: 'native', fallbackCause: false });
});

test('CORE_NATIVE_IMPL=native fails loudly with the load error as cause when the addon is missing', () => {
  const r = run({ CORE_NATIVE_IMPL: 'native', ...MISSING });
  assert.equal(r.isLoadError, true);
  assert.equal(r.code, 'CORE_NATIVE_LOAD_FAILED');
  assert.equal(r.hasCause, true);
});

test('CORE_NATIVE_IMPL=auto falls back to the twin and keeps the load error', () => {
  assert.deepEqual(run({ CORE_NATIVE_IMPL: 'auto', ...MISSING }), { kind: 'js', fallbackCause: true });
});

test('CORE_NATIVE_IMPL=js never touches the addon', () => {
  assert.deepEqual(run({ CORE_NATIVE_IMPL: 'js', ...MISSING }), { kind: 'js', fallbackCause: false });
});

test('an unknown CORE_NATIVE_IMPL value is refused', () => {
  assert.throws(() => implChoice({ CORE_NATIVE_IMPL: 'fast' }), /native, js or auto/);
  assert.equal(implChoice({}), 'auto');
});
