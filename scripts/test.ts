/**
 * `npm test`: builds what needs building, runs the lint/format/type checks and the repository checks
 * (scripts/checks: package boundaries, table ownership, the configuration reference), starts the local stack,
 * runs every workspace's test suites (`test`, `test:integration` and `test:bun` scripts) and the Rust tests, and ends with one line `N passed, N failed`.
 * Services the run started are stopped at the end; a stack that was already up is left up.
 * Options: `--keep-stack` leaves started services running; `--only <workspace>` runs one workspace's suites.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackDown, stackStatus, stackUp } from '@pep/stack';
import { REPO_ROOT, STATE_DIR } from '@pep/stack/paths';
import { type Counts, countTests, failureDigest, runStreaming } from '@pep/stack/run-suites';

const argv = process.argv.slice(2);
const keepStack = argv.includes('--keep-stack');
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;

interface SuiteResult {
  readonly name: string;
  readonly counts: Counts;
  readonly seconds: number;
  readonly failures?: readonly string[];
}
const results: SuiteResult[] = [];

async function step(name: string, command: string, args: string[], { isCheck = false } = {}): Promise<boolean> {
  console.log(`\n=== ${name}: ${command} ${args.join(' ')}`);
  const started = Date.now();
  const { code, output } = await runStreaming(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  const parsed = isCheck ? undefined : countTests(output);
  // A runner that exits non-zero without a failed test still failed (a crash, a build error, no tests run).
  const counts: Counts = parsed
    ? { passed: parsed.passed, failed: parsed.failed + (code !== 0 && parsed.failed === 0 ? 1 : 0) }
    : { passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1 };
  const failures = code === 0 ? [] : failureDigest(output);
  results.push({ name, counts, seconds: (Date.now() - started) / 1000, failures });
  return code === 0;
}

interface Workspace {
  readonly dir: string;
  readonly name: string;
  readonly scripts: Record<string, string>;
}

function workspaces(): Workspace[] {
  const root = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  return root.workspaces.map((dir) => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, dir, 'package.json'), 'utf8'));
    return { dir, name: pkg.name as string, scripts: (pkg.scripts ?? {}) as Record<string, string> };
  });
}

/** scripts/checks/*.test.ts: package boundaries, table ownership and the configuration reference. */
function repositoryChecks(): string[] {
  const dir = join('scripts', 'checks');
  return readdirSync(join(REPO_ROOT, dir))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => join(dir, f));
}

function hasRustCrates(): boolean {
  return /members\s*=\s*\[\s*"/.test(readFileSync(join(REPO_ROOT, 'Cargo.toml'), 'utf8'));
}

async function main(): Promise<number> {
  const started = Date.now();
  const selected = workspaces().filter((w) => !only || w.dir === only || w.name === only);
  if (selected.length === 0) throw new Error(`no workspace named ${only}`);

  for (const w of selected) {
    if (w.scripts.build && !(await step(`build ${w.dir}`, 'npm', ['run', 'build', '-w', w.name], { isCheck: true }))) {
      return summary(started);
    }
  }
  if (!only) {
    await step('lint (biome)', 'npx', ['biome', 'check', '.'], { isCheck: true });
    await step('typecheck (root)', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'], { isCheck: true });
    await step('repository checks', process.execPath, ['--import', 'tsx', '--test', ...repositoryChecks()]);
    for (const w of selected.filter((w) => w.scripts.typecheck)) {
      await step(`typecheck ${w.dir}`, 'npm', ['run', 'typecheck', '-w', w.name], { isCheck: true });
    }
    if (hasRustCrates()) {
      await step('rustfmt', 'cargo', ['fmt', '--all', '--check'], { isCheck: true });
      await step('clippy', 'cargo', ['clippy', '--workspace', '--all-targets', '--', '-D', 'warnings'], {
        isCheck: true,
      });
      await step('cargo test', 'cargo', ['test', '--workspace']);
    }
  }

  const wasUp = new Set((await stackStatus()).filter((s) => s.state === 'healthy').map((s) => s.name));
  console.log('\n=== stack:up');
  try {
    await stackUp({ log: (m) => console.log(`stack: ${m}`) });
    results.push({ name: 'stack:up', counts: { passed: 1, failed: 0 }, seconds: 0 });
  } catch (err) {
    console.error((err as Error).message);
    results.push({ name: 'stack:up', counts: { passed: 0, failed: 1 }, seconds: 0 });
    return summary(started);
  }
  try {
    for (const w of selected) {
      if (w.scripts.test) await step(`test ${w.dir} (node)`, 'npm', ['run', 'test', '-w', w.name]);
      if (w.scripts['test:integration']) {
        await step(`test ${w.dir} (integration)`, 'npm', ['run', 'test:integration', '-w', w.name]);
      }
      if (w.scripts['test:bun']) await step(`test ${w.dir} (bun)`, 'npm', ['run', 'test:bun', '-w', w.name]);
    }
  } finally {
    if (!keepStack) {
      const startedHere = (await stackStatus()).filter((s) => s.managed && !wasUp.has(s.name)).map((s) => s.name);
      if (startedHere.length > 0) await stackDown({ only: startedHere });
    }
  }
  if (!only && hasRustCrates()) {
    // The lake workspace (its own cargo workspace, out of the root one): rustfmt and clippy -D warnings, the verdict
    // cached per source key, so an unchanged lake costs ~0.1 s. Last, so that a cold check build (minutes; CI starts
    // it in the background) overlaps the test suites instead of holding them up.
    await step('clippy (lake)', process.execPath, [join('core-native', 'scripts', 'test-lake.mjs'), '--clippy'], {
      isCheck: true,
    });
  }
  return summary(started);
}

function summary(started: number): number {
  const passed = results.reduce((n, r) => n + r.counts.passed, 0);
  const failed = results.reduce((n, r) => n + r.counts.failed, 0);
  console.log('\n=== summary');
  for (const r of results) {
    const mark = r.counts.failed > 0 ? 'FAIL' : 'ok  ';
    console.log(
      `${mark} ${r.name.padEnd(34)} ${String(r.counts.passed).padStart(5)} passed ${String(r.counts.failed).padStart(4)} failed ${r.seconds.toFixed(1).padStart(7)} s`,
    );
  }
  const failing = results.filter((r) => (r.failures?.length ?? 0) > 0);
  if (failing.length > 0) {
    console.log('\n=== failures');
    for (const r of failing) for (const l of r.failures ?? []) console.log(`${r.name}: ${l}`);
  }
  console.log(`total time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const line = `${passed} passed, ${failed} failed`;
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(join(STATE_DIR, 'test-summary.txt'), `${line}\n`);
  console.log(line);
  return failed > 0 || passed === 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
