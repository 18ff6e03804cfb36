/** The environment steps run with in this process: the pool, the repository root, the clock and a JSON logger. */
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { StepEnv } from './step.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function stepEnv(pool: pg.Pool, env: NodeJS.ProcessEnv = process.env): StepEnv {
  return {
    pool,
    repoRoot: REPO_ROOT,
    env,
    now: () => new Date(),
    log: (msg, fields = {}) => console.log(JSON.stringify({ level: 'info', msg, service: 'orchestration', ...fields })),
  };
}
