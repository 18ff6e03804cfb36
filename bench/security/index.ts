/**
 * Benchmark target `security` (issue 13), against the whole platform as real processes (@pep/security/platform: the
 * edge on Bun, transformer, quarantine consumer, bridge, Temporal worker, inference, on private topics and queues):
 *
 * 1. Isolation: valid Stripe payments at a steady rate through the edge, first alone (quiet arm), then with a flood of
 *    validly signed invalid events (an unknown currency: each one a validation-DLQ record, a quarantine row and a
 *    review registration) at 10,000 a minute beside them (flood arm), alternating over rounds in the same run.
 *    Latency of a payment: the edge's `received_at` to the row's `persisted_at` (both stamped on this machine), split
 *    into stages. Ratio `payment_p99_during_flood_vs_quiet` (goal <= 2): the median over the rounds of the round's
 *    flood p99 ÷ its quiet p99.
 * 2. Fuzz: `runFuzz` (the security suite's check) with 100,000 validly signed mutated bodies (quick: 1,000): crashes,
 *    5xx, requests without an answer, lost records and leaks, all must be 0 (reported as metrics; the target fails
 *    when one is not).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { Platform, treeCpuSeconds } from '@pep/security/platform';
import { runFuzz } from '@pep/security/run';
import { signStripe, stripePaymentBody } from '@pep/security/traffic';
import { STATE_DIR } from '@pep/stack/paths';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { percentile, writeResult } from '../src/result.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number) => Math.round(x * 10) / 10;

/**
 * Where a payment's time goes (per event, ms): the edge's `received_at` to the transformer's `normalized_at` (edge,
 * raw topic, transformer), `normalized_at` to its workflow's start (the bridge: fetch, budget, backpressure gates),
 * the workflow's start to its first workflow task picked up by the worker (Temporal's matching and the task queue), and
 * from there to the row's `persisted_at` (the worker: local activities, inference, PostgreSQL).
 */
const STAGES = [
  'edge_to_normalized',
  'normalized_to_workflow_start',
  'workflow_start_to_first_task',
  'first_task_to_row',
] as const;
type Stage = (typeof STAGES)[number];
/** temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED */
const WORKFLOW_TASK_STARTED = 6;

interface ArmResult {
  readonly sent: number;
  readonly flooded: number;
  readonly latenciesMs: number[];
  readonly stagesMs: Record<Stage, number[]>;
  readonly missing: number;
  /** CPU seconds each service used during the arm (sending until the last payment's row), and that wall time. */
  readonly cpuS: Record<string, number>;
  readonly wallMs: number;
  /** The payment worker's latency histograms over the arm: Δsum and Δcount per metric (see workerLatencies). */
  readonly worker: Record<string, { sum: number; count: number }>;
  /** Bytes the Temporal dev server wrote during the arm (NaN: not measurable). */
  readonly temporalWrites: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** CPU seconds so far of the platform's services and of the local stack's servers (`stack:<name>`, from its pid files). */
function cpuNow(platform: Platform): Record<string, number> {
  const out: Record<string, number> = { ...platform.cpuSeconds() };
  const dir = join(STATE_DIR, 'pids');
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.pid'));
  } catch {
    // no local stack (external servers): their CPU is not measured
  }
  for (const f of files) {
    const pid = Number(readFileSync(join(dir, f), 'utf8').trim());
    if (pid > 0) out[`stack:${f.slice(0, -4)}`] = treeCpuSeconds(pid);
  }
  return out;
}

/**
 * Where the payment worker's time goes: the sums and counts of every latency histogram the Temporal SDK exports on the
 * payment worker's metrics endpoint (workflow task schedule-to-start and execution, local activity execution, ...),
 * summed over their label sets; an arm's mean of each is Δsum ÷ Δcount. Empty when the endpoint does not answer.
 */
