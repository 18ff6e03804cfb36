/**
 * `npm run bench [-- <target>...] [--quick]`: runs each benchmark target (bench/<target>/index.ts, a module exporting
 * `run({ quick })`, next to the rest of that target's code) in a fresh process, one after another, then prints the
 * report of every result file.
 * `--quick` runs each on a small input (what CI does so that no benchmark rots). `--report` only prints.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@pep/stack/paths';
import { runStreaming } from '@pep/stack/run-suites';
import { formatReport, readResults } from './report.ts';

const BENCH_DIR = join(REPO_ROOT, 'bench');

/** The folders of bench/ with an index.ts: one per target. */
export function availableTargets(): string[] {
  return readdirSync(BENCH_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(BENCH_DIR, d.name, 'index.ts')))
    .map((d) => d.name)
    .sort();
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const reportOnly = args.includes('--report');
  const requested = args.filter((a) => !a.startsWith('--'));
  const known = availableTargets();
  const unknown = requested.filter((t) => !known.includes(t));
  if (unknown.length > 0) {
    console.error(`bench: unknown target(s) ${unknown.join(', ')}; available: ${known.join(', ') || '(none)'}`);
    return 2;
  }
  const failed: string[] = [];
  /** The last lines a failed target printed (its error), repeated after the report. */
  const why: string[] = [];
  if (!reportOnly) {
    for (const target of requested.length > 0 ? requested : known) {
      console.log(`\n=== bench ${target}${quick ? ' (quick)' : ''}`);
      const started = Date.now();
      const { code, output } = await runStreaming(
        process.execPath,
        ['--import', 'tsx', join(REPO_ROOT, 'bench', 'src', 'run-target.ts'), target],
        { cwd: REPO_ROOT, env: { ...process.env, BENCH_QUICK: quick ? '1' : '0' } },
      );
      console.log(
        `=== bench ${target}: ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
      if (code !== 0) {
        failed.push(target);
        // Its error: from the last line naming one (a stack trace's first line), else its last lines.
        const lines = output.trim().split('\n');
        const at = lines.findLastIndex((l) => /\bError\b|\berror:/.test(l));
        const tail = at >= 0 ? lines.slice(at, at + 4) : lines.slice(-6);
        why.push(...tail.map((l) => `  ${target}: ${l.slice(0, 600)}`));
      }
    }
  }
  console.log(`\n=== benchmark report\n${formatReport(readResults())}`);
  if (failed.length > 0) {
    console.error(`bench: failed targets: ${failed.join(', ')}\n${why.join('\n')}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
