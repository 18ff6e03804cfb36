/**
 * Pipeline benchmark (`npm run bench -- pipeline`): the transformer's end-to-end throughput through real Kafka
 * (consume raw → core-native → transactional produce + offsets) in two arms, alternating runs on private topics:
 * the native addon (the production setup) and the TypeScript twin, with the transformer pinned to one core and the
 * local broker to the other (as the edge bench pins the edge); and the raw-to-normalized latency (p50/p99, read
 * committed) at half the edge's measured maximum rate (bench/results/edge.json; 1000 events/s if absent), in both
 * delivery modes, alternating rounds, medians. (The retired kafkajs transformer's arm is gone; its last figures are in
 * bench/HISTORY.md.)
 * Latency runs measure the system, not the harness: three processes, as in production. The raw events come from the
 * edge's own producer path (GroupCommitProducer + kafka-wire's IdempotentProducer with the edge's default limits, the edge's raw headers)
 * in a child process; the transformer runs in this process; a read-committed reader on kafka-wire's GroupConsumer
 * (decoding only the received-at header) runs in another child. The breakdown per run: the edge's produce
 * acknowledgement, received-at → the transformer's commit, the transaction time, the transformer's event-loop
 * delay, CPU per process and of the whole machine, and the broker's GC pauses (its GC log switched on at runtime
 * with jcmd VM.log for the latency phase, off again after).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RAW_HEADERS } from '@pep/contracts';
import { createLogger } from '@pep/contracts/log';
import { loadCore } from '@pep/core-native';
import { KafkaCluster } from '@pep/kafka-wire/cluster';
import { GroupConsumer } from '@pep/kafka-wire/consumer';
import { type AbortedTransactionRef, forEachCommittedRecord } from '@pep/kafka-wire/record-batch';
import { loadTransformerConfig } from '@pep/pipeline/config';
import { Kafka, logLevel, type Message } from 'kafkajs';

// Errors only, to stderr: a stuck run must say why.
const log = createLogger('error', { service: 'bench-pipeline' }, (line) => process.stderr.write(`${line}\n`));

import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import { createTransformer, type TransformerCore, type WireTransformer } from '@pep/pipeline/transformer';
import { pidFile, REPO_ROOT } from '@pep/stack/paths';
import { type Metric, median, percentile, type Ratio, RESULTS_DIR, withTimeout, writeResult } from '../src/result.ts';

const PAYLOADS = dirname(
  fileURLToPath(import.meta.resolve('@pep/core-native/fixtures/payloads/adyen_notification.json')),
);
const TOPIC_OF: Record<string, string> = {
  stripe: 'webhooks.stripe.payment_intent',
  square: 'webhooks.square.payment',
  adyen: 'webhooks.adyen.notification',
  braintree: 'webhooks.braintree.notification',
};

interface Fixture {
  readonly provider: string;
  readonly body: string;
}

function fixtures(): Fixture[] {
  const pick = [
    'stripe_payment_intent_succeeded.json',
    'stripe_charge_failed.json',
    'stripe_refund_created.json',
    'square_payment_completed.json',
    'square_refund_created.json',
    'adyen_notification.json',
    'braintree_transaction_settled.json',
    'braintree_transaction_settled.form',
    'braintree_dispute_opened.form',
  ];
  return pick
    .filter((f) => existsSync(join(PAYLOADS, f)))
    .map((f) => ({ provider: f.split('_')[0] as string, body: readFileSync(join(PAYLOADS, f), 'utf8') }));
}

/** A unique provider id per message so keys spread over partitions like real traffic. */
function variant(f: Fixture, i: number): string {
  if (!f.body.startsWith('{')) return f.body;
  const doc = JSON.parse(f.body);
  if (f.provider === 'stripe') doc.id = `evt_bench_${i}`;
  if (f.provider === 'square') doc.event_id = `sq_bench_${i}`;
  if (f.provider === 'adyen') {
    for (const [k, it] of (doc.notificationItems ?? []).entries())
      it.NotificationRequestItem.pspReference = `${8800000000000000 + i * 10 + k}`;
  }
  return JSON.stringify(doc);
}

interface LoadGenSpec {
  readonly brokers: readonly string[];
  readonly topic: string;
  /** events/s */
  readonly rate: number;
  readonly total: number;
}

interface LoadGenResult {
  readonly sent: number;
  readonly ackP50: number;
  readonly ackP99: number;
  /** This process's CPU (user + system) over its paced run, in cores (1 = one core busy). */
  readonly cpuCores: number;
}

interface ReaderSpec {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly groupId: string;
  /** Records to see before reporting. */
  readonly total: number;
  readonly maxWaitMs: number;
  readonly deadlineMs: number;
}

