/**
 * Shared by the ml bench (index.ts) and its diagnostics (records-ab.ts, score64-diag.ts): percentiles, the paced
 * client run in its own process (paced-client.ts), and the diagnostics' 64-event bodies from the quick bench's history.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fraudRequestOf, simulatedEvents } from '@pep/ml';
import { scoringNodeFlags } from '@pep/ml/node-flags';

export const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};

export interface PacedRun {
  readonly latencies_ms: number[];
  readonly client_cpu_ms_per_call: number;
  /** In-process arm: the scorer's mean wall time per call by stage (StageTimes of @pep/ml/scoring), else null. */
  readonly stages_ms: Record<string, number> | null;
  /** With ML_PACED_TIMES=1: each measured call's start (epoch ms). */
  readonly starts_epoch_ms?: number[];
  /** The client process's GC pauses (epoch ms start, duration, kind) and its fetch requests' starts (epoch ms). */
  readonly gc?: { start: number; ms: number; kind: number }[];
  readonly fetches_epoch_ms?: number[];
  /** The client process's young generation (V8's new space) at the end, MB. */
  readonly new_space_mb?: number;
}

/** One in-process paced round of `total` calls at `callsPerS` over `bodies` (30 warm-up calls), against `env`. */
export function pacedInProcess(
  planFile: string,
  o: { callsPerS: number; total: number; bodies: string[]; env: Record<string, string> },
): Promise<PacedRun> {
  writeFileSync(planFile, JSON.stringify({ port: 0, warmup: 30, transport: 'in-process', ...o }));
  return pacedClient(planFile);
}

/**
 * Runs paced-client.ts in a child process (Node with tsx, as the bench runs) on `planFile` and returns its result. The
 * process is the worker's stand-in (in-process: it scores), so it gets the node flags the platform's launcher gives the
 * worker and the inference service (`ML_SCORING_NODE_FLAGS`, `@pep/ml/node-flags`; set it to compare others).
 */
export function pacedClient(planFile: string, env: NodeJS.ProcessEnv = process.env): Promise<PacedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        ...scoringNodeFlags(env),
        '--import',
        'tsx',
        fileURLToPath(new URL('./paced-client.ts', import.meta.url)),
        planFile,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], env },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`paced client exited ${code}: ${out.slice(-300)}`));
      // Its answer is the last line that is one: the scorer's log lines (JSON too) share stdout, and a model check
      // still in flight when the client closes can log after it.
      const line = out
        .trim()
        .split('\n')
        .findLast((l) => l.startsWith('{"latencies_ms"'));
      if (!line) return reject(new Error(`paced client printed no result: ${out.slice(-300)}`));
      resolve(JSON.parse(line) as PacedRun);
    });
  });
}

/**
 * The quick bench's history (index.ts): its last 2,000 succeeded payments, so every entity a diagnostic scores has
 * its rows in the Redis db a previous bench run left. Returns a function giving the next 64 fraud requests.
 */
export async function diagRequests(): Promise<() => ReturnType<typeof fraudRequestOf>[]> {
  const count = 6000;
  const raw = await simulatedEvents({
    seed: 77,
    count,
    startMs: Date.UTC(2026, 0, 1),
    stepMs: Math.round((70 * 86_400_000) / count),
    customers: 400,
    fraudRate: 3,
  });
  const payments = raw
    .map((e) => JSON.parse(e))
    .filter((e) => e.customer_id && e.status === 'succeeded')
    .slice(-2000);
  let k = 0;
  return () =>
    Array.from({ length: 64 }, () => fraudRequestOf(payments[k++ % payments.length] as Record<string, unknown>));
}
