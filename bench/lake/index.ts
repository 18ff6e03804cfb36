/**
 * Lakehouse benchmark (issue #16), ratios from one run:
 * - lake_sink_vs_transformer_events_per_s (goal ≥ 1): the same N Stripe events go raw → transformer (wire client,
 *   native core) → a private payments.normalized, then the lake sink drains that topic into a private table; both
 *   throughputs are events per second from the first record handled to the last one committed, medians of RUNS.
 * - freshness: normalized events produced at a steady rate while the sink runs with commit interval C; a DuckDB
 *   poller reopens the table every 250 ms; each event's freshness = first poll that sees it − its Kafka timestamp.
 *   Ratio freshness_p99_minus_commit_interval_s (goal ≤ 5).
 * - duckdb_vs_trino_query_time (goal ≥ 5): the four analytical queries (lakehouse/src/analytics.ts) over generated
 *   history (10 million events over 90 days; --quick 200,000 over 30), compacted as the scheduled maintenance leaves
 *   a table (small files merged per partition), alternating engines, median per query over RUNS, ratio of the summed
 *   medians (Trino / DuckDB).
 * - bytes on disk per event (Parquet zstd) for payment_events, from the generator's write and the sink's.
 * Needs the stack (Kafka, PostgreSQL, Trino) and the lake addon. Private catalog namespace and warehouse, removed
 * at the end.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAKE_CATALOG_NAME, LAKE_TABLES } from '@pep/contracts';
import { createLogger } from '@pep/contracts/log';
import { loadCore } from '@pep/core-native';
import { LAKE_ADDON_PATH } from '@pep/core-native/lake';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import { analyticalQueries } from '@pep/lakehouse/analytics';
import { loadLakeConfig } from '@pep/lakehouse/config';
import { openDuckSession } from '@pep/lakehouse/duckdb';
import { writeHistory } from '@pep/lakehouse/generate';
import { trinoQuery } from '@pep/lakehouse/trino';
import { LakeWriter } from '@pep/lakehouse/writer';
import { loadTransformerConfig } from '@pep/pipeline/config';
import { LakeSink } from '@pep/pipeline/lake-sink';
import { loadLakeSinkConfig } from '@pep/pipeline/lake-sink/config';
import { LAKE_SINK_STAGES, type SinkProfile } from '@pep/pipeline/lake-sink/profile';
import { createTransformer } from '@pep/pipeline/transformer';
import { REPO_ROOT } from '@pep/stack/paths';
import { runStreaming } from '@pep/stack/run-suites';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel, type Message } from 'kafkajs';
import pg from 'pg';
import { type Metric, median, percentile, type Ratio, writeResult } from '../src/result.ts';

const log = createLogger('warn', { service: 'bench-lake' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stripeEvent(template: Record<string, unknown>, i: number): string {
  return JSON.stringify({ ...template, id: `evt_lakebench_${i}`, created: 1_764_000_000 + (i % 86_400) });
}

/** Removes the bench's tables from the shared catalog (their files go with the warehouse folder). */
async function dropNamespaces(catalogUrl: string, ns: string): Promise<void> {
  const db = new pg.Client({ connectionString: catalogUrl });
  await db.connect();
  try {
    const like = `${ns.replaceAll('_', '\\_')}%`;
    await db.query('DELETE FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace LIKE $2', [
      LAKE_CATALOG_NAME,
      like,
    ]);
    await db.query('DELETE FROM iceberg_namespace_properties WHERE catalog_name = $1 AND namespace LIKE $2', [
      LAKE_CATALOG_NAME,
      like,
    ]);
  } finally {
    await db.end();
  }
}