interface ReaderResult {
  readonly seen: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpuCores: number;
  readonly fetches: number;
}

const ROLE_ENV = 'PIPELINE_BENCH_ROLE';
const SPEC_ENV = 'PIPELINE_BENCH_SPEC';
/**
 * A fixed second latency rate (exactly-once only): half of the edge's maximum when the previous pipeline figure
 * (p99 257 ms) was measured, so that figures stay comparable while the edge's maximum moves.
 */
const REFERENCE_RATE = 1721;
/** The reader's Fetch max wait (ms): the transformer's default, so the reader adds what a downstream consumer would. */
const READER_MAX_WAIT_MS = Number(process.env.BENCH_PIPELINE_READER_MAX_WAIT_MS ?? 20);

/** Stripe payment-intent JSON with a unique event id per call, from one template (no JSON.parse per event). */
function stripeTemplate(): (i: number) => Buffer {
  const stripe = fixtures().find((f) => f.provider === 'stripe');
  if (!stripe) throw new Error('no stripe fixture');
  const doc = JSON.parse(stripe.body);
  doc.id = '__EVENT_ID__';
  const [head, tail] = JSON.stringify(doc).split('"__EVENT_ID__"') as [string, string];
  return (i) => Buffer.from(`${head}"evt_bench_${i}"${tail}`, 'utf8');
}

const cpuCoresSince = (cpu0: NodeJS.CpuUsage, wall0: number) => {
  const d = process.cpuUsage(cpu0);
  return (d.user + d.system) / 1000 / Math.max(1, performance.now() - wall0);
};

/**
 * The paced raw-event producer, in its own process, on the edge's own producer path: the edge's GroupCommitProducer
 * (linger, batch bounds, concurrent batches from the edge's config defaults) over kafka-wire's IdempotentProducer (
 * idempotent sessions, acks=all). Every millisecond it "receives" the events due by then, stamps each with the edge's
 * raw headers (received-at as the edge writes it) and enqueues it; an event's ack latency is enqueue → acknowledged,
 * what the edge's HTTP answer waits for.
 */
