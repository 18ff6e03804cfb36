/**
 * Unit-test support for the command steps: a repository root whose `npm run <script>` stands in for another
 * package's command (prints a given last line and exits with a given status), and a step context around it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { StepRunContext } from '../step.ts';

export interface FakeRoot {
  readonly root: string;
  /** `npm run <script>` prints a progress line, then `summary` as JSON, and exits with `code`. */
  script(script: string, summary: object, code: number): void;
  context(upstream: Record<string, string>): StepRunContext;
  remove(): void;
}

export function fakeRoot(prefix: string): FakeRoot {
  const root = mkdtempSync(join(tmpdir(), prefix));
  return {
    root,
    script(script, summary, code) {
      const body = `process.stdout.write('12:00:00  Done.\\n' + JSON.stringify(${JSON.stringify(summary)}) + '\\n'); process.exitCode = ${code};`;
      writeFileSync(join(root, `fake-${script}.cjs`), body);
      writeFileSync(
        join(root, 'package.json'),
        JSON.stringify({ name: 'fake', scripts: { [script]: `node fake-${script}.cjs` } }),
      );
    },
    context(upstream) {
      return {
        pool: null as unknown as pg.Pool,
        repoRoot: root,
        env: process.env,
        now: () => new Date(),
        log: () => {},
        runKey: 'k',
        runId: '1',
        observed: {},
        upstream,
        heartbeat: () => {},
        signal: new AbortController().signal,
        chunk: async (_key, work) => work(null),
        commitWithRun: () => {},
      } as StepRunContext;
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
