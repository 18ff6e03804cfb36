/**
 * Table ownership (scripts/checks/tables.ts): first that the checker finds each kind of breach in a small repository
 * made for the test, then that this repository has none.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { formatFindings, repoRoot } from './packages.ts';
import { checkTables, stringTexts, writtenTables } from './tables.ts';

describe('the table ownership checker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pep-tables-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  write('package.json', JSON.stringify({ name: 'root', workspaces: ['a', 'b'] }));
  write('a/package.json', JSON.stringify({ name: '@pep/a' }));
  write('b/package.json', JSON.stringify({ name: '@pep/b', dependencies: { '@pep/a': '*' } }));
  write(
    'a/migrations/1_a.sql',
    '-- Up Migration\n-- ALTER TABLE b_items is only a comment\nCREATE TABLE IF NOT EXISTS a_items (id int);\n' +
      'CREATE TABLE public."A_Log" (id int);\nCREATE TABLE shared (id int);\n',
  );
  write(
    'b/migrations/1_b.sql',
    'CREATE TABLE b_items (id int);\nCREATE TABLE shared (id int);\nALTER TABLE a_items ADD COLUMN x int;\n' +
      'CREATE INDEX IF NOT EXISTS a_x_idx ON a_items (x);\nUPDATE a_log SET id = 0;\n',
  );
  write(
    'a/src/store.ts',
    "// INSERT INTO b_items is only a comment\nexport const q = 'INSERT INTO a_items (id) VALUES (1)';\n" +
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text of a fixture file
      'export const r = `UPDATE b_items i SET id = 2 WHERE id = ${1}`;\n',
  );
  write(
    'b/src/reviews.ts',
    'export const s = `SELECT * FROM a_items FOR UPDATE SKIP LOCKED`;\n' +
      "export const t = 'INSERT INTO b_items (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET id = 1';\n" +
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text of a fixture file
      "export const u = `DELETE FROM public.a_items WHERE id = ${'x'}`;\n",
  );
  write('b/test/seed.test.ts', "export const seed = 'INSERT INTO a_items (id) VALUES (1)';\n");
  const report = checkTables(dir);

  test('names each table by the package whose migrations create it', () => {
    assert.equal(report.owners.get('a_items'), '@pep/a');
    assert.equal(report.owners.get('a_log'), '@pep/a');
    assert.equal(report.owners.get('b_items'), '@pep/b');
  });

  test('finds a table created by two packages', () => {
    assert.deepEqual(
      report.duplicateOwners.map((f) => `${f.file}:${f.line}`),
      ['b/migrations/1_b.sql:2'],
    );
  });

  test("finds a migration that changes another package's table, not in comments", () => {
    assert.deepEqual(
      report.foreignSchema.map((f) => `${f.file}:${f.line}`),
      ['b/migrations/1_b.sql:3', 'b/migrations/1_b.sql:4', 'b/migrations/1_b.sql:5'],
    );
  });

  test("finds product code writing another package's table, not comments, reads or tests", () => {
    assert.deepEqual(
      report.foreignWrites.map((f) => `${f.file}:${f.line}`),
      ['a/src/store.ts:3', 'b/src/reviews.ts:3'],
    );
    assert.match(report.foreignWrites[0]?.message ?? '', /b_items, a table of @pep\/b/);
  });

  test('reads writes from SQL text', () => {
    assert.deepEqual(
      writtenTables(
        'UPDATE q r SET a = 1; UPDATE ONLY "x" SET b = 2; DELETE FROM ONLY y; TRUNCATE TABLE z; COPY c (a, b) FROM STDIN; ' +
          'COPY d TO STDOUT; SELECT 1 FOR UPDATE SKIP LOCKED; INSERT INTO ml.reports (a) VALUES (1) ON CONFLICT DO UPDATE SET a = 2',
      ),
      ['q', 'x', 'y', 'z', 'c', 'ml.reports'],
    );
  });

  test('reads string literals and template pieces, not comments', () => {
    assert.deepEqual(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text of a fixture file
      stringTexts('x.ts', "// 'no'\nconst a = 'one';\nconst b = `two ${a} three`;\n").map((s) => `${s.line}:${s.text}`),
      ['2:one', '3:two ', '3: three'],
    );
  });
});

describe('this repository', () => {
  const report = checkTables(repoRoot());
  test('the migrations create the tables the platform writes', () => {
    for (const [table, owner] of [
      ['validation_quarantine', '@pep/pipeline'],
      ['quarantine_reviews', '@pep/pipeline'],
      ['payment_events', '@pep/workflows'],
    ]) {
      assert.equal(report.owners.get(table as string), owner, table);
    }
  });
  test('each table is created by one package', () => {
    assert.equal(report.duplicateOwners.length, 0, `\n${formatFindings(report.duplicateOwners)}`);
  });
  test("no migration changes another package's table", () => {
    assert.equal(report.foreignSchema.length, 0, `\n${formatFindings(report.foreignSchema)}`);
  });
  test("no package's product code writes another package's table", () => {
    assert.equal(report.foreignWrites.length, 0, `\n${formatFindings(report.foreignWrites)}`);
  });
});
