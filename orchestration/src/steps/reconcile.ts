/**
 * Step `reconcile.check`: the pipeline's reconciliation (`npm run reconcile -- --json`, pipeline/src/reconcile) on a
 * short window, every few minutes. Verdict `reconciled` is a succeeded run whose outputs are the stage counts; a
 * failed check is a failed run with the failing checks as the reason, visible in the Temporal UI, in `npm run runs`
 * and as a metric. Under traffic some checks fail only because records are in flight (consumer lag, running
 * workflows): those are retried with backoff, and fail the run only if they have not settled after the retries.
 * Anything else (a duplicate output, a row missing behind a completed workflow) fails at once, without retries.
 */
import { envInt } from '@pep/contracts/env';
import type { JsonObject, StepDefinition } from '../step.ts';
import { StepFailure, TransientStepError } from '../step.ts';
import { outputTail, runNpmScript, scriptMissing } from './command.ts';

/** Checks that fail while records are merely in flight; they settle once the pipeline catches up. */
export const IN_FLIGHT_CHECKS: ReadonlySet<string> = new Set([
  'transformer caught up',
  'quarantine caught up',
  'payment workflows settled',
  'every normalized event has a payment_events row',
  'webhook DLQ quarantined',
  'validation DLQ quarantined',
  'every raw record placed exactly once',
]);

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Splits a report's failing checks into in-flight (may settle) and definite ones. */
export function classifyChecks(report: JsonObject): { inFlight: Check[]; definite: Check[] } {
  const checks = (Array.isArray(report.checks) ? report.checks : []) as unknown as Check[];
  const placement = ((report.stages as JsonObject | undefined)?.placement ?? {}) as JsonObject;
  const duplicates = Number(placement.duplicate_outputs ?? 0);
  const inFlight: Check[] = [];
  const definite: Check[] = [];
  for (const c of checks.filter((c) => !c.ok)) {
    const settles =
      IN_FLIGHT_CHECKS.has(c.name) && !(c.name === 'every raw record placed exactly once' && duplicates > 0);
    (settles ? inFlight : definite).push(c);
  }
  return { inFlight, definite };
}

const windowMinutes = envInt(process.env, 'ORCH_RECONCILE_WINDOW_MINUTES', 5, 1, 60);
const lookbackMinutes = envInt(process.env, 'ORCH_RECONCILE_LOOKBACK_MINUTES', 60, 0, 7 * 24 * 60);

function summary(report: JsonObject): JsonObject {
  const s = (report.stages ?? {}) as JsonObject;
  return { verdict: report.verdict ?? null, stages: s };
}

export const reconcileCheck: StepDefinition = {
  name: 'reconcile.check',
  description: 'pipeline reconciliation (npm run reconcile) of every stage; a failing verdict is a failed run',
  owner: 'pipeline',
  partitioning: { kind: 'window', minutes: windowMinutes },
  timeoutMs: 10 * 60_000,
  heartbeatTimeoutMs: 60_000,
  retry: { maxAttempts: 4, initialIntervalMs: 20_000, backoffCoefficient: 2, maxIntervalMs: 2 * 60_000 },
  available: async (env) => scriptMissing(env.repoRoot, 'reconcile', 'pipeline'),
  async run(ctx, p) {
    const since = new Date(p.start.getTime() - lookbackMinutes * 60_000).toISOString();
    const r = await runNpmScript(ctx, 'reconcile', ['--json', '--since', since], {
      timeoutMs: 9 * 60_000,
      signal: ctx.signal,
      onOutput: () => ctx.heartbeat(),
    });
    if (r.code === 0 && r.json?.verdict === 'reconciled') {
      return { outputs: summary(r.json), consumed: { since, window_end: p.end.toISOString() } };
    }
    if (r.code === 1 && r.json) {
      const { inFlight, definite } = classifyChecks(r.json);
      const text = (cs: Check[]) => cs.map((c) => `${c.name}: ${c.detail}`).join('; ');
      if (definite.length > 0) {
        throw new StepFailure('NotReconciled', `not reconciled: ${text(definite)}`, { report: summary(r.json) });
      }
      throw new TransientStepError('NotSettled', `not settled yet (records in flight): ${text(inFlight)}`);
    }
    // Exit 2 (or anything else): the check itself could not run, e.g. Kafka or PostgreSQL unreachable.
    throw new TransientStepError(
      'ReconcileUnavailable',
      `reconcile exited ${r.code ?? r.signal} (${r.json ? `verdict ${String(r.json.verdict)}` : 'no JSON report'}): ${outputTail(r, 5)}`,
    );
  },
};