async function workerLatencies(platform: Platform): Promise<Record<string, { sum: number; count: number }>> {
  const url = platform.metricsUrls.worker;
  const text = url
    ? await fetch(url).then(
        (r) => r.text(),
        () => '',
      )
    : '';
  const out: Record<string, { sum: number; count: number }> = {};
  for (const m of text.matchAll(/^temporal_(\w*latency\w*?)_(sum|count)(?:\{[^}]*\})? (\S+)$/gm)) {
    const e = out[m[1] as string] ?? { sum: 0, count: 0 };
    e[m[2] as 'sum' | 'count'] += Number(m[3]);
    out[m[1] as string] = e;
  }
  return out;
}

/** Bytes the local Temporal dev server (and its children) wrote to storage so far (its SQLite history), or NaN. */
function temporalWriteBytes(): number {
  try {
    const pid = Number(readFileSync(join(STATE_DIR, 'pids', 'temporal.pid'), 'utf8').trim());
    return Number(/^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

/** The rounds of one arm as one sample. */
function pool_(rs: readonly ArmResult[]): ArmResult {
  const cpuS: Record<string, number> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r.cpuS)) cpuS[k] = (cpuS[k] ?? 0) + v;
  return {
    sent: rs.reduce((a, r) => a + r.sent, 0),
    flooded: rs.reduce((a, r) => a + r.flooded, 0),
    latenciesMs: rs.flatMap((r) => r.latenciesMs),
    stagesMs: Object.fromEntries(STAGES.map((st) => [st, rs.flatMap((r) => r.stagesMs[st])])) as Record<
      Stage,
      number[]
    >,
    missing: rs.reduce((a, r) => a + r.missing, 0),
    cpuS,
    wallMs: rs.reduce((a, r) => a + r.wallMs, 0),
    worker: rs.reduce<Record<string, { sum: number; count: number }>>((acc, r) => {
      for (const [k, v] of Object.entries(r.worker)) {
        acc[k] = { sum: (acc[k]?.sum ?? 0) + v.sum, count: (acc[k]?.count ?? 0) + v.count };
      }
      return acc;
    }, {}),
    temporalWrites: rs.reduce((a, r) => a + r.temporalWrites, 0),
  };
}

function logArm(log: (m: string) => void, name: string, a: ArmResult): void {
  const pc = (v: number[], q: number) => (v.length === 0 ? NaN : round(percentile(v, q)));
  const cpu = Object.entries(a.cpuS)
    .map(([k, v]) => `${k} ${round((v / (a.wallMs / 1000)) * 100)}%`)
    .join(' ');
  const wk = Object.entries(a.worker)
    .filter(([, v]) => v.count > 0)
    .map(([k, v]) => `${k} n=${v.count} mean ${round(v.sum / v.count)}`)
    .join(', ');
  log(
    `${name}: worker latencies (exported units): ${wk || 'none'}; Temporal wrote ${round(a.temporalWrites / 1048576)} MiB`,
  );
  log(
    `${name}: ${a.sent} payments (${a.flooded} invalid beside them), ${a.missing} without a row; p50 ${pc(a.latenciesMs, 50)} ms, p99 ${pc(a.latenciesMs, 99)} ms; ${STAGES.map((st) => `${st} p50 ${pc(a.stagesMs[st], 50)} p99 ${pc(a.stagesMs[st], 99)}`).join(', ')}; CPU of a core: ${cpu}`,
  );
}

/**
 * Waits until the platform has no lag left (the transformer's, the quarantine consumer's and the bridge's consumer
 * lag metrics all 0 twice in a row), at most 5 minutes: a flood arm's review work must not fall into the next arm.
 */
async function drained(platform: Platform, log: (m: string) => void): Promise<void> {
  const deadline = Date.now() + 300_000;
  let zeros = 0;
  while (Date.now() < deadline) {
    let lag = 0;
    for (const svc of ['transformer', 'quarantine', 'bridge'] as const) {
      const text = await fetch(platform.metricsUrls[svc] as string).then(
        (r) => r.text(),
        () => '',
      );
      for (const m of text.matchAll(/^\w*consumer_lag\{[^}]*\} (\S+)$/gm)) lag += Number(m[1]);
    }
    zeros = lag === 0 ? zeros + 1 : 0;
    if (zeros >= 2) return;
    await sleep(1000);
  }
  log('lag not drained within 5 minutes; measuring anyway');
}

