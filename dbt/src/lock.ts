/**
 * One dbt run at a time per DuckDB database. DuckDB lets one process open a database file for writing, so a second
 * `npm run dbt` on the same file (the orchestrator's scheduled `dbt.build` while someone runs a build by hand, or the
 * dashboards' marts build) would fail on DuckDB's lock halfway through its start; the runs also share the target
 * directory (run_results.json) and the fraud-truth seed. A run therefore takes `<database>.run.lock` first
 * (proper-lockfile: a directory created atomically, its mtime refreshed while the run lives, taken over when a crashed
 * run left it stale) and waits for another run to finish, up to DBT_LOCK_WAIT_MS (default 1 h); after that the run
 * gives up with exit 75 (try again later).
 */
import lockfile from 'proper-lockfile';

export interface RunLockOptions {
  /** How long to wait for another run (ms). */
  readonly waitMs: number;
  /** Between attempts (ms). */
  readonly pollMs?: number;
  /** A lock not refreshed for this long belongs to a crashed run and is taken over (ms; proper-lockfile's minimum 5 s). */
  readonly staleMs?: number;
  readonly log?: (m: string) => void;
}

export class RunLockTimeout extends Error {
  constructor(
    readonly path: string,
    waitedMs: number,
  ) {
    super(
      `another dbt run holds ${path} (still running after ${Math.round(waitedMs / 1000)} s of waiting; DBT_LOCK_WAIT_MS): try again later`,
    );
  }
}

export function lockWaitMs(env: NodeJS.ProcessEnv): number {
  const raw = env.DBT_LOCK_WAIT_MS?.trim();
  if (!raw) return 3_600_000;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms < 0)
    throw new Error(`DBT_LOCK_WAIT_MS must be a number of milliseconds >= 0, got "${raw}"`);
  return ms;
}

/** Runs `fn` holding the run lock of `database`; throws RunLockTimeout when another run holds it for `waitMs`. */
export async function withRunLock<T>(database: string, o: RunLockOptions, fn: () => Promise<T>): Promise<T> {
  const lockPath = `${database}.run.lock`;
  const stale = Math.max(5_000, o.staleMs ?? 60_000);
  const started = Date.now();
  let waiting = false;
  let release: () => Promise<void>;
  for (;;) {
    try {
      release = await lockfile.lock(database, {
        lockfilePath: lockPath,
        realpath: false,
        stale,
        update: Math.floor(stale / 4),
        // A lock whose refresh failed (the machine stalled past `stale`) may now be another run's: say so; the run
        // itself goes on (stopping dbt halfway would be worse than the overlap DuckDB refuses anyway).
        onCompromised: (err) => o.log?.(`the run lock ${lockPath} was compromised: ${err.message}`),
      });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      const waited = Date.now() - started;
      if (waited >= o.waitMs) throw new RunLockTimeout(database, waited);
      if (!waiting)
        o.log?.(`another dbt run holds ${database}; waiting for it (up to ${Math.round(o.waitMs / 1000)} s)`);
      waiting = true;
      await new Promise((r) => setTimeout(r, Math.min(o.pollMs ?? 1_000, Math.max(1, o.waitMs - waited))));
    }
  }
  if (waiting)
    o.log?.(`the other dbt run on ${database} finished after ${Math.round((Date.now() - started) / 1000)} s`);
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
