/** The environment steps run with in this process: the pool, the repository root, the clock and a JSON logger. */
import { fileURLToPath } from 'node:url';
import { createLogger } from '@pep/contracts/log';
import type pg from 'pg';
import type { StepEnv } from './step.ts';

const log = createLogger('info', { service: 'orchestration' });

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function stepEnv(pool: pg.Pool, env: NodeJS.ProcessEnv = process.env): StepEnv {
  return {
    pool,
    repoRoot: REPO_ROOT,
    env,
    now: () => new Date(),
    log: (msg, fields = {}) => log.info(msg, fields),
  };
}
