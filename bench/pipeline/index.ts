/**
 * Pipeline benchmark (`npm run bench -- pipeline [--quick]`) → bench/results/pipeline.json. Issue 23's questions: does
 * the transformer keep up with the edge (transformer_vs_edge_events_per_s ≥ 2, measured in the same run), where does
 * its time go, what does the broker spend per event, and does the p99 at half the edge's maximum stay ≤ 50 ms.
 *
 * Rounds (round 0 is a warm-up of the broker's and this process's JIT and is excluded; then BENCH_PIPELINE_ROUNDS,
 * default 5, quick 1), each running every arm once in a rotating order:
 * - `edge`: the edge's full path (edge-full-bun of bench/edge: Bun, real Kafka, acks=all) pinned to core 0, loaded by
 *   wrk on core 1 (64 connections, the ~1 KiB signed Stripe event): its maximum req/s, its CPU per request and the
 *   broker's CPU per request;
 * - `pinned`: the transformer (this process, native core) on core 0 and the broker on core 1 draining a backlog of
 *   the same edge events (throughput.ts): events/s, CPU per event of both;
 * - `tls`: the pinned arm through the stack's SASL_SSL listener (TLS 1.3 + SCRAM-SHA-512): what a managed cluster
 *   costs the transformer (issue 17's transformer_tls_scram_vs_plaintext, goal ≥ 0.8);
 * - `unpinned`: the same, nothing pinned;
 * - `mixed` (info): the same on the fixtures of all four providers (heavier: about 3× the native cost per event);
 * - `js`: the TypeScript twin instead of the native core (for transformer_native_vs_js);
 * - `breakdown`: the pinned arm with the loop sequential (TRANSFORMER_PREFETCH=false), so that the stages of the
 *   transformer's timeline do not overlap and its CPU and wall time split exactly per stage (fetch + decode,
 *   transform, prepare, transaction round trips, produce encoding, bookkeeping; wall − CPU = waiting on the broker).
 * A ratio is the median over rounds of the ratio within each round (the arms of a round are a minute apart at most,
 * so a machine whose load drifts moves both sides together). Then the latency phase (latency.ts) at half the
 * same-run edge maximum, exactly-once and at-least-once, plus exactly-once at the fixed reference rate, alternating
 * rounds, medians.
 *
 * A failed run still writes pipeline.json: the figures measured so far and `error` (why).
 * Diagnostics: BENCH_PIPELINE_EVENTS (backlog size), BENCH_PIPELINE_ROUNDS, BENCH_PIPELINE_LATENCY_ROUNDS,
 * BENCH_PIPELINE_LATENCY_ONLY=1 (latency phase only, nothing written), BENCH_PIPELINE_LATENCY_KEYS=eos,alo,eosRef,
 * BENCH_PIPELINE_SKIP_EDGE=1 (no edge arm: the edge's rate then comes from bench/results/edge.json),
 * BENCH_PIPELINE_LATENCY_RATE (events/s instead of half the edge's maximum: A/B runs at one rate),
 * BENCH_PIPELINE_KEEP_GC_LOG=1. Run it under `flock /tmp/bench.lock` on a shared machine.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { loadCore } from '@pep/core-native';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import type { TransformerCore } from '@pep/pipeline/transformer';
import { TRANSFORMER_STAGES } from '@pep/pipeline/transformer/stages';
import { localSaslSslEnv } from '@pep/stack';
import '@pep/contracts/kafkajs-read-committed';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { ensureTopics, load, startServer } from '../edge/index.ts';
import { type Metric, median, type Ratio, RESULTS_DIR, writeResult } from '../src/result.ts';
import { GcLog, type LatencyRun, latencyRun, round2 } from './latency.ts';
import {
  BENCH_TOPIC_CONFIG,
  formatRun,
  formatStages,
  jvmCpuMs,
  kafkaPid,
  processCpuMs,
  type ThroughputRun,
  throughputRun,
  type Workload,
  workloadTopics,
  writeBacklog,
} from './throughput.ts';

/**
 * A fixed second latency rate (exactly-once only): half of the edge's maximum when the previous pipeline figure
 * (p99 257 ms) was measured, so that figures stay comparable while the edge's maximum moves.
 */
