/**
 * Table ownership (issue 14), checked: every table is created by the migrations of ONE package (`<package>/migrations/
 * *.sql`, its owner), only the owner's migrations change its schema or rows, and only the owner's product code writes
 * its rows (INSERT, UPDATE, DELETE, TRUNCATE, MERGE, COPY … FROM): another package calls a store function the owner
 * exports (`@pep/pipeline/quarantine/review-store` for the review tables). Reading is free. Run by `npm test` through
 * tables.test.ts.
 *
 * Product code is a workspace's source outside test/ folders and `*.test.*` files, and outside bench/ (the benchmark
 * harness resets tables as a test does); a test may still seed or clean another package's table. SQL is read from
 * string literals and template texts only (TypeScript's parser), so comments and identifiers never count, and a write
 * counts only when it names a table some migration creates (`… FOR UPDATE`, `ON CONFLICT … DO UPDATE SET` and tables
 * outside the migrations, such as the lake's Iceberg catalog, are not writes of an owned table). Not seen: a table
 * name built at run time (`DELETE FROM ${table}`), SQL split across string concatenation, and SQL in Rust or Python
 * (none writes an owned table today).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { type Finding, loadPackages, ownerOf, type PackageInfo, sourceFiles } from './packages.ts';

export interface TableReport {
  /** Table name → the package whose migrations create it. */
  readonly owners: ReadonlyMap<string, string>;
  /** A table created by the migrations of two packages. */
  readonly duplicateOwners: Finding[];
  /** A migration that alters, indexes or writes a table another package's migrations create. */
  readonly foreignSchema: Finding[];
  /** Product code that writes rows of a table another package owns. */
  readonly foreignWrites: Finding[];
}

const NAME = String.raw`((?:"?[A-Za-z_][\w$]*"?\.)?"?[A-Za-z_][\w$]*"?)`;
const CREATE_TABLE = new RegExp(String.raw`\bCREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?${NAME}`, 'gi');
/** What a migration may do only to its own package's tables. */
const SCHEMA_CHANGE = new RegExp(
  String.raw`\b(?:ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?|CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?:"?[\w$]+"?\s+)?ON\s+(?:ONLY\s+)?|DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?|COMMENT\s+ON\s+TABLE\s+)${NAME}`,
  'gi',
);
/**
 * Row writes. UPDATE needs its SET, so that `FOR UPDATE` and `DO UPDATE SET` are not read as a table; COPY needs its
 * FROM (COPY … TO reads).
 */
const WRITE = new RegExp(
  [
    String.raw`\b(?:INSERT\s+INTO|DELETE\s+FROM(?:\s+ONLY)?|TRUNCATE(?:\s+TABLE)?(?:\s+ONLY)?|MERGE\s+INTO)\s+${NAME}`,
    String.raw`\bUPDATE\s+(?:ONLY\s+)?${NAME}(?:\s+(?:AS\s+)?(?!SET\b)[A-Za-z_]\w*)?\s+SET\b`,
    String.raw`\bCOPY\s+${NAME}\s*(?:\([^)]*\)\s*)?FROM\b`,
  ].join('|'),
  'gi',
);
const writtenName = (m: RegExpMatchArray) => tableName((m[1] ?? m[2] ?? m[3]) as string);

/** `public.x`, `"x"` and `X` all name table x; `ml.x` stays schema-qualified. */
export function tableName(raw: string): string {
  const name = raw.replaceAll('"', '').toLowerCase();
  return name.startsWith('public.') ? name.slice('public.'.length) : name;
}

/** SQL without its `--` and `/* … *\/` comments, lines kept (string literals in migrations hold no comment markers). */
export function stripSqlComments(sql: string): string {
  return sql.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/--[^\n]*/g, '');
}

/** Texts of the string literals and template pieces of a TypeScript/JavaScript source, with their 1-based lines. */
export function stringTexts(file: string, text: string): { text: string; line: number }[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const out: { text: string; line: number }[] = [];
  const visit = (node: ts.Node) => {
    if (
      ts.isStringLiteral(node) ||
      ts.isNoSubstitutionTemplateLiteral(node) ||
      ts.isTemplateHead(node) ||
      ts.isTemplateMiddle(node) ||
      ts.isTemplateTail(node)
    ) {
      out.push({ text: node.text, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Tables written by `sql` (names as written, normalized). */
export function writtenTables(sql: string): string[] {
  return [...sql.matchAll(WRITE)].map(writtenName);
}

/** Product code: not a test, not the benchmark harness. */
export function isProductCode(file: string, owner: PackageInfo): boolean {
  if (owner.dir === 'bench' || /(^|\/)(test|tests|bench|__tests__)\//.test(file)) return false;
  return !/\.(test|spec)\.[cm]?[jt]sx?$/.test(file);
}

function migrationFiles(root: string, p: PackageInfo): string[] {
  const dir = join(root, p.dir, 'migrations');
  if (p.dir === '' || !existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => `${p.dir}/migrations/${f}`);
}

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

export function checkTables(root: string): TableReport {
  const packages = loadPackages(root);
  const owners = new Map<string, string>();
  const report: TableReport = { owners, duplicateOwners: [], foreignSchema: [], foreignWrites: [] };
  const migrations = packages.flatMap((p) =>
    migrationFiles(root, p).map((file) => ({ p, file, sql: stripSqlComments(readFileSync(join(root, file), 'utf8')) })),
  );

  for (const { p, file, sql } of migrations) {
    for (const m of sql.matchAll(CREATE_TABLE)) {
      const table = tableName(m[1] as string);
      const known = owners.get(table);
      if (known === undefined) owners.set(table, p.name);
      else if (known !== p.name) {
        report.duplicateOwners.push({
          file,
          line: lineOf(sql, m.index),
          message: `creates ${table}, which ${known}'s migrations create too: a table has one owning package`,
        });
      }
    }
  }

  for (const { p, file, sql } of migrations) {
    const touched = [
      ...[...sql.matchAll(SCHEMA_CHANGE)].map((m) => ({ table: tableName(m[1] as string), index: m.index })),
      ...[...sql.matchAll(WRITE)].map((m) => ({ table: writtenName(m), index: m.index })),
    ];
    for (const { table, index } of touched) {
      const owner = owners.get(table);
      if (owner !== undefined && owner !== p.name) {
        report.foreignSchema.push({
          file,
          line: lineOf(sql, index),
          message: `changes ${table}, a table of ${owner}: only the owner's migrations change it (move the change there)`,
        });
      }
    }
  }

  for (const file of sourceFiles(root)) {
    const owner = ownerOf(file, packages);
    if (!isProductCode(file, owner)) continue;
    const text = readFileSync(join(root, file), 'utf8');
    if (!/\b(INSERT|UPDATE|DELETE|TRUNCATE|MERGE|COPY)\b/i.test(text)) continue;
    for (const s of stringTexts(file, text)) {
      for (const table of writtenTables(s.text)) {
        const tableOwner = owners.get(table);
        if (tableOwner !== undefined && tableOwner !== owner.name) {
          report.foreignWrites.push({
            file,
            line: s.line,
            message: `writes rows of ${table}, a table of ${tableOwner}: call a store function ${tableOwner} exports instead`,
          });
        }
      }
    }
  }
  return report;
}
