/**
 * `npm run fuzz -w @pep/security`: issue 13's probe at full size, on its own. Starts the whole platform as `npm start`
 * lays it out (the harness of `platform.ts`, private topics, groups and task queues), sends `SECURITY_FUZZ_BODIES`
 * (default 100,000; `SECURITY_FUZZ_SEND_S` bounds the sending time) validly signed hostile bodies, waits for every stage to drain, then reports lost records, the
 * reconciliation (`npm run reconcile` against the run's topics and task queue), DLQ records by code, the leak scan
 * and the drain times. Writes the report as JSON to `SECURITY_FUZZ_REPORT` (default `.stack/security-fuzz.json`) and
 * exits 0 only when nothing was lost or leaked, nothing crashed, no request went unanswered or got a 5xx, and the run
 * reconciled. Needs Kafka, Temporal and PostgreSQL from the local stack.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '@pep/stack/paths';
import { Platform } from './platform.ts';
import { runFuzz } from './run.ts';

const count = Number(process.env.SECURITY_FUZZ_BODIES ?? 100_000);
const seed = Number(process.env.SECURITY_FUZZ_SEED ?? 13);
const concurrency = Number(process.env.SECURITY_FUZZ_CONCURRENCY ?? 16);
// SECURITY_FUZZ_SEND_S: stop sending after this many seconds even if fewer bodies were sent (a loaded machine); the
// report then covers what was sent (`sent` against `requested`).
const sendSeconds = process.env.SECURITY_FUZZ_SEND_S ? Number(process.env.SECURITY_FUZZ_SEND_S) : undefined;
const out = process.env.SECURITY_FUZZ_REPORT ?? join(REPO_ROOT, '.stack', 'security-fuzz.json');
const log = (m: string) => console.log(`${new Date().toISOString()} security fuzz: ${m}`);

/** `npm run reconcile -- --json` against the run's private topics, groups and task queue. */
function reconcileRun(platform: Platform): { verdict: string; failed: string[] } {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'pipeline/src/reconcile/cli.ts', '--json', '--no-lake', '--edge-url', platform.edgeUrl],
    {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      maxBuffer: 256 << 20,
      timeout: 900_000,
      env: { ...process.env, ...platform.reconcileEnv() },
    },
  );
  try {
    const report = JSON.parse(r.stdout) as { verdict: string; checks: { name: string; ok: boolean; detail: string }[] };
    return {
      verdict: report.verdict,
      failed: report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`),
    };
  } catch {
    return { verdict: `unparseable (exit ${r.status})`, failed: [r.stderr.slice(-2000)] };
  }
}

async function main(): Promise<number> {
  const platform = new Platform({
    // One source sends everything: the per-source limit of refused requests has its own tests (edge).
    env: { edge: { EDGE_REJECT_RATE_PER_S: '0', EDGE_REFUSAL_LOG_PER_S: '20' } },
  });
  const stop = () => {
    platform.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    log(`starting the platform (${platform.tag}; logs in ${platform.logDir})`);
    await platform.start();
    log(`sending ${count} bodies (seed ${seed}, ${concurrency} in flight)`);
    const sendUntilMs = sendSeconds === undefined ? undefined : Date.now() + sendSeconds * 1000;
    const report = await runFuzz(platform, { seed, count, concurrency, sendUntilMs, drainTimeoutMs: 3_600_000, log });
    log('reconciling');
    const reconcile = reconcileRun(platform);
    const lost = Object.values(report.lost).reduce((a, b) => a + b, 0);
    const result = {
      tag: platform.tag,
      seed,
      requested: count,
      ...report,
      lostTotal: lost,
      reconcile,
      leaks: report.leaks.slice(0, 20),
      leakCount: report.leaks.length,
    };
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    log(JSON.stringify(result, null, 1));
    log(`report written to ${out}`);
    const ok =
      report.crashes.length === 0 &&
      report.fiveXx === 0 &&
      (report.statuses['0'] ?? 0) === 0 &&
      lost === 0 &&
      report.leaks.length === 0 &&
      reconcile.verdict === 'reconciled';
    log(ok ? 'PASSED' : 'FAILED');
    return ok ? 0 : 1;
  } finally {
    await platform.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`security fuzz: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(2);
  },
);
