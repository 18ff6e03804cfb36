/**
 * The configuration reference, checked against the code: every environment variable the product code reads (each
 * package's source, the root scripts and the stack; not tests or benchmarks) must have a row in
 * docs/configuration.md, in the section of every package that reads it, and every row must name a variable some code
 * still reads. Reads are found with TypeScript's parser: `env.NAME`, `process.env.NAME`, `baseEnv.NAME`, `env['NAME']`
 * (not assignments, which set a child process's environment), and a 'NAME' literal passed to a call that also
 * receives the environment (`envInt(env, 'NAME', …)`, `int(env, 'NAME', …)`, `secretList(env, 'NAME')`). Run by `npm test` through config-reference.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { loadPackages, ownerOf, sourceFiles } from './packages.ts';

export const REFERENCE = 'docs/configuration.md';
const NAME = /^[A-Z][A-Z0-9_]+$/;

export interface Read {
  readonly name: string;
  readonly file: string;
  readonly line: number;
  /** The package that reads it: its folder, or `root` for the root package (scripts/). */
  readonly pkg: string;
}

/** Product code: not tests, test fixtures or benchmarks. */
export function isProductFile(file: string): boolean {
  return !/(^|\/)(test|tests|fixtures|bench)\//.test(file) && !/\.test\.[cm]?[jt]s$/.test(file);
}

/** `env`, `baseEnv`, `environment`, `process.env`, `opts.env`: an expression holding environment variables. */
const isEnvExpression = (e: ts.Expression): boolean =>
  (ts.isIdentifier(e) && /(^|[a-z])env$|^environment$/i.test(e.text)) ||
  (ts.isPropertyAccessExpression(e) && e.name.text === 'env');

/** `env.NAME = …` sets a variable for a child process: not a read. */
const isAssigned = (n: ts.Node): boolean =>
  ts.isBinaryExpression(n.parent) && n.parent.left === n && n.parent.operatorToken.kind === ts.SyntaxKind.EqualsToken;

/** The variables a source text reads, with their lines. */
export function readsOf(text: string, fileName = 'x.ts'): { name: string; line: number }[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const out: { name: string; line: number }[] = [];
  const add = (name: string, node: ts.Node) => {
    if (NAME.test(name)) out.push({ name, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 });
  };
  const visit = (node: ts.Node) => {
    if (ts.isPropertyAccessExpression(node) && isEnvExpression(node.expression)) {
      if (!isAssigned(node)) add(node.name.text, node.name);
    } else if (
      ts.isElementAccessExpression(node) &&
      isEnvExpression(node.expression) &&
      ts.isStringLiteralLike(node.argumentExpression) &&
      !isAssigned(node)
    ) {
      add(node.argumentExpression.text, node.argumentExpression);
    } else if (ts.isCallExpression(node) && node.arguments.some((a) => isEnvExpression(a))) {
      for (const a of node.arguments) if (ts.isStringLiteralLike(a)) add(a.text, a);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

export function codeReads(root: string): Read[] {
  const packages = loadPackages(root);
  const reads: Read[] = [];
  for (const file of sourceFiles(root).filter(isProductFile)) {
    const pkg = ownerOf(file, packages).dir || 'root';
    for (const r of readsOf(readFileSync(join(root, file), 'utf8'), file)) reads.push({ ...r, file, pkg });
  }
  return reads;
}

export interface ReferenceRow {
  readonly name: string;
  /** The package sections the variable is listed in (folder names; `root` for the root scripts). */
  readonly sections: Set<string>;
}

/**
 * The variables of the reference: the first cell of each table row, `NAME`, under `## <package folder>` headings
 * (`## root` holds the root scripts).
 */
export function referenceRows(markdown: string): Map<string, ReferenceRow> {
  const rows = new Map<string, ReferenceRow>();
  let section: string | null = null;
  for (const line of markdown.split('\n')) {
    const h = /^## `?([^`\s]+)`?/.exec(line);
    if (h) {
      section = h[1] as string;
      continue;
    }
    const cell = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|/.exec(line);
    if (!cell || section === null) continue;
    const name = cell[1] as string;
    const row = rows.get(name) ?? { name, sections: new Set<string>() };
    row.sections.add(section);
    rows.set(name, row);
  }
  return rows;
}

export interface Problems {
  /** Variables read by a package whose section lacks them. */
  readonly missing: string[];
  /** Rows of variables no product code reads (in that package). */
  readonly stale: string[];
}

export function checkReference(reads: readonly Read[], rows: ReadonlyMap<string, ReferenceRow>): Problems {
  const missing: string[] = [];
  const byPkg = new Map<string, Read[]>();
  for (const r of reads) {
    const key = `${r.pkg}\u0000${r.name}`;
    byPkg.set(key, [...(byPkg.get(key) ?? []), r]);
  }
  for (const [key, list] of [...byPkg].sort()) {
    const [pkg, name] = key.split('\u0000') as [string, string];
    if (rows.get(name)?.sections.has(pkg)) continue;
    const where = list.map((r) => `${r.file}:${r.line}`).join(', ');
    missing.push(
      `${name} is read by ${where} but ${REFERENCE} has no row for it under "## ${pkg}": add ` +
        `| \`${name}\` | <default> | <what it sets> | to that section (create the section if it is missing)`,
    );
  }
  const stale: string[] = [];
  for (const row of [...rows.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    for (const section of row.sections) {
      if (byPkg.has(`${section}\u0000${row.name}`)) continue;
      stale.push(
        `${row.name} is listed under "## ${section}" in ${REFERENCE} but no product code of ${section === 'root' ? 'the root package' : section} reads it: remove that row (or fix its section)`,
      );
    }
  }
  return { missing, stale };
}