const REFERENCE_RATE = 1721;

type Arm = 'edge' | 'pinned' | 'tls' | 'unpinned' | 'mixed' | 'js' | 'breakdown';
const ARMS: readonly Arm[] = ['edge', 'pinned', 'tls', 'unpinned', 'mixed', 'js', 'breakdown'];

interface EdgeRun {
  readonly reqPerS: number;
  readonly requests: number;
  /** The edge process's CPU per acknowledged request (µs). */
  readonly cpuUsPerRequest: number;
  /** The broker's CPU per acknowledged request (µs), every thread and without its JIT compiler threads. */
  readonly brokerCpuUsPerRequest: number;
  readonly brokerWarmCpuUsPerRequest: number;
  /** Answers other than 2xx (503 when the edge's in-flight bound is reached) and socket errors. */
  readonly non2xx: number;
  readonly errors: number;
  readonly serverCoreBusy: number;
}

/** Metrics and ratios as they are measured, so that a failed run can still write what it has. */
class Collected {
  readonly metrics: Metric[] = [];
  readonly ratios: Ratio[] = [];
  metric(name: string, unit: string, value: number): void {
    this.metrics.push({ name, unit, value: Number.isFinite(value) ? value : Number.NaN });
  }
}

export async function run(opts: { quick: boolean }): Promise<void> {
  const out = new Collected();
  try {
    await measure(opts, out);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    writeResult('pipeline', out.metrics, out.ratios, undefined, why.split('\n')[0]);
    console.error(`  pipeline bench failed: ${why}; wrote what it measured to bench/results/pipeline.json`);
    throw err;
  }
}