export async function run(opts: { quick: boolean }): Promise<void> {
  if (!existsSync(LAKE_ADDON_PATH)) {
    // The addon is cached per source version: a cold machine builds it once (minutes), a warm one copies it.
    console.log('  lake: building the lake addon (npm run build:lake -w @pep/core-native)');
    const { code } = await runStreaming('npm', ['run', 'build:lake', '-w', '@pep/core-native'], { cwd: REPO_ROOT });
    if (code !== 0) throw new Error(`the lake addon did not build (exit ${code})`);
  }
  const quick = opts.quick;
  // BENCH_LAKE_EVENTS / BENCH_LAKE_RUNS: other sizes for the throughput arm; BENCH_LAKE_ARMS=throughput (comma list of
  // throughput, freshness, queries) runs only those arms (iterating on one of them; the result file then lacks the
  // others' figures).
  const N = Number(process.env.BENCH_LAKE_EVENTS ?? (quick ? 5000 : 50_000));
  const RUNS = Number(process.env.BENCH_LAKE_RUNS ?? (quick ? 1 : 3));
  const arms = new Set((process.env.BENCH_LAKE_ARMS ?? 'throughput,freshness,queries').split(','));
  const HISTORY = quick ? 200_000 : 10_000_000;
  const HISTORY_DAYS = quick ? 30 : 90;
  const COMMIT_INTERVAL_MS = quick ? 2000 : 5000;
  const tag = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const prefix = `bench-lake-${tag}.`;
  const ns = `bench_${tag}`;
  const warehouse = join(tmpdir(), `pep-bench-lake-${tag}`);
  mkdirSync(warehouse, { recursive: true });
  const env = {
    ...process.env,
    LAKE_WAREHOUSE: warehouse,
    LAKE_CATALOG_NAME: LAKE_CATALOG_NAME,
    LAKE_SINK_METRICS_PORT: '0',
    LAKE_SINK_OUTCOMES: 'false',
  };
  const lakeCfg = loadLakeConfig(env);
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const kafka = new Kafka({ clientId: 'bench-lake', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const created: string[] = [];
  const metrics: Metric[] = [];
  const ratios: Ratio[] = [];
  const template = JSON.parse(
    readFileSync(
      fileURLToPath(import.meta.resolve('@pep/core-native/fixtures/payloads/stripe_payment_intent_succeeded.json')),
      'utf8',
    ),
  ) as Record<string, unknown>;
  const table = { ...LAKE_TABLES.payment_events, qualifiedName: `${ns}.payment_events` };
  const writer = await LakeWriter.open(lakeCfg);
  try {
    // --- throughput: transformer vs sink over the same events --------------------------------------------------
    const transformerEps: number[] = [];
    const sinkEps: number[] = [];
    const sinkBytesPerEvent: number[] = [];
    const sinkEpsAfterFirstBatch: number[] = [];
    const profiles: { profile: SinkProfile; totals: ReturnType<SinkProfile['totals']> }[] = [];
    const core = await loadCore({ impl: 'native' });
    for (let run = 0; run < (arms.has('throughput') ? RUNS : 0); run++) {
      const raw = `${prefix}r${run}.webhooks.stripe.payment_intent`;
      const normalized = `${prefix}r${run}.payments.normalized`;
      const dlq = `${prefix}r${run}.payments.validation.dlq`;
      created.push(raw, normalized, dlq);
      await createTopicsAndWait(admin, [
        { topic: raw, numPartitions: 3 },
        { topic: normalized, numPartitions: 3 },
        { topic: dlq, numPartitions: 1 },
      ]);
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const received = new Date().toISOString();
      for (let i = 0; i < N; i += 1000) {
        const messages: Message[] = [];
        for (let j = i; j < Math.min(N, i + 1000); j++) {
          messages.push({ key: `pi_${j}`, value: stripeEvent(template, j), headers: { 'received-at': received } });
        }
        await producer.send({ topic: raw, acks: -1, messages });
      }
      await producer.disconnect();

      let first = 0;
      const tcfg = loadTransformerConfig({
        ...process.env,
        TRANSFORMER_INPUT_TOPICS: raw,
        TRANSFORMER_NORMALIZED_TOPIC: normalized,
        TRANSFORMER_DLQ_TOPIC: dlq,
        TRANSFORMER_GROUP_ID: `${prefix}r${run}.transformer`,
        TRANSFORMER_METRICS_PORT: '0',
      });
      const t = createTransformer(
        tcfg,
        {
          ...core,
          transformRecordSets: (sets, o) => {
            if (first === 0) first = performance.now();
            return core.transformRecordSets(sets, o);
          },
        },
        log,
        () => undefined,
      );
      await t.start();
      while (t.metrics.inputs.get({ topic: raw }) < N) await sleep(5);
      transformerEps.push(N / ((performance.now() - first) / 1000));
      await t.stop();

      const scfg = loadLakeSinkConfig({
        ...env,
        LAKE_SINK_TOPICS: normalized,
        LAKE_SINK_GROUP_ID: `${prefix}r${run}.sink`,
        LAKE_SINK_COMMIT_INTERVAL_MS: '1000',
      });
      const runTable = { ...LAKE_TABLES.payment_events, qualifiedName: `${ns}_r${run}.payment_events` };
      const sink = new LakeSink(scfg, log, () => undefined, { payment_events: runTable }, { profile: true });
      const profile = sink.profile as SinkProfile;
      await sink.start();
      // Every record consumed, then the rest committed at once (drain) instead of idling until the next commit
      // tick: the time is the sink's work (Arrow, Parquet, commits), not the commit interval. It starts when the sink
      // gets its first batch from kafkajs (as the transformer's starts when its first fetch is handed over); until
      // 2026-12-06 it started when the bench saw the first batch counted, which left that batch's work out (a third
      // of the quick run's events).
      while (sink.metrics.records.get({ table: 'payment_events' }) < N) await sleep(5);
      await sink.drain();
      if (sink.metrics.rows.get({ table: 'payment_events' }) !== N)
        throw new Error('the sink did not commit every event');
      const totals = profile.totals();
      profiles.push({ profile, totals });
      sinkEps.push(N / (totals.wallMs / 1000));
      sinkEpsAfterFirstBatch.push(
        (N - profile.firstBatchRecords) / ((totals.wallMs - (profile.firstBatchEndAt - profile.firstRecordAt)) / 1000),
      );
      sinkBytesPerEvent.push(sink.metrics.bytes.get({ table: 'payment_events' }) / N);
      await sink.stop();
      console.log(
        `  run ${run + 1}/${RUNS}: transformer ${transformerEps.at(-1)?.toFixed(0)} ev/s, sink ${sinkEps.at(-1)?.toFixed(0)} ev/s ` +
          `(after the first batch ${sinkEpsAfterFirstBatch.at(-1)?.toFixed(0)}; load ${loadavg()[0]?.toFixed(2)})`,
      );
      console.log(formatProfile(profile, totals, N));
    }
    if (profiles.length > 0) {
      // Where the sink's time goes, µs per event (medians over runs): see pipeline/src/lake-sink/profile.ts.
      const per = (f: (p: (typeof profiles)[number]) => number) =>
        Number(median(profiles.map((p) => (f(p) * 1000) / N)).toFixed(2));
      for (const st of LAKE_SINK_STAGES) {
        metrics.push(
          {
            name: `sink_breakdown_${st}_wall_us_per_event`,
            unit: 'µs',
            value: per((p) => p.profile.stages[st].wallMs),
          },
          { name: `sink_breakdown_${st}_cpu_us_per_event`, unit: 'µs', value: per((p) => p.profile.stages[st].cpuMs) },
        );
      }
      metrics.push(
        { name: 'sink_breakdown_total_wall_us_per_event', unit: 'µs', value: per((p) => p.totals.wallMs) },
        {
          // From the last batch to the last commit: the final flush that nothing overlaps with.
          name: 'sink_breakdown_drain_tail_wall_us_per_event',
          unit: 'µs',
          value: per((p) => p.totals.wallMs - (p.profile.lastBatchEndAt - p.profile.firstRecordAt)),
        },
        { name: 'sink_breakdown_js_thread_cpu_us_per_event', unit: 'µs', value: per((p) => p.totals.threadCpuMs) },
        { name: 'sink_breakdown_off_thread_cpu_us_per_event', unit: 'µs', value: per((p) => p.totals.offThreadCpuMs) },
        {
          name: 'lake_sink_events_per_s_after_first_batch',
          unit: 'events/s',
          value: Math.round(median(sinkEpsAfterFirstBatch)),
        },
        { name: 'sink_writes', unit: 'writes', value: median(profiles.map((p) => p.profile.writes)) },
        { name: 'sink_commits', unit: 'commits', value: median(profiles.map((p) => p.profile.commits)) },
        { name: 'throughput_events', unit: 'events', value: N },
        { name: 'throughput_load_average', unit: 'load', value: Number(loadavg()[0]?.toFixed(2)) },
      );
    }
    // BENCH_LAKE_ARMS without `throughput`: no runs, no throughput figures (a median of nothing throws).
    if (transformerEps.length > 0) {
      const tEps = median(transformerEps);
      const sEps = median(sinkEps);
      metrics.push(
        { name: 'transformer_events_per_s', unit: 'events/s', value: Math.round(tEps) },
        { name: 'lake_sink_events_per_s', unit: 'events/s', value: Math.round(sEps) },
        { name: 'sink_bytes_per_event', unit: 'bytes', value: Math.round(median(sinkBytesPerEvent)) },
      );
      ratios.push({ name: 'lake_sink_vs_transformer_events_per_s', value: Number((sEps / tEps).toFixed(3)), goal: 1 });
    }

    // --- freshness ------------------------------------------------------------------------------------------------
    if (arms.has('freshness')) {
      const topic = `${prefix}fresh.payments.normalized`;
      created.push(topic);
      await createTopicsAndWait(admin, [{ topic, numPartitions: 3 }]);
      const freshTable = { ...LAKE_TABLES.payment_events, qualifiedName: `${ns}_fresh.payment_events` };
      const scfg = loadLakeSinkConfig({
        ...env,
        LAKE_SINK_TOPICS: topic,
        LAKE_SINK_GROUP_ID: `${prefix}fresh.sink`,
        LAKE_SINK_COMMIT_INTERVAL_MS: String(COMMIT_INTERVAL_MS),
      });
      const sink = new LakeSink(scfg, log, () => undefined, { payment_events: freshTable });
      await sink.start();
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const seconds = quick ? 12 : 40;
      const rate = 200;
      const sentAt: number[] = [];
      const visibleAt: number[] = [];
      let visible = 0;
      let stop = false;
      // One DuckDB session for the whole run; each poll points its view at the table's current snapshot (a catalog
      // read) and counts: what a dashboard re-running a query would see.
      const duckFresh = await openDuckSession(lakeCfg, undefined, { only: [freshTable.qualifiedName] });
      const poller = (async () => {
        while (!stop || visible < sentAt.length) {
          await duckFresh.refresh();
          if (duckFresh.tables.length > 0) {
            const r = await duckFresh.query(`SELECT count(*) AS n FROM ${freshTable.qualifiedName}`);
            const n = Number(r.rows[0]?.n ?? 0);
            const now = Date.now();
            for (let k = visible; k < n; k++) visibleAt[k] = now;
            visible = Math.max(visible, n);
          }
          if (stop && Date.now() - (sentAt.at(-1) ?? 0) > COMMIT_INTERVAL_MS * 4 + 30_000) break;
          await sleep(250);
        }
      })().finally(() => duckFresh.close());
      const t0 = Date.now();
      for (let i = 0; i < seconds * rate; i++) {
        const due = t0 + (i * 1000) / rate;
        if (due > Date.now()) await sleep(due - Date.now());
        sentAt.push(Date.now());
        await producer.send({
          topic,
          acks: -1,
          messages: [
            {
              key: `k${i}`,
              value: JSON.stringify({
                event_id: `stripe:f${i}`,
                provider: 'stripe',
                amount_minor: 1,
                received_at: new Date().toISOString(),
              }),
            },
          ],
        });
      }
      stop = true;
      await poller;
      await producer.disconnect();
      await sink.stop();
      // Rows become visible in commit order; counting rows maps the k-th visible row to the k-th sent (per-partition
      // order is kept and commits cover all partitions' buffers, so the k-th row is never visible before the k-th
      // send by more than one commit's reordering).
      const ages = sentAt.map((s, k) => ((visibleAt[k] ?? Number.NaN) - s) / 1000).filter(Number.isFinite);
      const p99 = percentile(ages, 99);
      metrics.push(
        { name: 'freshness_commit_interval_s', unit: 's', value: COMMIT_INTERVAL_MS / 1000 },
        { name: 'freshness_p50_s', unit: 's', value: Number(percentile(ages, 50).toFixed(2)) },
        { name: 'freshness_p99_s', unit: 's', value: Number(p99.toFixed(2)) },
        { name: 'freshness_events_seen', unit: 'events', value: ages.length },
      );
      ratios.push({
        name: 'freshness_p99_minus_commit_interval_s',
        value: Number((p99 - COMMIT_INTERVAL_MS / 1000).toFixed(2)),
        goal: 5,
        lowerIsBetter: true,
      });
    }

    // --- DuckDB vs Trino over the history ---------------------------------------------------------------------------
    if (arms.has('queries')) await queryArm();
  } finally {
    for (const t of created) await admin.deleteTopics({ topics: [t] }).catch(() => undefined);
    await admin.disconnect();
    await dropNamespaces(lakeCfg.catalogUrl, ns);
    rmSync(warehouse, { recursive: true, force: true });
  }
  writeResult('lake', metrics, ratios);

  async function queryArm(): Promise<void> {
    const hist = await writeHistory(
      writer,
      { events: HISTORY, days: HISTORY_DAYS, seed: 16, run: `bench${tag}`, endMs: Date.UTC(2026, 11, 1) },
      { table, batchRows: quick ? 100_000 : 500_000, progress: (m) => console.log(`  history ${m}`) },
    );
    // The history as scheduled maintenance leaves it: the generator's commits each touch every day
    // partition (20 x 90 small files over 10 million events), which both engines pay per file; the orchestration
    // graph compacts a live lake the same way. Bounded rounds: a run reads its chosen files into memory.
    const compactStart = performance.now();
    const compacted = { partitions: 0, filesBefore: 0, filesAfter: 0 };
    for (let round = 1; round <= 100; round++) {
      const out = (await writer.compact(table.qualifiedName, { minFiles: 2, maxFiles: 1_000 })) as typeof compacted;
      if (!out.partitions) break;
      compacted.partitions += out.partitions;
      compacted.filesBefore += out.filesBefore;
      compacted.filesAfter += out.filesAfter;
      console.log(
        `  compaction round ${round}: ${out.partitions} partitions, ${out.filesBefore} -> ${out.filesAfter} files`,
      );
    }
    metrics.push(
      { name: 'history_compacted_partitions', unit: 'partitions', value: compacted.partitions },
      { name: 'history_files_before_compaction', unit: 'files', value: compacted.filesBefore },
      { name: 'history_files_after_compaction', unit: 'files', value: compacted.filesAfter },
      {
        name: 'history_compaction_s',
        unit: 's',
        value: Number(((performance.now() - compactStart) / 1000).toFixed(1)),
      },
    );
    metrics.push(
      { name: 'history_events', unit: 'events', value: hist.rows },
      { name: 'history_write_events_per_s', unit: 'events/s', value: Math.round(hist.rows / hist.seconds) },
      { name: 'history_bytes_per_event', unit: 'bytes', value: Number((hist.fileBytes / hist.rows).toFixed(1)) },
    );
    const duck = await openDuckSession(lakeCfg);
    try {
      const top = await duck.query(
        `SELECT customer_id FROM ${table.qualifiedName} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1 OFFSET 10`,
      );
      const since = new Date(Date.UTC(2026, 11, 1) - 90 * 86_400_000).toISOString().slice(0, 10);
      const customer = String(top.rows[0]?.customer_id);
      const queries = analyticalQueries(table.qualifiedName, customer, since, 'duckdb');
      const onTrino = analyticalQueries(table.qualifiedName, customer, since, 'trino');
      const duckMs: Record<string, number[]> = {};
      const trinoMs: Record<string, number[]> = {};
      for (let r = 0; r < RUNS + 1; r++) {
        for (const [i, q] of queries.entries()) {
          // Alternate which engine goes first; the first round warms both up and is not counted.
          const order = r % 2 === 0 ? (['duckdb', 'trino'] as const) : (['trino', 'duckdb'] as const);
          for (const engine of order) {
            const s = performance.now();
            if (engine === 'duckdb') await duck.query(q.sql);
            else await trinoQuery(lakeCfg.trinoUrl, (onTrino[i] as { sql: string }).sql);
            const ms = performance.now() - s;
            if (r === 0) continue;
            const into = engine === 'duckdb' ? duckMs : trinoMs;
            into[q.name] = [...(into[q.name] ?? []), ms];
          }
        }
      }
      let duckTotal = 0;
      let trinoTotal = 0;
      for (const q of queries) {
        const d = median(duckMs[q.name] ?? []);
        const t = median(trinoMs[q.name] ?? []);
        duckTotal += d;
        trinoTotal += t;
        metrics.push(
          { name: `duckdb_${q.name}_ms`, unit: 'ms', value: Math.round(d) },
          { name: `trino_${q.name}_ms`, unit: 'ms', value: Math.round(t) },
        );
      }
      ratios.push({ name: 'duckdb_vs_trino_query_time', value: Number((trinoTotal / duckTotal).toFixed(2)), goal: 5 });
    } finally {
      duck.close();
    }
  }
}

function formatProfile(p: SinkProfile, t: ReturnType<SinkProfile['totals']>, n: number): string {
  const us = (ms: number) => ((ms * 1000) / n).toFixed(2);
  const stages = LAKE_SINK_STAGES.map((s) => `${s} ${us(p.stages[s].wallMs)}/${us(p.stages[s].cpuMs)}`).join(', ');
  return (
    `    sink µs/event wall/cpu: ${stages}; total wall ${us(t.wallMs)}, JS thread cpu ${us(t.threadCpuMs)}, ` +
    `off-thread cpu ${us(t.offThreadCpuMs)}, drain tail ${us(t.wallMs - (p.lastBatchEndAt - p.firstRecordAt))}; ` +
    `${p.writes} writes, ${p.commits} commits`
  );
}
