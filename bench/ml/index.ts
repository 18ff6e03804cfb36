/**
 * `npm run bench -- ml` (issue #18): on simulated traffic, against the real Redis, MLflow and onnxruntime-node:
 * - ml_batched_vs_per_event_scoring: events/s of the inference service scoring fraud with features + ONNX in
 *   micro-batches of 64 (POST /fraud/score/batch) against one HTTP request and one Redis read per event
 *   (POST /fraud/score, micro-batching off), same service, same concurrency;
 * - ml_score64_p99_ms: p99 latency of a 64-event scoring call paced at half the batched maximum rate, on the path
 *   that serves by default: in-process scoring in the workflows worker (@pep/ml/scoring behind the worker's
 *   local-fraud client, WORKER_FRAUD_SCORING=in-process); the HTTP path (the workflows' client against the service)
 *   is the same-run baseline (score64_http_*, score64_p99_http_vs_in_process); beside them our 64-entity online read
 *   alone and Feast's SDK reading the same keys (get_online_features);
 * - fraud_auc_model_minus_rules: ROC AUC of the trained fraud model on a later window minus rules-v1's;
 * - feature_skew_mismatches: vectors served online that differ from the offline point-in-time vectors.
 * Needs the local stack (Redis, MLflow). --quick: smaller history and shorter runs, for CI. Redis database 15 (flushed),
 * or ML_BENCH_REDIS_DB (two runs side by side on one Redis).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCore, packFeatureRows } from '@pep/core-native';
import {
  compareVectors,
  type EntityRecords,
  FEATURE_SPEC,
  FeatureProcessor,
  type FeatureTimesUs,
  feastApply,
  feastHistorical,
  fraudRequestOf,
  historicalRows,
  loadMlConfig,
  MlflowRest,
  ModelRegistry,
  type ModelVersionInfo,
  OfflineLog,
  OnlineFeatures,
  OnnxClassifier,
  recordsOf,
  runPython,
  StateStore,
  servedFeatureTimes,
  simulatedEvents,
  startInferenceServer,
  startScoring,
  trainModel,
} from '@pep/ml';
import { Redis } from 'ioredis';
import { type Metric, type Ratio, writeResult } from '../src/result.ts';
import { pacedClient, pct } from './paced.ts';

const median = (xs: number[]) => pct(xs, 50);
const json = (r: Record<string, number> | null | undefined) => (r ? JSON.stringify(r) : null);

async function closedLoop(seconds: number, concurrency: number, call: () => Promise<number>): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let events = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) events += await call();
    }),
  );
  return events / seconds;
}

export async function run({ quick }: { quick: boolean }): Promise<void> {
  // The figures are the native core's: without the addon built, loadCore would fall back to the JS twin silently and
  // the bench would measure that. Here it refuses instead (this process and the scorers it starts inherit it).
  process.env.CORE_NATIVE_IMPL ??= 'native';
  const stamp = Date.now().toString(36);
  const base = loadMlConfig();
  const stateDir = mkdtempSync(join(tmpdir(), 'pep-ml-bench-'));
  const cfg = {
    ...base,
    stateDir,
    offlineDir: join(stateDir, 'offline'),
    redisUrl: `${base.redisUrl.replace(/\/\d+$/, '')}/${process.env.ML_BENCH_REDIS_DB ?? 15}`,
  };
  const redis = new Redis(cfg.redisUrl);
  await redis.flushdb();
  const metrics: Metric[] = [];
  const ratios: Ratio[] = [];
  const say = (m: string) => console.log(`ml bench: ${m}`);

  // History: ~70 simulated days, so that 30-day dispute horizons have passed for most payments.
  const count = quick ? 6000 : 20_000;
  const raw = await simulatedEvents({
    seed: 77,
    count,
    startMs: Date.UTC(2026, 0, 1),
    stepMs: Math.round((70 * 86_400_000) / count),
    customers: quick ? 400 : 1500,
    fraudRate: 3,
  });
  const events = raw.map((e) => JSON.parse(e));
  // The skew part applies one event per batch (thousands of small files): not fsynced, not timed. The timed consumer
  // part is the real thing, fsync included (a second processor; it loads the states the first one committed).
  const skewProcessor = new FeatureProcessor(
    FEATURE_SPEC,
    new StateStore(redis),
    new OfflineLog(cfg.offlineDir, FEATURE_SPEC, { fsync: false }),
  );
  const processor = new FeatureProcessor(
    FEATURE_SPEC,
    new StateStore(redis),
    new OfflineLog(cfg.offlineDir, FEATURE_SPEC),
  );
  const online = new OnlineFeatures(redis, FEATURE_SPEC);
  const served: EntityRecords[] = [];
  const times: FeatureTimesUs[] = [];
  const skewRows = quick ? 1000 : 10_000;
  const t0 = performance.now();
  // The first skewRows events one at a time, each served right after it was applied (as the workflow's scoring call
  // sees it) for the skew comparison; the rest in consumer-sized batches of 500, timed for the consumer's throughput.
  for (let i = 0; i < skewRows; i++) {
    await skewProcessor.applyBatch(events.slice(i, i + 1), raw.slice(i, i + 1));
    const [r] = await online.read(events.slice(i, i + 1));
    if (!r) throw new Error(`no online row for event ${i}`);
    served.push(recordsOf(r));
    // Per entity, the time whose point-in-time row is the one served (a late event is served a newer row).
    times.push(servedFeatureTimes(events[i], r));
  }
  let applyMs = 0;
  for (let i = skewRows; i < events.length; i += 500) {
    const a = performance.now();
    await processor.applyBatch(events.slice(i, i + 500), raw.slice(i, i + 500));
    applyMs += performance.now() - a;
  }
  metrics.push({
    name: 'features_consumer_events_per_s',
    unit: 'events/s',
    value: Math.round((count - skewRows) / (applyMs / 1000)),
  });
  say(`applied ${count} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // Skew: every served vector against Feast's point-in-time vector as of the same feature times.
  await feastApply(cfg);
  const offline = await feastHistorical(cfg, historicalRows(events.slice(0, skewRows), times));
  const core = await loadCore();
  const { mismatches } = compareVectors(
    core,
    raw.slice(0, skewRows),
    served,
    events.slice(0, skewRows).map((_, r) => offline[String(r)] as EntityRecords),
  );
  metrics.push({ name: 'feature_skew_rows_compared', unit: 'rows', value: skewRows });
  ratios.push({ name: 'feature_skew_mismatches', value: mismatches, goal: 0, lowerIsBetter: true });
  say(`skew: ${mismatches} of ${skewRows} vectors differ`);

  // Training on the simulated history: model vs rules-v1 on the later window.
  const prefix = `bench-${stamp}-`;
  const trained = await trainModel(cfg, 'fraud', { registeredName: `${prefix}fraud`, log: say });
  metrics.push({ name: 'fraud_model_roc_auc', unit: 'auc', value: Number(trained.model_roc_auc.toFixed(4)) });
  metrics.push({ name: 'fraud_rules_v1_roc_auc', unit: 'auc', value: Number(trained.rules_roc_auc.toFixed(4)) });
  if (trained.rules_v2_roc_auc !== null)
    metrics.push({ name: 'fraud_rules_v2_roc_auc', unit: 'auc', value: Number(trained.rules_v2_roc_auc.toFixed(4)) });
  metrics.push({ name: 'fraud_training_seconds', unit: 's', value: Math.round(trained.seconds) });
  ratios.push({
    name: 'fraud_auc_model_minus_rules',
    value: Number((trained.model_roc_auc - trained.rules_roc_auc).toFixed(4)),
    goal: 0.15,
  });
  if (trained.decision !== 'promoted') {
    // Throughput does not depend on the gate; serve this version anyway (the gate's verdict is in the metrics).
    await new MlflowRest(cfg.mlflowUrl).setAlias(`${prefix}fraud`, 'champion', String(trained.version));
  }

  // Serving: same service, micro-batched 64 vs one request and one Redis read per event.
  const payments = events.filter((e) => e.customer_id && e.status === 'succeeded').slice(-2000);
  const body = fraudRequestOf;
  const env = {
    ...process.env,
    REDIS_URL: cfg.redisUrl,
    MLFLOW_TRACKING_URI: cfg.mlflowUrl,
    ML_REGISTRY_PREFIX: prefix,
  };
  const seconds = quick ? 3 : 10;
  // quick (CI: the bench still runs end to end and writes its result): one run of each mode
  const runs = quick ? 1 : 5;
  const concurrency = 8;
  const post = async (port: number, path: string, payload: unknown) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    const j = (await res.json()) as { results?: { model_version: string }[]; model_version?: string };
    const versions = j.results ? j.results.map((r) => r.model_version) : [j.model_version];
    if (!res.ok || versions.some((v) => !v?.startsWith('fraud@')))
      throw new Error(`unexpected answer ${JSON.stringify(j).slice(0, 300)}`);
  };
  let k = 0;
  const next64 = () =>
    Array.from({ length: 64 }, () => body(payments[k++ % payments.length] as Record<string, unknown>));
  const batchedRates: number[] = [];
  const perEventRates: number[] = [];
  for (let i = 0; i < runs; i++) {
    for (const mode of i % 2 === 0 ? ['batched', 'per-event'] : ['per-event', 'batched']) {
      const config = {
        host: '127.0.0.1',
        port: 0,
        reloadIntervalMs: 60_000,
        maxBatch: mode === 'batched' ? 64 : 1,
        maxWaitMs: 0,
      };
      const scoring = await startScoring(config, env, () => {});
      const srv = await startInferenceServer(config, { scoring });
      try {
        if (mode === 'batched') {
          batchedRates.push(
            await closedLoop(seconds, concurrency, async () => {
              await post(srv.port, '/fraud/score/batch', { items: next64() });
              return 64;
            }),
          );
        } else {
          perEventRates.push(
            await closedLoop(seconds, concurrency, async () => {
              await post(srv.port, '/fraud/score', body(payments[k++ % payments.length] as Record<string, unknown>));
              return 1;
            }),
          );
        }
      } finally {
        await srv.close();
        await scoring.close();
      }
    }
  }
  const batched = median(batchedRates);
  const perEvent = median(perEventRates);
  metrics.push({ name: 'scoring_batched64_events_per_s', unit: 'events/s', value: Math.round(batched) });
  metrics.push({ name: 'scoring_per_event_events_per_s', unit: 'events/s', value: Math.round(perEvent) });
  ratios.push({ name: 'ml_batched_vs_per_event_scoring', value: Number((batched / perEvent).toFixed(2)), goal: 10 });
  say(`batched ${batched.toFixed(0)} vs per-event ${perEvent.toFixed(0)} events/s`);

  // p99 of a 64-event call at half the maximum rate (open loop, paced), and the online read alone. The client runs in
  // its own process (paced-client.ts): in this one, its JSON and HTTP work shared the service's event loop and queued
  // in front of the calls it timed. Warm-up calls first; enough calls that the p99 is not the single slowest one.
  // Arms, in alternating rounds at the same pace, each arm's latencies pooled: `in-process` (the headline: what the
  // worker does by default), `workflows` (the HTTP path: the workflows' client, node:http kept-alive, against the
  // service) and `fetch` (the global-fetch client that one replaced), the last two the same-run baselines.
  const config = { host: '127.0.0.1', port: 0, reloadIntervalMs: 60_000, maxBatch: 64, maxWaitMs: 0 };
  const scoring = await startScoring(config, env, () => {});
  const srv = await startInferenceServer(config, { scoring });
  const callsPerS = batched / 64 / 2;
  // In-process scoring (@pep/ml/scoring in the client's process behind the worker's own local-fraud client: the same
  // features, models and answers, no HTTP): its client CPU is the whole scoring cost; the HTTP arms' is the client's
  // share, and the service's (this process, idle otherwise while the client runs) is measured beside it.
  type Arm = 'workflows' | 'fetch' | 'in-process';
  const arms: Record<Arm, number[]> = { workflows: [], fetch: [], 'in-process': [] };
  const clientCpu: Record<Arm, number[]> = { workflows: [], fetch: [], 'in-process': [] };
  const serviceCpu: Record<Arm, number[]> = { workflows: [], fetch: [], 'in-process': [] };
  const inProcStages: Record<string, number>[] = [];
  const inProcMeans: number[] = [];
  try {
    const planFile = join(stateDir, 'paced-plan.json');
    const bodies = Array.from({ length: 50 }, () => JSON.stringify({ items: next64() }));
    const order: Arm[] = quick
      ? ['workflows', 'fetch', 'in-process']
      : ['workflows', 'fetch', 'in-process', 'in-process', 'fetch', 'workflows'];
    for (const transport of order) {
      writeFileSync(
        planFile,
        JSON.stringify({
          port: srv.port,
          callsPerS,
          warmup: 30,
          // quick: 100 calls per arm (~5 s at the paced rate; 300 took ~16 s per arm)
          total: quick ? 100 : Math.max(1000, Math.round(callsPerS * seconds * 2)),
          bodies,
          transport,
          env: { REDIS_URL: cfg.redisUrl, MLFLOW_TRACKING_URI: cfg.mlflowUrl, ML_REGISTRY_PREFIX: prefix },
        }),
      );
      const cpu0 = process.cpuUsage();
      const r = await pacedClient(planFile);
      const cpu = process.cpuUsage(cpu0);
      arms[transport].push(...r.latencies_ms);
      clientCpu[transport].push(r.client_cpu_ms_per_call);
      if (r.stages_ms) {
        inProcStages.push(r.stages_ms);
        inProcMeans.push(r.latencies_ms.reduce((a, b) => a + b, 0) / r.latencies_ms.length);
      }
      // Includes the warm-up calls (so slightly over): the service's CPU per measured call.
      serviceCpu[transport].push((cpu.user + cpu.system) / 1000 / r.latencies_ms.length);
    }
  } finally {
    await srv.close();
    await scoring.close();
  }
  // The headline is the path that serves by default (the worker scores fraud in its own process); the HTTP path with
  // the workflows' client is the baseline, both from this run's same pacing and rounds, each arm's calls pooled.
  const inProcP99 = pct(arms['in-process'], 99);
  const p99 = pct(arms.workflows, 99);
  metrics.push({ name: 'score64_calls_per_s_paced', unit: 'calls/s', value: Number(callsPerS.toFixed(1)) });
  metrics.push({ name: 'score64_p50_ms', unit: 'ms', value: Number(pct(arms['in-process'], 50).toFixed(3)) });
  ratios.push({ name: 'ml_score64_p99_ms', value: Number(inProcP99.toFixed(3)), goal: 5, lowerIsBetter: true });
  metrics.push({ name: 'score64_http_p99_ms', unit: 'ms', value: Number(p99.toFixed(3)) });
  metrics.push({ name: 'score64_http_p50_ms', unit: 'ms', value: Number(pct(arms.workflows, 50).toFixed(3)) });
  const fetchP99 = pct(arms.fetch, 99);
  metrics.push({ name: 'score64_fetch_client_p99_ms', unit: 'ms', value: Number(fetchP99.toFixed(3)) });
  metrics.push({ name: 'score64_fetch_client_p50_ms', unit: 'ms', value: Number(pct(arms.fetch, 50).toFixed(3)) });
  for (const [arm, xs] of Object.entries(clientCpu))
    metrics.push({ name: `score64_client_cpu_${arm}_ms`, unit: 'ms', value: Number(median(xs).toFixed(3)) });
  for (const arm of ['workflows', 'fetch'] as const)
    metrics.push({
      name: `score64_service_cpu_${arm}_ms`,
      unit: 'ms',
      value: Number(median(serviceCpu[arm]).toFixed(3)),
    });
  // The headline's figures under their arm's name too (the series before the headline moved to this arm).
  metrics.push({ name: 'score64_in_process_p99_ms', unit: 'ms', value: Number(inProcP99.toFixed(3)) });
  metrics.push({
    name: 'score64_in_process_p50_ms',
    unit: 'ms',
    value: Number(pct(arms['in-process'], 50).toFixed(3)),
  });
  // Where the headline call's time goes, measured inside it (the scorer's own clocks in the in-process arm, mean wall
  // ms per call): parse (items -> requests), read (Redis + decode), pack (records -> JSON rows), vectorize
  // (core-native), onnx (tensor + session.run), post (answers' scores, metrics, drift), answer (answer objects); other =
  // the mean call minus those (the worker's client wrapper, promise turns, and waiting for a core between stages).
  if (inProcStages.length > 0) {
    const keys = Object.keys(inProcStages[0] as Record<string, number>);
    let sum = 0;
    for (const key of keys) {
      const v = median(inProcStages.map((x) => x[key] as number));
      sum += v;
      metrics.push({ name: `score64_in_process_stage_${key}_ms`, unit: 'ms', value: Number(v.toFixed(3)) });
    }
    const other = median(inProcMeans) - sum;
    metrics.push({ name: 'score64_in_process_stage_other_ms', unit: 'ms', value: Number(other.toFixed(3)) });
    metrics.push({ name: 'score64_in_process_mean_ms', unit: 'ms', value: Number(median(inProcMeans).toFixed(3)) });
    say(
      `in-process call, mean ms by stage: ${keys.map((k) => `${k} ${median(inProcStages.map((x) => x[k] as number)).toFixed(2)}`).join(', ')}, other ${other.toFixed(2)}`,
    );
  }
  // CPU per 64-event call, all parts: the HTTP path's client + service against the in-process path's one process.
  const httpCpu = median(clientCpu.workflows) + median(serviceCpu.workflows);
  metrics.push({ name: 'score64_cpu_http_path_ms', unit: 'ms', value: Number(httpCpu.toFixed(3)) });
  metrics.push({
    name: 'score64_cpu_in_process_ms',
    unit: 'ms',
    value: Number(median(clientCpu['in-process']).toFixed(3)),
  });
  ratios.push({
    name: 'score64_p99_http_vs_in_process',
    value: Number((p99 / inProcP99).toFixed(2)),
    goal: null,
  });
  ratios.push({
    name: 'score64_cpu_http_vs_in_process',
    value: Number((httpCpu / median(clientCpu['in-process'])).toFixed(2)),
    goal: null,
  });
  ratios.push({
    name: 'score64_p99_fetch_client_vs_workflows_client',
    value: Number((fetchP99 / p99).toFixed(2)),
    goal: null,
  });
  say(
    `score64 p99 in-process ${inProcP99.toFixed(1)} ms (HTTP ${p99.toFixed(1)} ms, fetch client ${fetchP99.toFixed(1)} ms); ` +
      `CPU per call: HTTP path ${httpCpu.toFixed(2)} ms, in-process ${median(clientCpu['in-process']).toFixed(2)} ms`,
  );

  // Where a 64-event call's time goes: per stage of the scorer's batch (the online read, vectorizing, the ORT run),
  // its p99 and this process's CPU per call, and Redis's own time for the read script (commandstats). Wall times on a
  // shared machine include waiting for a core; the CPU figures do not.
  const model = await OnnxClassifier.load(
    await new ModelRegistry(cfg.mlflowUrl).download(
      (await new ModelRegistry(cfg.mlflowUrl).alias(`${prefix}fraud`, 'champion')) as ModelVersionInfo,
    ),
    core.featureSpec().features.length,
  );
  const stages = { read: [] as number[], vectorize: [] as number[], onnx: [] as number[] };
  const cpu = { read: 0, vectorize: 0, onnx: 0 };
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const stageCalls = quick ? 200 : 1000;
  await redis.config('RESETSTAT');
  for (let i = 0; i < stageCalls; i++) {
    const batch = Array.from({ length: 64 }, () => k++ % payments.length);
    const c0 = cpuMs();
    const t0 = performance.now();
    const rows = await online.read(batch.map((j) => payments[j]));
    const t1 = performance.now();
    const c1 = cpuMs();
    const x = core.vectorizeBatch(
      packFeatureRows(
        batch.map((j, n) => ({
          event: JSON.stringify(payments[j]),
          customer: json(rows[n]?.customer.record),
          merchant: json(rows[n]?.merchant.record),
          paymentMethod: json(rows[n]?.payment_method.record),
        })),
      ),
    );
    const t2 = performance.now();
    const c2 = cpuMs();
    await model.score(x, 64);
    const t3 = performance.now();
    const c3 = cpuMs();
    stages.read.push(t1 - t0);
    stages.vectorize.push(t2 - t1);
    stages.onnx.push(t3 - t2);
    cpu.read += c1 - c0;
    cpu.vectorize += c2 - c1;
    cpu.onnx += c3 - c2;
  }
  await model.release();
  const script = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await redis.info('commandstats'));
  for (const [stage, xs] of Object.entries(stages)) {
    metrics.push({ name: `score64_stage_${stage}_p99_ms`, unit: 'ms', value: Number(pct(xs, 99).toFixed(3)) });
    const c = cpu[stage as keyof typeof cpu] / stageCalls;
    metrics.push({ name: `score64_stage_${stage}_cpu_ms`, unit: 'ms', value: Number(c.toFixed(3)) });
  }
  if (script)
    metrics.push({
      name: 'score64_redis_read_script_ms',
      unit: 'ms',
      value: Number((Number(script[2]) / Number(script[1]) / 1000).toFixed(3)),
    });
  const reads = stages.read;
  metrics.push({ name: 'online_read64_p99_ms', unit: 'ms', value: Number(pct(reads, 99).toFixed(3)) });

  // Feast's SDK reading the same keys (64 customers per call).
  const ids = [...new Set(payments.map((e) => e.customer_id as string))].slice(0, 64);
  const file = join(stateDir, 'feast-read.json');
  writeFileSync(file, JSON.stringify(ids));
  const feastOut = await runPython('pep_ml.bench_feast', [
    '--redis',
    cfg.redisUrl,
    '--state',
    cfg.stateDir,
    '--offline',
    cfg.offlineDir,
    '--ids',
    file,
    '--calls',
    quick ? '50' : '300',
  ]);
  const feast = JSON.parse(feastOut.trim().split('\n').pop() as string) as { p50_ms: number; p99_ms: number };
  metrics.push({ name: 'feast_sdk_online_read64_p99_ms', unit: 'ms', value: Number(feast.p99_ms.toFixed(3)) });
  metrics.push({ name: 'feast_sdk_online_read64_p50_ms', unit: 'ms', value: Number(feast.p50_ms.toFixed(3)) });
  ratios.push({
    name: 'feast_sdk_vs_our_online_read64_p99',
    value: Number((feast.p99_ms / pct(reads, 99)).toFixed(2)),
    goal: null,
  });
  redis.disconnect();
  const r = writeResult('ml', metrics, ratios);
  console.log(JSON.stringify(r.ratios));
}