async function measure(opts: { quick: boolean }, out: Collected): Promise<void> {
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const admin = new Kafka({ clientId: 'bench-pipeline', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const prefix = `bench-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}.`;
  const created: string[] = [];
  try {
    await phases(opts, out, admin, brokers, prefix, created);
  } finally {
    await admin.deleteTopics({ topics: created }).catch(() => undefined);
    await admin.disconnect();
  }
}

async function phases(
  opts: { quick: boolean },
  out: Collected,
  admin: Admin,
  brokers: readonly string[],
  prefix: string,
  created: string[],
): Promise<void> {
  const latencyOnly = process.env.BENCH_PIPELINE_LATENCY_ONLY === '1';
  const latencyKeys = (process.env.BENCH_PIPELINE_LATENCY_KEYS ?? 'eos,alo,eosRef').split(',');
  if (!latencyOnly && !latencyKeys.includes('eos')) throw new Error('a recorded run needs the eos latency arm');
  const skipEdge = process.env.BENCH_PIPELINE_SKIP_EDGE === '1';
  const brokerPid = kafkaPid();
  const native = await loadCore({ impl: 'native' });
  const js = await loadCore({ impl: 'js' });

  const events = Number(process.env.BENCH_PIPELINE_EVENTS ?? (opts.quick ? 6000 : 200_000));
  const rounds = Number(process.env.BENCH_PIPELINE_ROUNDS ?? (opts.quick ? 1 : 5));
  const edgeSeconds = opts.quick ? 3 : 10;
  const runs: Record<Arm, (ThroughputRun | EdgeRun)[]> = {
    edge: [],
    pinned: [],
    tls: [],
    unpinned: [],
    mixed: [],
    js: [],
    breakdown: [],
  };

  if (!latencyOnly) {
    // The backlogs: written once, read from the start by every run (each with a fresh group and output topics).
    const backlog = async (workload: Workload, n: number): Promise<string[]> => {
      const topics = workloadTopics(workload, `${prefix}${workload}.`);
      created.push(...topics);
      await createTopicsAndWait(
        admin,
        topics.map((topic) => ({ topic, numPartitions: 3, configEntries: BENCH_TOPIC_CONFIG })),
      );
      const b0 = jvmCpuMs(brokerPid);
      const t0 = performance.now();
      const bytes = await writeBacklog(brokers, `${prefix}${workload}.`, n, workload);
      const b1 = jvmCpuMs(brokerPid);
      console.log(
        `  backlog ${workload}: ${n} events, ${(bytes / 2 ** 20).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s ` +
          `(broker ${(((b1.total - b0.total) * 1000) / n).toFixed(1)} µs CPU per event written)`,
      );
      return topics;
    };
    const edgeTopics = await backlog('edge', events);
    const mixedEvents = Math.round(events / 4);
    const mixedTopics = await backlog('mixed', mixedEvents);
    if (!skipEdge) await ensureTopics();

    const throughput = (arm: Exclude<Arm, 'edge'>, round: number): Promise<ThroughputRun> =>
      throughputRun({
        label: `${arm} round ${round}`,
        admin,
        brokers,
        rawTopics: arm === 'mixed' ? mixedTopics : edgeTopics,
        events: arm === 'mixed' ? mixedEvents : arm === 'js' ? Math.round(events / 4) : events,
        outPrefix: `${prefix}${arm}-${round}.`,
        core: (arm === 'js' ? js : native) as TransformerCore,
        pin: arm !== 'unpinned',
        brokerPid,
        env: arm === 'breakdown' ? { TRANSFORMER_PREFETCH: 'false' } : arm === 'tls' ? localSaslSslEnv() : {},
      });

    for (let round = 0; round <= rounds; round++) {
      const order = ARMS.map((_, i) => ARMS[(i + round) % ARMS.length] as Arm).filter((a) => a !== 'edge' || !skipEdge);
      for (const arm of order) {
        const r =
          arm === 'edge' ? await edgeRun(brokerPid, opts.quick ? 1 : 2, edgeSeconds) : await throughput(arm, round);
        const tag = round === 0 ? 'warm-up (excluded)' : `round ${round}/${rounds}`;
        if ('reqPerS' in r) {
          console.log(
            `  ${tag} edge: ${Math.round(r.reqPerS)} req/s, CPU µs/request edge ${r.cpuUsPerRequest.toFixed(2)} ` +
              `broker ${r.brokerCpuUsPerRequest.toFixed(2)} (without JIT ${r.brokerWarmCpuUsPerRequest.toFixed(2)}); ` +
              `non-2xx ${r.non2xx}, errors ${r.errors}, server core ${Math.round(r.serverCoreBusy * 100)} % busy`,
          );
        } else {
          console.log(`  ${tag} ${formatRun(r)}`);
          if (arm === 'breakdown') console.log(formatStages(r));
        }
        if (round > 0) runs[arm].push(r);
      }
    }
    recordThroughput(out, runs, skipEdge);
  }

  // Latency at half the edge's maximum (same run; else bench/results/edge.json; else 1000 events/s).
  const edgeRuns = runs.edge as EdgeRun[];
  const edge =
    edgeRuns.length > 0
      ? { rate: median(edgeRuns.map((r) => r.reqPerS)), source: 'edge-full-bun, this run' }
      : edgeMaxRateFromFile();
  const rateOverride = Number(process.env.BENCH_PIPELINE_LATENCY_RATE ?? 0);
  const rate = rateOverride > 0 ? rateOverride : edge.rate > 0 ? Math.round(edge.rate / 2) : 1000;
  const latencyRounds = Number(process.env.BENCH_PIPELINE_LATENCY_ROUNDS ?? (opts.quick ? 1 : 3));
  const lat: Record<LatencyKey, LatencyRun[]> = { eos: [], alo: [], eosRef: [] };
  const ARMS_LAT = (
    [
      ['eos', 'exactly_once', rate],
      ['alo', 'at_least_once', rate],
      ['eosRef', 'exactly_once', REFERENCE_RATE],
    ] as const
  ).filter(([key]) => latencyKeys.includes(key));
  const gcLog = brokerPid ? GcLog.enable(brokerPid) : null;
  if (!gcLog) console.log('  broker GC log: not enabled (no broker pid or jcmd failed); GC figures omitted');
  const ctx = {
    admin,
    brokers,
    prefix,
    core: native as TransformerCore,
    brokerPid,
    gcLog,
    seconds: opts.quick ? 3 : 10,
    created,
  };
  try {
    for (let round = 0; round < latencyRounds; round++) {
      for (const [key, mode, runRate] of ARMS_LAT) {
        const r = await latencyRun(ctx, mode, runRate, round);
        lat[key].push(r);
        const gc = r.gc ? `broker GC ${r.gc.pauses} pauses, max ${r.gc.maxMs} ms, sum ${r.gc.sumMs} ms` : 'no GC log';
        console.log(
          `  latency ${key} at ${runRate} events/s, round ${round + 1}/${latencyRounds}: p50 ${r.p50} ms, p99 ${r.p99} ms ` +
            `(edge ack p50/p99 ${r.ackP50}/${r.ackP99} ms, 503 + Retry-After ${r.backpressure503}, transformed ${r.transformedP50}/${r.transformedP99} ms, committed ${r.committedP50}/${r.committedP99} ms, ` +
            `txn ${r.txnP50}/${r.txnP99} ms x${r.txns}, transformer loop delay p99 ${r.eldP99} max ${r.eldMax} ms; ` +
            `CPU cores transformer ${r.cpu.transformer} edge ${r.cpu.loadgen} reader ${r.cpu.reader} ` +
            `broker ${r.cpu.broker} machine ${r.cpu.machine}/2; ${gc}; load ${loadavg()[0]?.toFixed(2)})` +
            (r.complete ? '' : `; INCOMPLETE: ${r.why}`),
        );
      }
    }
  } finally {
    gcLog?.close();
  }
  if (latencyOnly) return; // a diagnostic run: printed, not recorded
  recordLatency(out, lat, rate, edge, latencyRounds);
  for (const m of out.metrics) console.log(`  ${m.name}: ${m.value} ${m.unit}`);
  const incomplete = lat.eos.filter((r) => !r.complete);
  const error =
    incomplete.length === lat.eos.length
      ? `no exactly-once latency round completed (${incomplete[0]?.why ?? 'none ran'})`
      : undefined;
  writeResult('pipeline', out.metrics, out.ratios, undefined, error);
  if (error) throw new Error(error);
}

type LatencyKey = 'eos' | 'alo' | 'eosRef';

/** The edge's full path at its maximum (bench/edge's edge-full-bun arm and wrk), with CPU per request. */
async function edgeRun(brokerPid: number | null, warmupS: number, seconds: number): Promise<EdgeRun> {
  const server = await startServer('edge-full-bun');
  try {
    await load(server.port, warmupS);
    const cpu0 = processCpuMs(server.pid);
    const b0 = jvmCpuMs(brokerPid);
    const res = await load(server.port, seconds);
    const cpu1 = processCpuMs(server.pid);
    const b1 = jvmCpuMs(brokerPid);
    const requests = res.reqPerS * seconds;
    const per = (ms: number) => (ms * 1000) / Math.max(1, requests);
    return {
      reqPerS: res.reqPerS,
      requests,
      cpuUsPerRequest: per(cpu1 - cpu0),
      brokerCpuUsPerRequest: per(b1.total - b0.total),
      brokerWarmCpuUsPerRequest: per(b1.total - b1.jit - (b0.total - b0.jit)),
      non2xx: res.non2xx,
      errors: res.errors,
      serverCoreBusy: res.serverCoreBusy ?? Number.NaN,
    };
  } finally {
    await server.stop();
  }
}

function edgeMaxRateFromFile(): { rate: number; source: string } {
  const file = join(RESULTS_DIR, 'edge.json');
  if (!existsSync(file)) return { rate: 0, source: 'absent' };
  const r = JSON.parse(readFileSync(file, 'utf8')) as { metrics?: Metric[] };
  const rates = (r.metrics ?? []).filter((m) => /req\/s|events\/s/.test(m.unit));
  const full = rates.find((m) => /full/.test(m.name) && !/memsink|hello|node|half/.test(m.name)) ?? rates[0];
  return full ? { rate: full.value, source: `${full.name}, bench/results/edge.json` } : { rate: 0, source: 'no rate' };
}

const med = <T>(xs: readonly T[], f: (x: T) => number) => (xs.length ? median(xs.map(f)) : Number.NaN);
const r0 = (v: number) => Math.round(v);

function recordThroughput(out: Collected, runs: Record<Arm, (ThroughputRun | EdgeRun)[]>, skipEdge: boolean): void {
  const tr = (arm: Exclude<Arm, 'edge'>) => runs[arm] as ThroughputRun[];
  const edge = runs.edge as EdgeRun[];
  for (const [arm, name] of [
    ['pinned', 'transformer_native'],
    ['tls', 'transformer_tls_scram'],
    ['unpinned', 'transformer_unpinned'],
    ['mixed', 'transformer_mixed_providers'],
    ['js', 'transformer_js'],
  ] as const) {
    const rs = tr(arm);
    out.metric(`${name}_events_per_s`, 'events/s', r0(med(rs, (r) => r.eventsPerS)));
    out.metric(`${name}_cpu_us_per_event`, 'µs', round2(med(rs, (r) => r.cpuUsPerEvent)));
    out.metric(`${name}_broker_cpu_us_per_event`, 'µs', round2(med(rs, (r) => r.brokerCpuUsPerEvent)));
    out.metric(`${name}_broker_cpu_us_per_event_without_jit`, 'µs', round2(med(rs, (r) => r.brokerWarmCpuUsPerEvent)));
  }
  out.metric(
    'transformer_native_events_per_transaction',
    'events',
    r0(med(tr('pinned'), (r) => r.events / r.transactions)),
  );
  out.metric(
    'transformer_native_machine_busy_cores',
    'cores of 2',
    round2(med(tr('pinned'), (r) => r.machineBusyCores)),
  );
  out.metric('throughput_pinned', 'bool', tr('pinned').every((r) => r.pinned) ? 1 : 0);
  out.metric('throughput_events_per_run', 'events', tr('pinned')[0]?.events ?? 0);
  out.metric('throughput_rounds', 'count', tr('pinned').length);
  // The sequential loop's exact per-stage split (µs per event, medians over rounds).
  const bd = tr('breakdown');
  const stage = (r: ThroughputRun, s: string) => r.stages.stages.find((x) => x.stage === s);
  for (const s of TRANSFORMER_STAGES) {
    if (!bd.some((r) => stage(r, s))) continue;
    const per = (f: (t: { wallMs: number; cpuMs: number }) => number) =>
      round2(med(bd, (r) => (f(stage(r, s) ?? { wallMs: 0, cpuMs: 0 }) * 1000) / r.events));
    out.metric(
      `breakdown_${s}_cpu_us_per_event`,
      'µs',
      per((t) => t.cpuMs),
    );
    out.metric(
      `breakdown_${s}_wall_us_per_event`,
      'µs',
      per((t) => t.wallMs),
    );
  }
  out.metric('breakdown_total_cpu_us_per_event', 'µs', round2(med(bd, (r) => (r.stages.cpuMs * 1000) / r.events)));
  out.metric('breakdown_total_wall_us_per_event', 'µs', round2(med(bd, (r) => (r.stages.wallMs * 1000) / r.events)));
  out.metric(
    'breakdown_waiting_us_per_event',
    'µs',
    round2(
      med(bd, (r) => (r.stages.stages.reduce((a, s) => a + Math.max(0, s.wallMs - s.cpuMs), 0) * 1000) / r.events),
    ),
  );
  out.metric('breakdown_gc_pause_us_per_event', 'µs', round2(med(bd, (r) => (r.gcPauseMs * 1000) / r.events)));
  out.metric('breakdown_events_per_s', 'events/s', r0(med(bd, (r) => r.eventsPerS)));
  out.metric('breakdown_broker_cpu_us_per_event', 'µs', round2(med(bd, (r) => r.brokerCpuUsPerEvent)));
  out.metric(
    'breakdown_fetched_vs_consumed_bytes',
    'ratio',
    round2(med(bd, (r) => r.fetchedBytes / Math.max(1, r.consumedBytes))),
  );

  const ratioWithin = (a: readonly ThroughputRun[]) =>
    round2(median(a.map((x, i) => x.eventsPerS / ((edge[i] as EdgeRun).reqPerS || Number.NaN))));
  // issue 17: the pinned arm through the stack's SASL_SSL listener (TLS 1.3, SCRAM-SHA-512) against plaintext
  out.ratios.push({
    name: 'transformer_tls_scram_vs_plaintext',
    value: round2(
      median(tr('tls').map((x, i) => x.eventsPerS / ((tr('pinned')[i] as ThroughputRun).eventsPerS || Number.NaN))),
    ),
    goal: 0.8,
  });
  out.ratios.push({
    name: 'transformer_native_vs_js',
    value: round2(
      median(tr('pinned').map((x, i) => x.eventsPerS / ((tr('js')[i] as ThroughputRun).eventsPerS || Number.NaN))),
    ),
    goal: 1,
  });
  if (skipEdge || edge.length === 0) {
    const file = edgeMaxRateFromFile();
    if (file.rate > 0) {
      out.metric(`edge_max_rate (${file.source})`, 'events/s', file.rate);
      out.ratios.unshift({
        name: 'transformer_vs_edge_events_per_s',
        value: round2(med(tr('pinned'), (r) => r.eventsPerS) / file.rate),
        goal: 2,
      });
    }
    return;
  }
  out.metric('edge_full_req_per_s', 'req/s', r0(med(edge, (r) => r.reqPerS)));
  out.metric('edge_full_cpu_us_per_request', 'µs', round2(med(edge, (r) => r.cpuUsPerRequest)));
  out.metric('edge_full_broker_cpu_us_per_request', 'µs', round2(med(edge, (r) => r.brokerCpuUsPerRequest)));
  out.metric(
    'edge_full_broker_cpu_us_per_request_without_jit',
    'µs',
    round2(med(edge, (r) => r.brokerWarmCpuUsPerRequest)),
  );
  out.metric('edge_full_non2xx', 'count', r0(med(edge, (r) => r.non2xx)));
  out.ratios.unshift(
    { name: 'transformer_vs_edge_events_per_s', value: ratioWithin(tr('pinned')), goal: 2 },
    { name: 'transformer_vs_edge_events_per_s_unpinned', value: ratioWithin(tr('unpinned')), goal: 2 },
    // Informational: what each side does per core, from CPU time alone (steady on a loaded machine).
    {
      name: 'transformer_vs_edge_cpu_per_event',
      value: round2(median(tr('pinned').map((x, i) => (edge[i] as EdgeRun).cpuUsPerRequest / x.cpuUsPerEvent))),
      goal: null,
    },
    // Informational: the broker's CPU for one event through the transformer (fetch + transactional produce) against
    // one event from the edge (idempotent produce); above 1 the broker's core fills before the edge's does.
    {
      name: 'broker_cpu_transformer_vs_edge_per_event',
      value: round2(
        median(tr('pinned').map((x, i) => x.brokerWarmCpuUsPerEvent / (edge[i] as EdgeRun).brokerWarmCpuUsPerRequest)),
      ),
      goal: null,
      lowerIsBetter: true,
    },
  );
}

function recordLatency(
  out: Collected,
  lat: Record<LatencyKey, LatencyRun[]>,
  rate: number,
  edge: { rate: number; source: string },
  rounds: number,
): void {
  // Medians over the complete rounds (an incomplete round's percentiles miss the events that never arrived).
  const done = (key: LatencyKey) => lat[key].filter((r) => r.complete);
  const m = (key: LatencyKey, f: (r: LatencyRun) => number) => r0(med(done(key), f));
  const m2 = (key: LatencyKey, f: (r: LatencyRun) => number) => round2(med(done(key), f));
  out.metric('latency_rate', 'events/s', rate);
  out.metric(`latency_rate_source (${edge.source})`, 'events/s', edge.rate);
  out.metric(
    'raw_to_normalized_p50_ms',
    'ms',
    m('eos', (r) => r.p50),
  );
  out.metric(
    'raw_to_normalized_p99_ms',
    'ms',
    m('eos', (r) => r.p99),
  );
  out.metric(
    'raw_to_normalized_at_least_once_p50_ms',
    'ms',
    m('alo', (r) => r.p50),
  );
  out.metric(
    'raw_to_normalized_at_least_once_p99_ms',
    'ms',
    m('alo', (r) => r.p99),
  );
  out.metric('reference_rate', 'events/s', REFERENCE_RATE);
  out.metric(
    'raw_to_normalized_at_reference_rate_p50_ms',
    'ms',
    m('eosRef', (r) => r.p50),
  );
  out.metric(
    'raw_to_normalized_at_reference_rate_p99_ms',
    'ms',
    m('eosRef', (r) => r.p99),
  );
  out.metric(
    'raw_produce_ack_p50_ms',
    'ms',
    m('eos', (r) => r.ackP50),
  );
  out.metric(
    'raw_produce_ack_p99_ms',
    'ms',
    m('eos', (r) => r.ackP99),
  );
  out.metric(
    'raw_to_transformed_p50_ms',
    'ms',
    m('eos', (r) => r.transformedP50),
  );
  out.metric(
    'raw_to_transformed_p99_ms',
    'ms',
    m('eos', (r) => r.transformedP99),
  );
  out.metric(
    'raw_to_committed_p50_ms',
    'ms',
    m('eos', (r) => r.committedP50),
  );
  out.metric(
    'raw_to_committed_p99_ms',
    'ms',
    m('eos', (r) => r.committedP99),
  );
  out.metric(
    'transformer_event_loop_delay_p99_ms',
    'ms',
    m('eos', (r) => r.eldP99),
  );
  out.metric(
    'transformer_event_loop_delay_max_ms',
    'ms',
    m('eos', (r) => r.eldMax),
  );
  out.metric(
    'transaction_p50_ms',
    'ms',
    m('eos', (r) => r.txnP50),
  );
  out.metric(
    'transaction_p99_ms',
    'ms',
    m('eos', (r) => r.txnP99),
  );
  for (const [name, unit, of] of [
    ['cpu_transformer_cores', 'cores', 'transformer'],
    ['cpu_edge_producer_cores', 'cores', 'loadgen'],
    ['cpu_reader_cores', 'cores', 'reader'],
    ['cpu_broker_cores', 'cores', 'broker'],
    ['cpu_machine_busy_cores', 'cores of 2', 'machine'],
  ] as const) {
    out.metric(
      name,
      unit,
      m2('eos', (r) => r.cpu[of]),
    );
  }
  // Backpressure: every delivery the edge would have answered 503 + Retry-After, summed over all latency runs.
  const all = [...lat.eos, ...lat.alo, ...lat.eosRef];
  out.metric(
    'backpressure_503_retry_after',
    'count',
    all.reduce((s, r) => s + r.backpressure503, 0),
  );
  out.metric('latency_rounds_incomplete', 'count', all.filter((r) => !r.complete).length);
  if (lat.eos.every((r) => r.gc)) {
    out.metric(
      'broker_gc_pauses_per_run',
      'count',
      m('eos', (r) => r.gc?.pauses ?? 0),
    );
    out.metric(
      'broker_gc_pause_max_ms',
      'ms',
      m('eos', (r) => r.gc?.maxMs ?? 0),
    );
  }
  out.metric('latency_events_per_run', 'events', lat.eos[0]?.n ?? 0);
  out.metric('latency_rounds', 'count', rounds);
  out.metric('load_average_1m_at_end', 'load', round2(loadavg()[0] ?? 0));
  out.ratios.push({
    name: 'raw_to_normalized_p99_ms_at_half_edge_max',
    value: m('eos', (r) => r.p99),
    goal: 50,
    lowerIsBetter: true,
  });
}