async function loadGenMain(spec: LoadGenSpec): Promise<LoadGenResult> {
  const { loadConfig } = await import('@pep/edge/config');
  const { IdempotentProducer } = await import('@pep/kafka-wire/idempotent-producer');
  const { GroupCommitProducer } = await import('@pep/edge/producer');
  const { EdgeMetrics } = await import('@pep/edge/metrics');
  const edgeCfg = loadConfig({ ...process.env, KAFKA_BROKERS: spec.brokers.join(',') });
  const elog = createLogger('error', { service: 'bench-pipeline-loadgen' }, (l) => process.stderr.write(`${l}\n`));
  const sink = new IdempotentProducer({
    brokers: edgeCfg.kafkaBrokers,
    clientId: 'bench-pipeline-loadgen',
    requestTimeoutMs: edgeCfg.limits.produceTimeoutMs,
    producers: edgeCfg.limits.maxConcurrentBatches,
    log: elog,
  });
  await sink.connect();
  const producer = new GroupCommitProducer(sink, edgeCfg.limits, new EdgeMetrics(), elog);
  const body = stripeTemplate();
  const acks: number[] = [];
  let failed = 0;
  let firstError = '';
  let sent = 0;
  let isoMs = 0;
  let iso = '';
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const all: Promise<void>[] = [];
  while (sent < spec.total) {
    const due = Math.min(spec.total, Math.ceil(((performance.now() - wall0) / 1000) * spec.rate));
    for (; sent < due; sent++) {
      const created = performance.now();
      const ms = Date.now();
      if (ms !== isoMs) {
        isoMs = ms;
        iso = new Date(ms).toISOString();
      }
      const eventId = `evt_bench_${1_000_000 + sent}`;
      all.push(
        producer
          .enqueue({
            topic: spec.topic,
            key: eventId,
            value: body(1_000_000 + sent),
            headers: {
              [RAW_HEADERS.receivedAt]: iso,
              [RAW_HEADERS.requestId]: `bench-${sent}`,
              [RAW_HEADERS.provider]: 'stripe',
              [RAW_HEADERS.contentType]: 'application/json',
              [RAW_HEADERS.eventId]: eventId,
              [RAW_HEADERS.eventType]: 'payment_intent.succeeded',
            },
          })
          .then(
            () => {
              acks.push(performance.now() - created);
            },
            (err: Error) => {
              failed++;
              firstError ||= err.message;
            },
          ),
      );
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(all);
  const cpuCores = cpuCoresSince(cpu0, wall0);
  await producer.drain(10_000);
  await sink.close();
  if (failed > 0) throw new Error(`${failed} of ${sent} events were not acknowledged (first: ${firstError})`);
  return { sent, ackP50: percentile(acks, 50), ackP99: percentile(acks, 99), cpuCores };
}

/**
 * Calls `onReceivedAt` with the `received-at` header of every committed data record at or after `fetchOffset` of one
 * fetched partition (kafka-wire's read_committed reader: control batches and aborted transactions skipped). Returns
 * the next offset to fetch.
 */
export function scanReceivedAt(
  buf: Buffer,
  fetchOffset: bigint,
  aborted: readonly AbortedTransactionRef[],
  onReceivedAt: (iso: string) => void,
): bigint {
  return forEachCommittedRecord(buf, fetchOffset, aborted, (r) => {
    for (const [name, value] of r.headers) {
      if (value && buf.toString('latin1', name[0], name[1]) === RAW_HEADERS.receivedAt && value[1] > value[0])
        onReceivedAt(buf.toString('latin1', value[0], value[1]));
    }
  });
}

/**
 * The read-committed reader of payments.normalized, in its own process on kafka-wire's GroupConsumer (like a
 * downstream consumer): latency = arrival of the fetch that carried the record − its received-at header.
 */
async function readerMain(spec: ReaderSpec): Promise<ReaderResult> {
  const cluster = new KafkaCluster({
    brokers: spec.brokers,
    clientId: 'bench-pipeline-reader',
    lanes: { fetch: { requestTimeoutMs: spec.maxWaitMs + 30_000 }, join: { requestTimeoutMs: 60_000 } },
  });
  const consumer = new GroupConsumer({
    cluster,
    groupId: spec.groupId,
    topics: [spec.topic],
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 20_000,
    heartbeatIntervalMs: 3000,
    maxWaitMs: spec.maxWaitMs,
    maxBytes: 8 << 20,
    maxBytesPerPartition: 1 << 20,
    resetPolicy: 'earliest',
  });
  await consumer.start();
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  const lat: number[] = [];
  let fetches = 0;
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const deadline = Date.now() + spec.deadlineMs;
  let lastIso = '';
  let lastMs = 0;
  while (lat.length < spec.total && Date.now() < deadline) {
    const batch = await consumer.poll();
    const now = Date.now();
    fetches++;
    for (const s of batch.sets) {
      const next = scanReceivedAt(s.records, s.fetchOffset, s.abortedTransactions, (iso) => {
        if (iso !== lastIso) {
          lastIso = iso;
          lastMs = Date.parse(iso);
        }
        lat.push(now - lastMs);
      });
      if (next > s.fetchOffset) consumer.seek(s.topic, s.partition, next);
    }
  }
  const cpuCores = cpuCoresSince(cpu0, wall0);
  await consumer.close();
  cluster.close();
  return { seen: lat.length, p50: percentile(lat, 50), p99: percentile(lat, 99), cpuCores, fetches };
}

/** A child process running one role of this module; `onLine` sees every stdout line, the last one is the result. */
function spawnRole<T>(
  role: 'loadgen' | 'reader',
  spec: LoadGenSpec | ReaderSpec,
  killAfterMs: number,
  onLine: (line: string) => void = () => undefined,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
      cwd: REPO_ROOT,
      env: { ...process.env, [ROLE_ENV]: role, [SPEC_ENV]: JSON.stringify(spec) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // A stuck child must not hold the benchmark lock.
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    let out = '';
    let last = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      let nl = out.indexOf('\n');
      while (nl >= 0) {
        last = out.slice(0, nl);
        out = out.slice(nl + 1);
        onLine(last);
        nl = out.indexOf('\n');
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`${role} exited with ${code}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${role} printed no summary: ${JSON.stringify(last)}`));
      }
    });
  });
}

/** Collects received-at → committed (ms) of every event the transformer commits, from its end-to-end histogram. */
const watchCommits = (t: WireTransformer, out: number[]): (() => void) =>
  watchHistogram(t.metrics.endToEndSeconds, out);

function edgeMaxRate(): { rate: number; source: string } {
  const file = join(RESULTS_DIR, 'edge.json');
  if (!existsSync(file)) return { rate: 0, source: 'absent' };
  const r = JSON.parse(readFileSync(file, 'utf8')) as { metrics?: Metric[] };
  const rates = (r.metrics ?? []).filter((m) => /req\/s|events\/s/.test(m.unit));
  const full = rates.find((m) => /full/.test(m.name) && !/memsink|hello|node/.test(m.name)) ?? rates[0];
  return full ? { rate: full.value, source: full.name } : { rate: 0, source: 'no rate metric' };
}

