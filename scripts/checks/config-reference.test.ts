/**
 * The configuration reference (docs/configuration.md) against the code (scripts/checks/config-reference.ts): first
 * that the reader finds each way of reading a variable and the check reports missing and stale rows, then that this
 * repository's reference is complete.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { checkReference, codeReads, isProductFile, REFERENCE, readsOf, referenceRows } from './config-reference.ts';
import { repoRoot } from './packages.ts';

describe('the configuration reference check', () => {
  test('finds env.X, process.env.X, env["X"] and literals passed with the environment, not other strings', () => {
    const text = [
      "const a = process.env.EDGE_PORT ?? '8080';",
      'const b = env.KAFKA_BROKERS;',
      "const c = env['REDIS_URL'];",
      "const d = envInt(env, 'EDGE_MAX_BODY_BYTES', 1, 0, 2);",
      "const e = int(process.env, 'BRIDGE_BATCH_SIZE', 50, 1, 200);",
      "const f = 'NOT_A_READ'; fail('ALSO_NOT', code);",
      "childEnv.SET_FOR_CHILD = '1'; const g = baseEnv.INHERITED;",
    ].join('\n');
    assert.deepEqual(
      readsOf(text).map((r) => `${r.line}:${r.name}`),
      ['1:EDGE_PORT', '2:KAFKA_BROKERS', '3:REDIS_URL', '4:EDGE_MAX_BODY_BYTES', '5:BRIDGE_BATCH_SIZE', '7:INHERITED'],
    );
  });

  test('leaves tests, fixtures and benchmarks out', () => {
    assert.equal(isProductFile('edge/src/config.ts'), true);
    assert.equal(isProductFile('edge/src/config.test.ts'), false);
    assert.equal(isProductFile('pipeline/test/fixtures/child.ts'), false);
    assert.equal(isProductFile('bench/edge/index.ts'), false);
  });

  test('reports a variable missing from the reading package section, with the row to add, and stale rows', () => {
    const rows = referenceRows(
      ['## edge', '', '| `EDGE_PORT` | 8080 | port |', '| `OLD_VAR` | x | gone |', '## pipeline', ''].join('\n'),
    );
    const { missing, stale } = checkReference(
      [
        { name: 'EDGE_PORT', file: 'edge/src/a.ts', line: 3, pkg: 'edge' },
        { name: 'EDGE_PORT', file: 'pipeline/src/b.ts', line: 9, pkg: 'pipeline' },
        { name: 'LAKE_WAREHOUSE', file: 'lakehouse/src/c.ts', line: 1, pkg: 'lakehouse' },
      ],
      rows,
    );
    assert.equal(missing.length, 2);
    assert.match(
      missing[0] ?? '',
      /^LAKE_WAREHOUSE is read by lakehouse\/src\/c\.ts:1 .* under "## lakehouse": add \| `LAKE_WAREHOUSE` \|/,
    );
    assert.match(missing[1] ?? '', /^EDGE_PORT is read by pipeline\/src\/b\.ts:9 .* under "## pipeline"/);
    assert.deepEqual(stale.length, 1);
    assert.match(stale[0] ?? '', /^OLD_VAR is listed under "## edge" .* remove that row/);
  });
});

describe('this repository', () => {
  const root = repoRoot();
  const { missing, stale } = checkReference(
    codeReads(root),
    referenceRows(readFileSync(join(root, REFERENCE), 'utf8')),
  );
  test(`every variable the code reads is in ${REFERENCE}, under each package that reads it`, () => {
    assert.equal(missing.length, 0, `\n${missing.join('\n')}`);
  });
  test(`every row of ${REFERENCE} names a variable its package still reads`, () => {
    assert.equal(stale.length, 0, `\n${stale.join('\n')}`);
  });
});
