/**
 * The package boundaries (scripts/checks/packages.ts): first that the checker finds each kind of breach in a small
 * repository made for the test, then that this repository has none.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkPackages, findCycles, formatFindings, importsOf, repoRoot } from './packages.ts';

describe('the package checker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pep-packages-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  write('package.json', JSON.stringify({ name: 'root', workspaces: ['a', 'b', 'c'] }));
  write('a/package.json', JSON.stringify({ name: '@pep/a', dependencies: { '@pep/b': '*' } }));
  write('b/package.json', JSON.stringify({ name: '@pep/b', exports: { '.': './src/index.ts' } }));
  write('c/package.json', JSON.stringify({ name: '@pep/c', devDependencies: { '@pep/a': '*', '@pep/b': '*' } }));
  write(
    'a/src/index.ts',
    "import { x } from '@pep/b';\nimport { y } from '../../c/src/y.ts';\nexport const z = x + y;\n",
  );
  write('b/src/index.ts', "// import { q } from '../../a/src/index.ts';\nexport const x = 1;\n");
  write('a/src/w.ts', "export { w } from '@pep/b/src/w.ts';\n");
  write('b/test/x.test.ts', "import { z } from '@pep/a';\nimport { x } from '../src/index.ts';\nvoid z; void x;\n");
  write('c/src/y.ts', "import { x } from '@pep/b';\nexport const y = x + 2;\n");
  write('scripts/run.ts', "import { y } from '../c/src/y.ts';\nimport { z } from '@pep/a';\nvoid y; void z;\n");
  write('c/bench/speed.ts', "import { y } from '../src/y.ts';\nvoid y;\n");
  write(
    'c/test/topics.test.ts',
    '// admin.createTopics({ topics }) is what we avoid\nawait admin.createTopics({ topics: [] });\n',
  );
  const report = checkPackages(dir);

  test('finds relative imports into another package, also from the root package', () => {
    assert.deepEqual(
      report.relative.map((f) => `${f.file}:${f.line}`),
      ['a/src/index.ts:2', 'scripts/run.ts:1'],
    );
    assert.match(report.relative[0]?.message ?? '', /@pep\/c/);
  });

  test('finds an undeclared @pep import and says where to declare it', () => {
    assert.deepEqual(
      report.undeclared.map((f) => `${f.file}:${f.line}`),
      ['b/test/x.test.ts:1', 'scripts/run.ts:2'],
    );
    assert.match(formatFindings(report.undeclared), /b\/test\/x\.test\.ts:1 .*"@pep\/a": "\*" to its devDependencies/);
    assert.match(formatFindings(report.undeclared), /scripts\/run\.ts:2 .*\.\/package\.json .*to its dependencies/);
  });

  test('finds an import of a subpath the package does not export', () => {
    assert.deepEqual(
      report.unexported.map((f) => `${f.file}:${f.line}`),
      ['a/src/w.ts:1'],
    );
  });

  test('finds a declared dependency nothing imports', () => {
    assert.deepEqual(
      report.unused.map((f) => f.message),
      ['@pep/c declares @pep/a but no file of it imports @pep/a: remove the declaration'],
    );
  });

  test('finds benchmark code outside bench/', () => {
    assert.deepEqual(
      report.benchmarks.map((f) => f.file),
      ['c/bench/speed.ts'],
    );
  });

  test('finds topics created without waiting until they are served, not in comments', () => {
    assert.deepEqual(
      report.topicCreation.map((f) => `${f.file}:${f.line}`),
      ['c/test/topics.test.ts:2'],
    );
    assert.match(report.topicCreation[0]?.message ?? '', /createTopicsAndWait/);
  });

  test('finds cycles through devDependencies, each once', () => {
    const graph = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c', 'a'])],
      ['c', new Set(['a'])],
      ['d', new Set(['d'])],
    ]);
    assert.deepEqual(findCycles(graph), [
      ['a', 'b', 'a'],
      ['a', 'b', 'c', 'a'],
      ['d', 'd'],
    ]);
    assert.deepEqual(findCycles(new Map([['a', new Set(['b'])]])), []);
  });

  test('reads static, type-only, re-exported and dynamic imports but not comments', () => {
    const refs = importsOf(
      "// import a from 'x';\nimport type { T } from 't';\nexport * from './e.ts';\nconst m = await import('@pep/m');\nconst N = '@pep/n';\n",
    );
    assert.deepEqual(
      refs.map((r) => `${r.line}:${r.specifier}`),
      ['2:t', '3:./e.ts', '4:@pep/m', '5:@pep/n'],
    );
  });
});

describe('this repository', () => {
  const report = checkPackages(repoRoot());
  test('no package imports another through a relative path', () => {
    assert.equal(report.relative.length, 0, `\n${formatFindings(report.relative)}`);
  });
  test('every @pep import is declared in the importing package.json', () => {
    assert.equal(report.undeclared.length, 0, `\n${formatFindings(report.undeclared)}`);
  });
  test('every @pep import names a subpath the package exports', () => {
    assert.equal(report.unexported.length, 0, `\n${formatFindings(report.unexported)}`);
  });
  test('no package declares a @pep dependency it does not import', () => {
    assert.equal(report.unused.length, 0, `\n${formatFindings(report.unused)}`);
  });
  test('benchmark code lives in bench/<target>/ only', () => {
    assert.equal(report.benchmarks.length, 0, `\n${formatFindings(report.benchmarks)}`);
  });
  test('topics are created only through createTopicsAndWait (@pep/kafka-wire/admin)', () => {
    assert.equal(report.topicCreation.length, 0, `\n${formatFindings(report.topicCreation)}`);
  });
  test('the package dependency graph, tests and benchmarks included, has no cycle', () => {
    assert.deepEqual(report.cycles, [], `cycles: ${report.cycles.map((c) => c.join(' → ')).join('; ')}`);
  });
});