function stripePayment(tag: string, i: number, currency: string): { id: string; body: Buffer } {
  const id = `evt_${tag}_${i}`;
  return {
    id,
    body: stripePaymentBody(
      id,
      `pi_${tag}_${i}`,
      {},
      { amount: 1000 + (i % 5000), currency, customer: `cus_${i % 200}` },
    ),
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/**
 * One POST to the edge over a kept-alive connection; resolves with the status (0: no answer). A connection error is
 * retried once, as a provider retries: a kept-alive socket the edge closed while idle (between arms) can fail the
 * first write on it (a full run here lost 1 request of 1,500 that way). Deliveries are idempotent on the event id.
 */
async function postEdge(base: string, path: string, headers: Record<string, string>, body: Buffer): Promise<number> {
  const status = await postOnce(base, path, headers, body);
  return status === 0 ? postOnce(base, path, headers, body) : status;
}

function postOnce(base: string, path: string, headers: Record<string, string>, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(`${base}${path}`, { method: 'POST', headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

/**
 * Sends valid payments at `paymentsPerS` for `seconds` (and invalid ones at `floodPerS`), evenly paced; then waits
 * for every payment's row and returns their latencies.
 */
async function arm(
  platform: Platform,
  pool: pg.Pool,
  temporal: Client,
  opts: { name: string; seconds: number; paymentsPerS: number; floodPerS: number },
): Promise<ArmResult> {
  const tag = `${opts.name}${randomBytes(3).toString('hex')}`;
  const ids: string[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const fire = (p: Promise<unknown>) => {
    const q = p.catch(() => undefined).finally(() => inFlight.delete(q));
    inFlight.add(q);
  };
  // The generator must cost the machine little (it shares the 2 cores with the platform): every request is built and
  // signed before the arm starts, and sent over kept-alive node:http connections (cheaper than fetch per request).
  const build = (t: string, i: number, currency: string) => {
    const { id, body } = stripePayment(t, i, currency);
    const headers = { ...signStripe(body), 'x-request-id': id, 'content-length': String(body.length) };
    return { id, body, headers };
  };
  const payReqs = Array.from({ length: Math.ceil(opts.seconds * opts.paymentsPerS) }, (_, i) => build(tag, i, 'usd'));
  const floodReqs = Array.from({ length: Math.ceil(opts.seconds * opts.floodPerS) }, (_, i) =>
    build(`${tag}x`, i, 'xyz'),
  );
  const t0 = Date.now();
  const cpu0 = cpuNow(platform);
  const lat0 = await workerLatencies(platform);
  const writes0 = temporalWriteBytes();
  const gen0 = process.cpuUsage();
  let payments = 0;
  let flood = 0;
  let statusErrors = 0;
  const post = (r: { body: Buffer; headers: Record<string, string> }) =>
    postEdge(platform.edgeUrl, '/webhooks/stripe', r.headers, r.body).then((status) => {
      if (status !== 200) statusErrors++;
    });
  while (Date.now() - t0 < opts.seconds * 1000) {
    const elapsed = (Date.now() - t0) / 1000;
    while (payments < Math.min(payReqs.length, elapsed * opts.paymentsPerS)) {
      const r = payReqs[payments++] as (typeof payReqs)[number];
      ids.push(r.id);
      fire(post(r));
    }
    while (flood < Math.min(floodReqs.length, elapsed * opts.floodPerS) && inFlight.size < 256) {
      fire(post(floodReqs[flood++] as (typeof floodReqs)[number]));
    }
    await sleep(5);
  }
  await Promise.all(inFlight);
  if (statusErrors > 0) throw new Error(`${opts.name}: ${statusErrors} requests not answered 200`);
  const eventIds = ids.map((id) => `stripe:${id}`);
  const deadline = Date.now() + 600_000;
  type Row = { received: Date; normalized: Date; persisted: Date; workflow_id: string };
  let rows: Row[] = [];
  while (Date.now() < deadline) {
    rows = (
      await pool.query<Row>(
        'SELECT received_at AS received, normalized_at AS normalized, persisted_at AS persisted, workflow_id FROM payment_events WHERE event_id = ANY($1)',
        [eventIds],
      )
    ).rows;
    if (rows.length >= eventIds.length) break;
    await sleep(1000);
  }
  const cpu1 = cpuNow(platform);
  const lat1 = await workerLatencies(platform);
  const temporalWrites = temporalWriteBytes() - writes0;
  const worker: Record<string, { sum: number; count: number }> = {};
  for (const [k, v] of Object.entries(lat1)) {
    worker[k] = { sum: v.sum - (lat0[k]?.sum ?? 0), count: v.count - (lat0[k]?.count ?? 0) };
  }
  const gen = process.cpuUsage(gen0);
  const wallMs = Date.now() - t0;
  const cpuS: Record<string, number> = { generator: (gen.user + gen.system) / 1e6 };
  for (const [k, v] of Object.entries(cpu1)) cpuS[k] = v - (cpu0[k] ?? 0);
  const started = new Map<string, { start: number; firstTask: number }>();
  for (const id of new Set(rows.map((r) => r.workflow_id))) {
    const h = await temporal.workflow.getHandle(id).fetchHistory();
    const at = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
      Number(String(t?.seconds ?? 0)) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
    const events = h.events ?? [];
    const firstTask = events.find((e) => e.eventType === WORKFLOW_TASK_STARTED);
    started.set(id, { start: at(events[0]?.eventTime), firstTask: at(firstTask?.eventTime) });
  }
  const stagesMs = Object.fromEntries(STAGES.map((st) => [st, [] as number[]])) as Record<Stage, number[]>;
  for (const r of rows) {
    const w = started.get(r.workflow_id) as { start: number; firstTask: number };
    stagesMs.edge_to_normalized.push(r.normalized.getTime() - r.received.getTime());
    stagesMs.normalized_to_workflow_start.push(w.start - r.normalized.getTime());
    stagesMs.workflow_start_to_first_task.push(w.firstTask - w.start);
    stagesMs.first_task_to_row.push(r.persisted.getTime() - w.firstTask);
  }
  return {
    sent: payments,
    flooded: flood,
    latenciesMs: rows.map((r) => r.persisted.getTime() - r.received.getTime()),
    stagesMs,
    missing: eventIds.length - rows.length,
    cpuS,
    wallMs,
    worker,
    temporalWrites,
  };
}

export async function run(opts: { quick: boolean }): Promise<void> {
  // SECURITY_BENCH_LANES=shared: the layout before the review lanes (one worker and one bridge process for payments and
  // reviews, no lower CPU priority), for an A/B on the same machine.
  const sharedLanes = process.env.SECURITY_BENCH_LANES === 'shared';
  // SECURITY_BENCH_PAYMENT_SESSION=shared: every service in the bench's own session (one CPU scheduling group), the
  // layout before the payment lane got sessions of its own, for an A/B on the same machine.
  const paymentLaneOwnSession = process.env.SECURITY_BENCH_PAYMENT_SESSION === 'shared' ? false : undefined;
  const platform = new Platform({
    sharedLanes,
    paymentLaneOwnSession,
    // One source sends everything here: the per-source limit of refused requests has its own tests (edge).
    env: {
      edge: { EDGE_REJECT_RATE_PER_S: '0', EDGE_REFUSAL_LOG_PER_S: '20' },
      // Lag metrics every second: the bench waits for them to reach 0 between arms.
      transformer: { PIPELINE_LAG_INTERVAL_MS: '1000' },
      quarantine: { PIPELINE_LAG_INTERVAL_MS: '1000' },
      bridge: { BRIDGE_LAG_INTERVAL_MS: '1000' },
    },
  });
  const pool = new pg.Pool({ connectionString: platform.addr.databaseUrl, max: 2 });
  const connection = await Connection.connect({ address: platform.addr.temporalAddress });
  const temporal = new Client({ connection });
  const log = (m: string) => console.log(`bench security: ${m}`);
  try {
    log('starting the platform');
    await platform.start();
    // Quiet and flood arms alternate (rounds), each after the review lane drained, so that a shared machine's load
    // drifting over the run falls on both arms alike; the percentiles pool each arm's rounds.
    // An odd number of rounds: the ratio is the median of the rounds' own ratios. Quick (CI: the bench still runs end
    // to end and writes its result): one round of each arm.
    const rounds = opts.quick ? 1 : 5;
    const seconds = opts.quick ? 6 : 30;
    const paymentsPerS = 10;
    const floodPerS = 10_000 / 60;
    // Warm-up (not measured): the first workflows after a start pay for worker caches and the bridge's budget ramp;
    // without it the quiet arm, which runs first, would be the slow one.
    log('warm-up: 5 s of payments, not measured');
    await arm(platform, pool, temporal, { name: 'warm', seconds: 5, paymentsPerS, floodPerS: 0 });
    const arms: Record<'quiet' | 'flood', ArmResult[]> = { quiet: [], flood: [] };
    for (let r = 0; r < rounds; r++) {
      for (const name of ['quiet', 'flood'] as const) {
        await drained(platform, log);
        log(
          `round ${r + 1}/${rounds}, ${name} arm: ${paymentsPerS} payments/s${name === 'flood' ? ` + ${round(floodPerS)} invalid events/s` : ''} for ${seconds} s`,
        );
        const a = await arm(platform, pool, temporal, {
          name: `${name}${r}`,
          seconds,
          paymentsPerS,
          floodPerS: name === 'flood' ? floodPerS : 0,
        });
        logArm(log, name, a);
        arms[name].push(a);
      }
    }
    const quiet = pool_(arms.quiet);
    const flood = pool_(arms.flood);
    const p = (a: ArmResult, q: number) => round(percentile(a.latenciesMs, q));
    logArm(log, 'quiet (all rounds)', quiet);
    logArm(log, 'flood (all rounds)', flood);
    const stageMetrics = (['quiet', 'flood'] as const).flatMap((name) => {
      const a = name === 'quiet' ? quiet : flood;
      return [
        ...STAGES.flatMap((st) =>
          [50, 99].map((q) => ({
            name: `stage_${st}_p${q}_${name}_ms`,
            unit: 'ms',
            value: round(percentile(a.stagesMs[st], q)),
          })),
        ),
        ...Object.entries(a.worker)
          .filter(([, v]) => v.count > 0)
          .flatMap(([k, v]) => [
            { name: `worker_${k}_mean_${name}`, unit: 'as exported', value: round(v.sum / v.count) },
            { name: `worker_${k}_per_payment_${name}`, unit: 'count', value: round(v.count / Math.max(1, a.sent)) },
          ]),
        {
          name: `temporal_write_mib_per_min_${name}`,
          unit: 'MiB/min',
          value: round((a.temporalWrites / 1048576 / (a.wallMs / 1000)) * 60),
        },
        ...Object.entries(a.cpuS).map(([svc, v]) => ({
          name: `cpu_${svc.replace(':', '_')}_${name}_s_per_min`,
          unit: 's/min',
          value: round((v / (a.wallMs / 1000)) * 60),
        })),
      ];
    });
    const perRound = arms.flood.map((f, i) => p(f, 99) / Math.max(1, p(arms.quiet[i] as ArmResult, 99)));

    // SECURITY_BENCH_FUZZ_BODIES: a smaller full run on a shared machine (the result records the count it ran).
    const count = Number(process.env.SECURITY_BENCH_FUZZ_BODIES ?? (opts.quick ? 1000 : 100_000));
    log(`fuzz: ${count} validly signed mutated bodies`);
    const fuzz = await runFuzz(platform, {
      seed: 13,
      count,
      concurrency: 16,
      drainTimeoutMs: opts.quick ? 300_000 : 3_600_000,
      log,
    });
    const lost = Object.values(fuzz.lost).reduce((a, b) => a + b, 0);
    const noAnswer = fuzz.statuses['0'] ?? 0;
    log(
      `fuzz: ${JSON.stringify(fuzz.statuses)}, crashes ${fuzz.crashes.length}, 5xx ${fuzz.fiveXx}, lost ${JSON.stringify(fuzz.lost)}, leaks ${fuzz.leaks.length}`,
    );
    writeResult(
      'security',
      [
        { name: 'payment_p50_quiet_ms', unit: 'ms', value: p(quiet, 50) },
        { name: 'payment_p99_quiet_ms', unit: 'ms', value: p(quiet, 99) },
        { name: 'payment_p50_during_flood_ms', unit: 'ms', value: p(flood, 50) },
        { name: 'payment_p99_during_flood_ms', unit: 'ms', value: p(flood, 99) },
        ...stageMetrics,
        { name: 'rounds', unit: 'rounds', value: rounds },
        { name: 'review_lanes_apart', unit: 'bool', value: sharedLanes ? 0 : 1 },
        {
          name: 'payment_lane_own_session',
          unit: 'bool',
          value: (paymentLaneOwnSession ?? !sharedLanes) ? 1 : 0,
        },
        // The pooled p99s' ratio: one arm that a shared machine stalled decides it (reported, not the goal's ratio).
        {
          name: 'payment_p99_flood_vs_quiet_pooled',
          unit: 'ratio',
          value: Math.round((p(flood, 99) / Math.max(1, p(quiet, 99))) * 100) / 100,
        },
        ...perRound.map((v, i) => ({
          name: `payment_p99_flood_vs_quiet_round_${i + 1}`,
          unit: 'ratio',
          value: Math.round(v * 100) / 100,
        })),
        { name: 'payments_per_arm', unit: 'events', value: quiet.sent },
        { name: 'flood_invalid_events', unit: 'events', value: flood.flooded },
        // What the machine let the generator offer (the goal is 10,000 a minute; a loaded box offers less).
        {
          name: 'flood_invalid_per_min_offered',
          unit: 'events/min',
          value: Math.round((flood.flooded / (seconds * rounds)) * 60),
        },
        { name: 'payments_without_row', unit: 'events', value: quiet.missing + flood.missing },
        { name: 'fuzz_bodies', unit: 'requests', value: fuzz.sent },
        { name: 'fuzz_crashes', unit: 'processes', value: fuzz.crashes.length },
        { name: 'fuzz_5xx', unit: 'requests', value: fuzz.fiveXx },
        { name: 'fuzz_no_answer', unit: 'requests', value: noAnswer },
        { name: 'fuzz_lost_records', unit: 'records', value: lost },
        { name: 'fuzz_leaks', unit: 'findings', value: fuzz.leaks.length },
        { name: 'fuzz_send_s', unit: 's', value: round(fuzz.seconds.send) },
        { name: 'fuzz_drain_s', unit: 's', value: round(fuzz.seconds.drain) },
      ],
      [
        {
          // Median over the rounds of flood p99 ÷ the same round's quiet p99 (each pair measured side by side).
          name: 'payment_p99_during_flood_vs_quiet',
          value: Math.round(median(perRound) * 100) / 100,
          goal: 2,
          lowerIsBetter: true,
        },
      ],
    );
    const bad = [
      quiet.missing + flood.missing > 0 ? 'payments without a row' : '',
      fuzz.crashes.length > 0 ? `crashes: ${fuzz.crashes.join(', ')}` : '',
      fuzz.fiveXx > 0 ? `${fuzz.fiveXx} 5xx` : '',
      noAnswer > 0 ? `${noAnswer} requests without an answer: ${fuzz.noAnswer.join('; ')}` : '',
      lost > 0 ? `lost ${JSON.stringify(fuzz.lost)}` : '',
      fuzz.leaks.length > 0 ? `leaks: ${JSON.stringify(fuzz.leaks.slice(0, 3))}` : '',
    ].filter((x) => x !== '');
    if (bad.length > 0) throw new Error(`bench security: ${bad.join('; ')}`);
  } finally {
    await pool.end();
    await connection.close();
    await platform.stop();
    await platform.deleteTopics();
  }
}
