/** The k6 scenarios in bench/edge/k6 stay valid: they type-check against @types/k6 (k6 itself is not installable here). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

test('bench/edge/k6 scenarios type-check against @types/k6', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const r = spawnSync(
    process.execPath,
    ['node_modules/typescript/bin/tsc', '-p', 'bench/edge/k6/tsconfig.json', '--noEmit'],
    { cwd: root, encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