export async function run(opts: { quick: boolean }): Promise<void> {
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const kafka = new Kafka({ clientId: 'bench-pipeline', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const prefix = `bench-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}.`;
  const raw = Object.values(TOPIC_OF).map((t) => prefix + t);
  const created: string[] = [...raw];
  await createTopicsAndWait(
    admin,
    raw.map((topic) => ({ topic, numPartitions: 3 })),
  );

  // Diagnostics: BENCH_PIPELINE_LATENCY_ONLY=1 skips the throughput arms and writes no result;
  // BENCH_PIPELINE_LATENCY_KEYS=eos,alo,eosRef picks the latency arms (all by default).
  const latencyOnly = process.env.BENCH_PIPELINE_LATENCY_ONLY === '1';
  const latencyKeys = (process.env.BENCH_PIPELINE_LATENCY_KEYS ?? 'eos,alo,eosRef').split(',');
  if (!latencyOnly && !latencyKeys.includes('eos')) throw new Error('a recorded run needs the eos latency arm');
  const brokerPid = kafkaPid();
  let gcLog: GcLog | null = null;
  const N = opts.quick ? 3000 : 20_000;
  const RUNS = opts.quick ? 1 : 3;
  const fx = fixtures();
  if (fx.length === 0) throw new Error(`no payload fixtures under ${PAYLOADS}`);
  const byTopic = new Map<string, Message[]>();
  for (let i = 0; i < N; i++) {
    const f = fx[i % fx.length] as Fixture;
    const topic = prefix + TOPIC_OF[f.provider];
    const list = byTopic.get(topic) ?? [];
    list.push({ key: `k${i}`, value: variant(f, i), headers: { 'received-at': new Date().toISOString() } });
    byTopic.set(topic, list);
  }
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (const [topic, list] of byTopic) {
    for (let i = 0; i < list.length; i += 1000)
      await producer.send({ topic, acks: -1, messages: list.slice(i, i + 1000) });
  }

  const native = await loadCore({ impl: 'native' });
  const js = await loadCore({ impl: 'js' });
  type Arm = 'wire_native' | 'wire_js';
  const ARMS: readonly { arm: Arm; core: TransformerCore }[] = [
    { arm: 'wire_native', core: native },
    { arm: 'wire_js', core: js },
  ];
  const eps: Record<Arm, number[]> = { wire_native: [], wire_js: [] };
  const order = Array.from({ length: RUNS * ARMS.length }, (_, i) => ARMS[i % ARMS.length] as (typeof ARMS)[number]);

  async function throughputRun(arm: (typeof ARMS)[number], n: number): Promise<number> {
    const { core } = arm;
    const out = `${prefix}${arm.arm}-${n}.`;
    const outputs = [`${out}payments.normalized`, `${out}payments.validation.dlq`];
    created.push(...outputs);
    await createTopicsAndWait(admin, [
      { topic: outputs[0] as string, numPartitions: 3 },
      { topic: outputs[1] as string, numPartitions: 1 },
    ]);
    let first = 0;
    const timed: TransformerCore = {
      kind: core.kind,
      transformRecordSets: (sets, o) => {
        if (first === 0) first = performance.now();
        return core.transformRecordSets(sets, o);
      },
      crc32c: core.crc32c,
    };
    const cfg = loadTransformerConfig({
      ...process.env,
      TRANSFORMER_INPUT_TOPICS: raw.join(','),
      TRANSFORMER_NORMALIZED_TOPIC: outputs[0],
      TRANSFORMER_DLQ_TOPIC: outputs[1],
      TRANSFORMER_GROUP_ID: `${out}group`,
      TRANSFORMER_METRICS_PORT: '0',
    });
    let fatal: Error | null = null;
    const t = createTransformer(cfg, timed, log, (err) => {
      fatal = err;
    });
    await t.start();
    const processed = () => raw.reduce((s, topic) => s + t.metrics.inputs.get({ topic }), 0);
    const deadline = Date.now() + 300_000;
    while (processed() < N) {
      if (fatal) throw new Error(`transformer ${arm.arm} stopped: ${(fatal as Error).message}`);
      if (Date.now() > deadline) throw new Error(`transformer ${arm.arm} processed ${processed()} of ${N}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const seconds = (performance.now() - first) / 1000;
    await withTimeout(t.stop(), 60_000, `transformer stop (${arm.arm})`);
    await admin.deleteGroups([cfg.groupId]).catch(() => undefined);
    return N / seconds;
  }

  // "The transformer on one core" (issue 5), as the edge bench pins the edge: this process (the transformer) on
  // core 0 and the local broker on core 1 for the throughput arms, so that they do not take turns on both cores.
  const pinning = latencyOnly ? null : pinForThroughput(brokerPid);
  try {
    for (const [i, arm] of order.entries()) {
      if (latencyOnly) break;
      const v = await throughputRun(arm, i);
      eps[arm.arm].push(v);
      console.log(`  run ${i + 1}/${order.length} ${arm.arm.padEnd(14)} ${v.toFixed(0)} events/s`);
    }
  } finally {
    pinning?.restore();
  }

  // Latency at half the edge's maximum: a paced producer in its own process (like the edge), the transformer and a
  // read-committed reader of payments.normalized here.
  const edge = edgeMaxRate();
  const rate = edge.rate > 0 ? Math.round(edge.rate / 2) : 1000;
  const seconds = opts.quick ? 3 : 10;

  interface LatencyRun {
    readonly p50: number;
    readonly p99: number;
    readonly n: number;
    /** The edge producer's acknowledgement (acks=all) after received-at: the edge's share. */
    readonly ackP50: number;
    readonly ackP99: number;
    /** received-at to the transformer's commit of the event's transaction (before the reader's fetch). */
    readonly committedP50: number;
    readonly committedP99: number;
    /** The transformer's event-loop delay over the run (ms). */
    readonly eldP99: number;
    readonly eldMax: number;
    /** Transaction (or at-least-once send + offset commit) duration per step, p50/p99 (ms). */
    readonly txnP50: number;
    readonly txnP99: number;
    readonly txns: number;
    /** CPU in cores over the paced run: transformer (this process), edge producer, reader, broker, whole machine. */
    readonly cpu: { transformer: number; loadgen: number; reader: number; broker: number; machine: number };
    /** Broker GC pauses during the run (from the GC log; null when it could not be enabled). */
    readonly gc: GcWindow | null;
  }

  /** Steady `rate` of raw events for `seconds`; latency = read-committed arrival in payments.normalized − received-at. */
  async function latencyRun(mode: 'exactly_once' | 'at_least_once', rate: number, run: number): Promise<LatencyRun> {
    const lat = `${prefix}lat-${mode}-${rate}-${run}.`;
    const latOut = [`${lat}payments.normalized`, `${lat}payments.validation.dlq`];
    const latRaw = `${lat}webhooks.stripe.payment_intent`;
    created.push(latRaw, ...latOut);
    await createTopicsAndWait(admin, [
      { topic: latRaw, numPartitions: 3 },
      { topic: latOut[0] as string, numPartitions: 3 },
      { topic: latOut[1] as string },
    ]);
    const t = createTransformer(
      loadTransformerConfig({
        ...process.env,
        TRANSFORMER_MODE: mode,
        TRANSFORMER_INPUT_TOPICS: latRaw,
        TRANSFORMER_NORMALIZED_TOPIC: latOut[0],
        TRANSFORMER_DLQ_TOPIC: latOut[1],
        TRANSFORMER_GROUP_ID: `${lat}group`,
        TRANSFORMER_METRICS_PORT: '0',
      }),
      native,
      log,
    );
    await t.start();
    const total = Math.round(rate * seconds);
    // The reader runs in its own process (its own event loop and core share, like a downstream consumer).
    let readerReady: () => void = () => undefined;
    const ready = new Promise<void>((r) => {
      readerReady = r;
    });
    const reader = spawnRole<ReaderResult>(
      'reader',
      {
        brokers,
        topic: latOut[0] as string,
        groupId: `${lat}reader`,
        total,
        maxWaitMs: READER_MAX_WAIT_MS,
        deadlineMs: seconds * 1000 + 90_000,
      },
      seconds * 1000 + 120_000,
      (line) => {
        if (line.includes('"ready"')) readerReady();
      },
    );
    await Promise.race([ready, reader]);
    await new Promise((r) => setTimeout(r, 2000)); // the transformer's group settles before timing
    const committed: number[] = [];
    const stopWatch = watchCommits(t, committed);
    const txn: number[] = [];
    const stopTxn = watchHistogram(t.metrics.commitSeconds, txn);
    const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
    const sys0 = cpuSnapshot(brokerPid);
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    const gcFrom = Date.now();
    eld.enable();
    const gen = await spawnRole<LoadGenResult>(
      'loadgen',
      { brokers, topic: latRaw, rate, total },
      seconds * 1000 + 60_000,
    );
    eld.disable();
    const sys1 = cpuSnapshot(brokerPid);
    const transformerCores = cpuCoresSince(cpu0, wall0);
    const gcTo = Date.now();
    const read = await reader;
    stopWatch();
    stopTxn();
    await withTimeout(t.stop(), 60_000, `transformer stop (${mode})`);
    await admin.deleteGroups([`${lat}group`, `${lat}reader`]).catch(() => undefined);
    if (read.seen < total) {
      throw new Error(`latency run ${mode}: ${read.seen} of ${total} events reached payments.normalized`);
    }
    return {
      p50: read.p50,
      p99: read.p99,
      n: total,
      ackP50: Math.round(gen.ackP50),
      ackP99: Math.round(gen.ackP99),
      committedP50: percentile(committed, 50),
      committedP99: percentile(committed, 99),
      // The histogram's samples include the sampling interval itself: subtract it to get the delay.
      eldP99: Math.max(0, Math.round(eld.percentile(99) / 1e6 - ELD_RESOLUTION_MS)),
      eldMax: Math.max(0, Math.round(eld.max / 1e6 - ELD_RESOLUTION_MS)),
      txnP50: percentile(txn, 50),
      txnP99: percentile(txn, 99),
      txns: txn.length,
      cpu: {
        transformer: round2(transformerCores),
        loadgen: round2(gen.cpuCores),
        reader: round2(read.cpuCores),
        broker: round2(cpuCores(sys0.broker, sys1.broker, sys1.at - sys0.at)),
        machine: round2(machineBusyCores(sys0, sys1)),
      },
      gc: gcLog ? gcLog.window(gcFrom, gcTo) : null,
    };
  }

  // Alternating rounds; each figure is the median over the rounds of that run's percentile.
  const ROUNDS = Number(process.env.BENCH_PIPELINE_LATENCY_ROUNDS ?? (opts.quick ? 1 : 3));
  const lat: Record<LatencyKey, LatencyRun[]> = { eos: [], alo: [], eosRef: [] };
  const ARMS_LAT = (
    [
      ['eos', 'exactly_once', rate],
      ['alo', 'at_least_once', rate],
      ['eosRef', 'exactly_once', REFERENCE_RATE],
    ] as const
  ).filter(([key]) => latencyKeys.includes(key));
  gcLog = brokerPid ? GcLog.enable(brokerPid) : null;
  if (!gcLog) console.log('  broker GC log: not enabled (no broker pid or jcmd failed); GC figures omitted');
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [key, mode, runRate] of ARMS_LAT) {
        const r = await latencyRun(mode, runRate, round);
        lat[key].push(r);
        const gc = r.gc ? `broker GC ${r.gc.pauses} pauses, max ${r.gc.maxMs} ms, sum ${r.gc.sumMs} ms` : 'no GC log';
        console.log(
          `  latency ${key} at ${runRate} events/s, round ${round + 1}/${ROUNDS}: p50 ${r.p50} ms, p99 ${r.p99} ms ` +
            `(edge ack p50/p99 ${r.ackP50}/${r.ackP99} ms, committed ${r.committedP50}/${r.committedP99} ms, ` +
            `txn ${r.txnP50}/${r.txnP99} ms x${r.txns}, transformer loop delay p99 ${r.eldP99} max ${r.eldMax} ms; ` +
            `CPU cores transformer ${r.cpu.transformer} edge ${r.cpu.loadgen} reader ${r.cpu.reader} ` +
            `broker ${r.cpu.broker} machine ${r.cpu.machine}/2; ${gc}; load ${loadavg()[0]?.toFixed(2)})`,
        );
      }
    }
  } finally {
    gcLog?.close();
  }
  await producer.disconnect();
  await admin.deleteTopics({ topics: created }).catch(() => undefined);
  await admin.disconnect();
  if (latencyOnly) return; // a diagnostic run: printed, not recorded
  const med = (key: LatencyKey, f: (r: LatencyRun) => number) => Math.round(median(lat[key].map(f)));
  const med2 = (key: LatencyKey, f: (r: LatencyRun) => number) => Number(median(lat[key].map(f)).toFixed(2));
  const eos = { p50: med('eos', (r) => r.p50), p99: med('eos', (r) => r.p99), n: (lat.eos[0] as LatencyRun).n };

  const nativeEps = median(eps.wire_native);
  const jsEps = median(eps.wire_js);
  const metrics: Metric[] = [
    { name: 'transformer_native_events_per_s', unit: 'events/s', value: Math.round(nativeEps) },
    { name: 'transformer_js_events_per_s', unit: 'events/s', value: Math.round(jsEps) },
    { name: 'throughput_pinned', unit: 'bool', value: pinning ? 1 : 0 },
    { name: 'latency_rate', unit: 'events/s', value: rate },
    { name: 'raw_to_normalized_p50_ms', unit: 'ms', value: eos.p50 },
    { name: 'raw_to_normalized_p99_ms', unit: 'ms', value: eos.p99 },
    { name: 'raw_to_normalized_at_least_once_p50_ms', unit: 'ms', value: med('alo', (r) => r.p50) },
    { name: 'raw_to_normalized_at_least_once_p99_ms', unit: 'ms', value: med('alo', (r) => r.p99) },
    { name: 'reference_rate', unit: 'events/s', value: REFERENCE_RATE },
    { name: 'raw_to_normalized_at_reference_rate_p50_ms', unit: 'ms', value: med('eosRef', (r) => r.p50) },
    { name: 'raw_to_normalized_at_reference_rate_p99_ms', unit: 'ms', value: med('eosRef', (r) => r.p99) },
    { name: 'raw_produce_ack_p50_ms', unit: 'ms', value: med('eos', (r) => r.ackP50) },
    { name: 'raw_produce_ack_p99_ms', unit: 'ms', value: med('eos', (r) => r.ackP99) },
    { name: 'raw_to_committed_p50_ms', unit: 'ms', value: med('eos', (r) => r.committedP50) },
    { name: 'raw_to_committed_p99_ms', unit: 'ms', value: med('eos', (r) => r.committedP99) },
    { name: 'transformer_event_loop_delay_p99_ms', unit: 'ms', value: med('eos', (r) => r.eldP99) },
    { name: 'transformer_event_loop_delay_max_ms', unit: 'ms', value: med('eos', (r) => r.eldMax) },
    { name: 'transaction_p50_ms', unit: 'ms', value: med('eos', (r) => r.txnP50) },
    { name: 'transaction_p99_ms', unit: 'ms', value: med('eos', (r) => r.txnP99) },
    { name: 'cpu_transformer_cores', unit: 'cores', value: med2('eos', (r) => r.cpu.transformer) },
    { name: 'cpu_edge_producer_cores', unit: 'cores', value: med2('eos', (r) => r.cpu.loadgen) },
    { name: 'cpu_reader_cores', unit: 'cores', value: med2('eos', (r) => r.cpu.reader) },
    { name: 'cpu_broker_cores', unit: 'cores', value: med2('eos', (r) => r.cpu.broker) },
    { name: 'cpu_machine_busy_cores', unit: 'cores of 2', value: med2('eos', (r) => r.cpu.machine) },
    ...(lat.eos.every((r) => r.gc)
      ? [
          { name: 'broker_gc_pauses_per_run', unit: 'count', value: med('eos', (r) => r.gc?.pauses ?? 0) },
          { name: 'broker_gc_pause_max_ms', unit: 'ms', value: med('eos', (r) => r.gc?.maxMs ?? 0) },
        ]
      : []),
    { name: 'latency_events_per_run', unit: 'events', value: eos.n },
    { name: 'latency_rounds', unit: 'count', value: ROUNDS },
    { name: 'load_average_1m_at_end', unit: 'load', value: Number(loadavg()[0]?.toFixed(2)) },
  ];
  const ratios: Ratio[] = [
    { name: 'transformer_native_vs_js', value: Number((nativeEps / jsEps).toFixed(2)), goal: 1 },
    { name: 'raw_to_normalized_p99_ms_at_half_edge_max', value: eos.p99, goal: 50, lowerIsBetter: true },
  ];
  if (edge.rate > 0) {
    metrics.push({ name: `edge_max_rate (${edge.source})`, unit: 'events/s', value: edge.rate });
    ratios.unshift({
      name: 'transformer_vs_edge_events_per_s',
      value: Number((nativeEps / edge.rate).toFixed(2)),
      goal: 2,
    });
  } else {
    console.log('  bench/results/edge.json absent: transformer_vs_edge_events_per_s not computed');
  }
  for (const m of metrics) console.log(`  ${m.name}: ${m.value} ${m.unit}`);
  writeResult('pipeline', metrics, ratios);
}

type LatencyKey = 'eos' | 'alo' | 'eosRef';

const round2 = (v: number) => Number(v.toFixed(2));
/** Sampling interval of the transformer's event-loop delay histogram (ms). */
const ELD_RESOLUTION_MS = 5;

/** Collects a histogram's observations (ms) while installed; returns the uninstaller. */
function watchHistogram(h: { observe(seconds: number): void }, out: number[]): () => void {
  const observe = h.observe.bind(h);
  h.observe = (seconds: number) => {
    out.push(Math.round(seconds * 1000));
    observe(seconds);
  };
  return () => {
    h.observe = observe;
  };
}

/** Cores of the throughput arms: the transformer (this process) and the broker. */
const TRANSFORMER_CORE = '0';
const BROKER_CORE = '1';

/**
 * Pins this process to TRANSFORMER_CORE and every thread of the local broker to BROKER_CORE (taskset, Linux, needs
 * two cores and a broker started by the stack); `restore()` gives both all cores back. Null when pinning is not
 * possible: the throughput arms then run unpinned and the result says so (`throughput_pinned` 0).
 */
function pinForThroughput(brokerPid: number | null): { restore: () => void } | null {
  if (brokerPid === null || cpus().length < 2) return null;
  const all = `0-${cpus().length - 1}`;
  const set = (pid: number, cores: string) =>
    execFileSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { stdio: 'ignore' });
  try {
    set(process.pid, TRANSFORMER_CORE);
    set(brokerPid, BROKER_CORE);
  } catch (err) {
    console.log(`  throughput arms unpinned (taskset: ${(err as Error).message})`);
    try {
      set(process.pid, all);
    } catch {
      // nothing pinned
    }
    return null;
  }
  console.log(
    `  throughput arms: transformer on core ${TRANSFORMER_CORE}, broker (pid ${brokerPid}) on core ${BROKER_CORE}`,
  );
  return {
    restore: () => {
      for (const pid of [process.pid, brokerPid]) {
        try {
          set(pid, all);
        } catch {
          // the broker may have exited; nothing else to give back
        }
      }
    },
  };
}

/** The broker's pid as the stack recorded it (null when absent or not running). */
function kafkaPid(): number | null {
  try {
    const pid = Number(readFileSync(pidFile('kafka'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}/stat`) ? pid : null;
  } catch {
    return null;
  }
}

interface CpuSnapshot {
  readonly at: number;
  /** Jiffies (1/100 s) of the whole machine: busy and total. */
  readonly busy: number;
  readonly total: number;
  /** The broker's user + system jiffies. */
  readonly broker: number;
}

function cpuSnapshot(brokerPid: number | null): CpuSnapshot {
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).trim().split(/\s+/).slice(1).map(Number);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  let broker = 0;
  if (brokerPid) {
    try {
      const stat = readFileSync(`/proc/${brokerPid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      broker = Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch {
      broker = 0;
    }
  }
  return { at: performance.now(), busy: total - idle, total, broker };
}

/** Jiffies used over a wall interval, in cores. */
const cpuCores = (j0: number, j1: number, wallMs: number) => (j1 - j0) / 100 / Math.max(0.001, wallMs / 1000);

/** Busy cores of the whole machine between two snapshots (2 on this machine = saturated). */
const machineBusyCores = (a: CpuSnapshot, b: CpuSnapshot) =>
  ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * cpus().length;

interface GcWindow {
  readonly pauses: number;
  readonly maxMs: number;
  readonly sumMs: number;
}

/**
 * The broker's GC log for the latency phase, switched on at runtime with `jcmd <pid> VM.log` (gc=info into a file of
 * our own, utctime decorations) and switched off again at the end, so the running broker need not restart with
 * -Xlog:gc. `window` counts the stop-the-world pauses logged between two instants.
 */
class GcLog {
  private constructor(
    private readonly pid: number,
    private readonly file: string,
  ) {}

  static enable(pid: number): GcLog | null {
    const file = join(tmpdir(), `pep-bench-kafka-gc-${process.pid}.log`);
    try {
      execFileSync('jcmd', [String(pid), 'VM.log', `output=file=${file}`, 'what=gc=info', 'decorators=utctime'], {
        stdio: 'ignore',
        timeout: 30_000,
      });
      return new GcLog(pid, file);
    } catch {
      return null;
    }
  }

  window(fromMs: number, toMs: number): GcWindow {
    let text = '';
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return { pauses: 0, maxMs: 0, sumMs: 0 };
    }
    const pauses: number[] = [];
    // [2026-11-26T20:10:00.123+0000] GC(12) Pause Young (Normal) (G1 Evacuation Pause) 200M->50M(768M) 5.123ms
    for (const m of text.matchAll(/^\[([^\]]+)\] GC\(\d+\) Pause .* ([\d.]+)ms$/gm)) {
      const at = Date.parse((m[1] as string).replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
      if (at >= fromMs && at <= toMs) pauses.push(Number(m[2]));
    }
    return {
      pauses: pauses.length,
      maxMs: round2(Math.max(0, ...pauses)),
      sumMs: round2(pauses.reduce((a, b) => a + b, 0)),
    };
  }

  close(): void {
    try {
      execFileSync('jcmd', [String(this.pid), 'VM.log', `output=file=${this.file}`, 'what=all=off'], {
        stdio: 'ignore',
        timeout: 30_000,
      });
    } catch {
      // The broker may have gone; nothing to switch off then.
    }
    // The JVM drops an output whose tags are all off, so the broker's log configuration is as before.
    if (!process.env.BENCH_PIPELINE_KEEP_GC_LOG) rmSync(this.file, { force: true });
  }
}

const role = process.env[ROLE_ENV];
if (role && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const spec = JSON.parse(process.env[SPEC_ENV] as string);
  (role === 'reader' ? readerMain(spec as ReaderSpec) : loadGenMain(spec as LoadGenSpec)).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      console.error(`${role} failed`, err);
      process.exit(1);
    },
  );
}
