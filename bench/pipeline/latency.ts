/**
 * The latency arm of the pipeline bench: raw → payments.normalized (read committed) at a steady rate, measured on the
 * system, not the harness, in three processes as in production:
 * - the raw events come from the edge's own producer path (GroupCommitProducer + kafka-wire's IdempotentProducer with
 *   the edge's default limits and raw headers) in a child process (`loadgen`), paced every millisecond. When the
 *   edge's producer refuses an event (its in-flight bound is reached, or Kafka did not acknowledge a batch) the edge
 *   answers 503 with Retry-After; the load generator does what a provider does: it sends the event again after that
 *   delay (a new delivery, stamped again), and counts it. Backpressure is a figure of the run, never a crash;
 * - the transformer runs in the bench process;
 * - a read-committed reader on kafka-wire's GroupConsumer (decoding only the received-at header) runs in another
 *   child (`reader`): latency = the arrival of the fetch that carried a record − its received-at.
 * The breakdown per run: the edge's produce acknowledgement, received-at → the transformer's commit, the transaction
 * time, the transformer's event-loop delay, CPU per process and of the whole machine, the broker's GC pauses (its GC
 * log switched on at runtime with jcmd VM.log, off again after).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RAW_HEADERS } from '@pep/contracts';
import { createLogger } from '@pep/contracts/log';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import { KafkaCluster } from '@pep/kafka-wire/cluster';
import { GroupConsumer } from '@pep/kafka-wire/consumer';
import { type AbortedTransactionRef, forEachCommittedRecord } from '@pep/kafka-wire/record-batch';
import { loadTransformerConfig } from '@pep/pipeline/config';
import { createTransformer, type TransformerCore, type WireTransformer } from '@pep/pipeline/transformer';
import { REPO_ROOT } from '@pep/stack/paths';
import type { Admin } from 'kafkajs';
import { benchWebhookBody } from '../edge/load-generator.ts';
import { percentile, withTimeout } from '../src/result.ts';
import { BENCH_TOPIC_CONFIG, machineTicks, processCpuMs } from './throughput.ts';

const log = createLogger('error', { service: 'bench-pipeline' }, (line) => process.stderr.write(`${line}\n`));

interface LoadGenSpec {
  readonly brokers: readonly string[];
  readonly topic: string;
  /** events/s */
  readonly rate: number;
  readonly total: number;
  /** Give up on events still refused this long after the last one was due (ms). */
  readonly drainMs: number;
}

export interface LoadGenResult {
  /** Events acknowledged (each once, whatever its number of deliveries). */
  readonly acknowledged: number;
  readonly total: number;
  readonly ackP50: number;
  readonly ackP99: number;
  /** Deliveries answered 503 (the edge's in-flight bound or a failed Kafka batch), each sent again after Retry-After. */
  readonly backpressure503: number;
  /** Of those, refused by the in-flight bound (the rest: Kafka did not acknowledge the batch). */
  readonly overloaded503: number;
  /** Events never acknowledged before the drain deadline, and the first reason. */
  readonly unacknowledged: number;
  readonly firstError: string;
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
/** The reader's Fetch max wait (ms): the transformer's default, so the reader adds what a downstream consumer would. */
const READER_MAX_WAIT_MS = Number(process.env.BENCH_PIPELINE_READER_MAX_WAIT_MS ?? 20);

/** The edge bench's ~1 KiB Stripe event with a unique event id per call, from one template (no JSON work per event). */
function eventTemplate(): (i: number) => Buffer {
  const doc = JSON.parse(benchWebhookBody()) as { id: string };
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
 * (linger, batch bounds, in-flight bounds, concurrent batches from the edge's config defaults) over kafka-wire's
 * IdempotentProducer (idempotent sessions, acks=all). Every millisecond it "receives" the events due by then, stamps
 * each with the edge's raw headers (received-at as the edge writes it) and enqueues it; an event's ack latency is
 * enqueue → acknowledged, what the edge's HTTP answer waits for. A refused enqueue is the edge's 503 + Retry-After:
 * the event is delivered again after EDGE_RETRY_AFTER_S (counted), until `drainMs` after the last one was due.
 */
async function loadGenMain(spec: LoadGenSpec): Promise<LoadGenResult> {
  const { loadConfig } = await import('@pep/edge/config');
  const { IdempotentProducer } = await import('@pep/kafka-wire/idempotent-producer');
  const { GroupCommitProducer, OverloadedError } = await import('@pep/edge/producer');
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
  const retryAfterMs = edgeCfg.limits.retryAfterSeconds * 1000;
  const body = eventTemplate();
  const acks: number[] = [];
  let acknowledged = 0;
  let backpressure503 = 0;
  let overloaded503 = 0;
  let firstError = '';
  let sent = 0;
  let isoMs = 0;
  let iso = '';
  let giveUpAt = Number.POSITIVE_INFINITY;
  /** Deliveries waiting for their Retry-After, and events abandoned at the drain deadline. */
  const retries = new Set<NodeJS.Timeout>();
  let unacknowledged = 0;
  let settle: () => void = () => undefined;
  const allSettled = new Promise<void>((r) => {
    settle = r;
  });
  let open = 0;
  const done = () => {
    if (--open === 0 && sent >= spec.total) settle();
  };
  const deliver = (n: number) => {
    const created = performance.now();
    const ms = Date.now();
    if (ms !== isoMs) {
      isoMs = ms;
      iso = new Date(ms).toISOString();
    }
    const eventId = `evt_bench_${1_000_000 + n}`;
    producer
      .enqueue({
        topic: spec.topic,
        key: eventId,
        value: body(1_000_000 + n),
        headers: {
          [RAW_HEADERS.receivedAt]: iso,
          [RAW_HEADERS.requestId]: `bench-${n}`,
          [RAW_HEADERS.provider]: 'stripe',
          [RAW_HEADERS.contentType]: 'application/json',
          [RAW_HEADERS.eventId]: eventId,
          [RAW_HEADERS.eventType]: 'payment_intent.succeeded',
        },
      })
      .then(
        () => {
          acks.push(performance.now() - created);
          acknowledged++;
          done();
        },
        (err: Error) => {
          // The edge answers this 503 with Retry-After: the provider delivers the event again after the delay.
          backpressure503++;
          if (err instanceof OverloadedError) overloaded503++;
          firstError ||= err.message;
          if (performance.now() + retryAfterMs > giveUpAt) {
            unacknowledged++;
            done();
            return;
          }
          const timer = setTimeout(() => {
            retries.delete(timer);
            deliver(n);
          }, retryAfterMs);
          retries.add(timer);
        },
      );
  };
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  while (sent < spec.total) {
    const due = Math.min(spec.total, Math.ceil(((performance.now() - wall0) / 1000) * spec.rate));
    for (; sent < due; sent++) {
      open++;
      deliver(sent);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  giveUpAt = performance.now() + spec.drainMs;
  if (open > 0) await allSettled;
  const cpuCores = cpuCoresSince(cpu0, wall0);
  for (const t of retries) clearTimeout(t);
  await producer.drain(10_000);
  await sink.close();
  return {
    acknowledged,
    total: spec.total,
    ackP50: acks.length ? percentile(acks, 50) : Number.NaN,
    ackP99: acks.length ? percentile(acks, 99) : Number.NaN,
    backpressure503,
    overloaded503,
    unacknowledged,
    firstError,
    cpuCores,
  };
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
 * downstream consumer): latency = arrival of the fetch that carried the record − its received-at header. Stops at
 * `total` records or at its deadline (then `seen` says how many arrived).
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
  return {
    seen: lat.length,
    p50: lat.length ? percentile(lat, 50) : Number.NaN,
    p99: lat.length ? percentile(lat, 99) : Number.NaN,
    cpuCores,
    fetches,
  };
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

/** Collects received-at → committed (ms) of every event the transformer commits, from its end-to-end histogram. */
const watchCommits = (t: WireTransformer, out: number[]): (() => void) =>
  watchHistogram(t.metrics.endToEndSeconds, out);

export const round2 = (v: number) => Number(v.toFixed(2));
/** Sampling interval of the transformer's event-loop delay histogram (ms). */
const ELD_RESOLUTION_MS = 5;

export interface LatencyRun {
  /** False when not every event reached payments.normalized (then `why` says what happened; p50/p99 cover what did). */
  readonly complete: boolean;
  readonly why: string;
  readonly p50: number;
  readonly p99: number;
  readonly n: number;
  readonly seen: number;
  /** The edge producer's acknowledgement (acks=all) after received-at: the edge's share. */
  readonly ackP50: number;
  readonly ackP99: number;
  /** Deliveries the edge would have answered 503 + Retry-After (sent again after the delay). */
  readonly backpressure503: number;
  /**
   * received-at to the end of the transformer's core call on the fetch that carried the event: the raw topic's share
   * (the transformer's fetch wait and min bytes, and, with prefetch, the wait for the previous transaction to end).
   */
  readonly transformedP50: number;
  readonly transformedP99: number;
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

export interface LatencyContext {
  readonly admin: Admin;
  readonly brokers: readonly string[];
  readonly prefix: string;
  readonly core: TransformerCore;
  readonly brokerPid: number | null;
  readonly gcLog: GcLog | null;
  readonly seconds: number;
  /** Topics this run creates are added here (the bench deletes them at the end). */
  readonly created: string[];
}

/** Steady `rate` of raw events for `seconds`; latency = read-committed arrival in payments.normalized − received-at. */
export async function latencyRun(
  ctx: LatencyContext,
  mode: 'exactly_once' | 'at_least_once',
  rate: number,
  run: number,
): Promise<LatencyRun> {
  const { admin, brokers, seconds } = ctx;
  const lat = `${ctx.prefix}lat-${mode}-${rate}-${run}.`;
  const latOut = [`${lat}payments.normalized`, `${lat}payments.validation.dlq`];
  const latRaw = `${lat}webhooks.stripe.payment_intent`;
  ctx.created.push(latRaw, ...latOut);
  await createTopicsAndWait(admin, [
    { topic: latRaw, numPartitions: 3, configEntries: BENCH_TOPIC_CONFIG },
    { topic: latOut[0] as string, numPartitions: 3, configEntries: BENCH_TOPIC_CONFIG },
    { topic: latOut[1] as string, configEntries: BENCH_TOPIC_CONFIG },
  ]);
  // The core, watched: received-at → transformed of every event while `transformed` is set (bench only).
  let transformed: number[] | null = null;
  const core: TransformerCore = Object.assign(Object.create(ctx.core) as TransformerCore, {
    transformRecordSets: (...args: Parameters<TransformerCore['transformRecordSets']>) => {
      const out = ctx.core.transformRecordSets(...args);
      if (transformed) {
        const now = Date.now();
        for (const r of out.receivedAtMs) if (!Number.isNaN(r)) transformed.push(now - r);
      }
      return out;
    },
  });
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
    core,
    log,
  );
  await t.start();
  const total = Math.round(rate * seconds);
  const drainMs = 30_000;
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
      deadlineMs: seconds * 1000 + drainMs + 60_000,
    },
    seconds * 1000 + drainMs + 120_000,
    (line) => {
      if (line.includes('"ready"')) readerReady();
    },
  );
  try {
    await Promise.race([ready, reader]);
    await new Promise((r) => setTimeout(r, 2000)); // the transformer's group settles before timing
    const committed: number[] = [];
    const stopWatch = watchCommits(t, committed);
    const fetched: number[] = [];
    transformed = fetched;
    const txn: number[] = [];
    const stopTxn = watchHistogram(t.metrics.commitSeconds, txn);
    const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
    const broker0 = processCpuMs(ctx.brokerPid);
    const machine0 = machineTicks();
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    const gcFrom = Date.now();
    eld.enable();
    const gen = await spawnRole<LoadGenResult>(
      'loadgen',
      { brokers, topic: latRaw, rate, total, drainMs },
      seconds * 1000 + drainMs + 60_000,
    );
    eld.disable();
    const wallMs = performance.now() - wall0;
    const broker1 = processCpuMs(ctx.brokerPid);
    const machine1 = machineTicks();
    const transformerCores = cpuCoresSince(cpu0, wall0);
    const gcTo = Date.now();
    // Only the acknowledged events can arrive; the reader may stop early then.
    const read = await reader;
    stopWatch();
    stopTxn();
    transformed = null;
    const why =
      gen.unacknowledged > 0
        ? `${gen.unacknowledged} of ${total} events were refused (503) until the drain deadline (first: ${gen.firstError})`
        : read.seen < total
          ? `${read.seen} of ${total} events reached payments.normalized before the reader's deadline`
          : '';
    return {
      complete: why === '',
      why,
      p50: read.p50,
      p99: read.p99,
      n: total,
      seen: read.seen,
      ackP50: Math.round(gen.ackP50),
      ackP99: Math.round(gen.ackP99),
      backpressure503: gen.backpressure503,
      transformedP50: fetched.length ? percentile(fetched, 50) : Number.NaN,
      transformedP99: fetched.length ? percentile(fetched, 99) : Number.NaN,
      committedP50: committed.length ? percentile(committed, 50) : Number.NaN,
      committedP99: committed.length ? percentile(committed, 99) : Number.NaN,
      // The histogram's samples include the sampling interval itself: subtract it to get the delay.
      eldP99: Math.max(0, Math.round(eld.percentile(99) / 1e6 - ELD_RESOLUTION_MS)),
      eldMax: Math.max(0, Math.round(eld.max / 1e6 - ELD_RESOLUTION_MS)),
      txnP50: txn.length ? percentile(txn, 50) : Number.NaN,
      txnP99: txn.length ? percentile(txn, 99) : Number.NaN,
      txns: txn.length,
      cpu: {
        transformer: round2(transformerCores),
        loadgen: round2(gen.cpuCores),
        reader: round2(read.cpuCores),
        broker: round2((broker1 - broker0) / Math.max(1, wallMs)),
        machine: round2(
          ((machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total)) * cpus().length,
        ),
      },
      gc: ctx.gcLog ? ctx.gcLog.window(gcFrom, gcTo) : null,
    };
  } finally {
    await withTimeout(t.stop(), 60_000, `transformer stop (${mode})`).catch((err: unknown) =>
      log.error('transformer stop failed', { err }),
    );
    await reader.catch(() => undefined);
    await admin.deleteGroups([`${lat}group`, `${lat}reader`]).catch(() => undefined);
  }
}

export interface GcWindow {
  readonly pauses: number;
  readonly maxMs: number;
  readonly sumMs: number;
}

/**
 * The broker's GC log for the latency phase, switched on at runtime with `jcmd <pid> VM.log` (gc=info into a file of
 * our own, utctime decorations) and switched off again at the end, so the running broker need not restart with
 * -Xlog:gc. `window` counts the stop-the-world pauses logged between two instants.
 */
export class GcLog {
  private constructor(
    private readonly pid: number,
    private readonly file: string,
  ) {}

  static enable(pid: number): GcLog | null {
    const file = join(tmpdir(), `pep-bench-kafka-gc-${process.pid}.log`);
    try {
      // gc+phases: ZGC logs its (sub-millisecond) pauses there, G1 its pauses under gc.
      execFileSync(
        'jcmd',
        [String(pid), 'VM.log', `output=file=${file}`, 'what=gc=info,gc+phases=info', 'decorators=utctime'],
        {
          stdio: 'ignore',
          timeout: 30_000,
        },
      );
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
    // G1:  [2026-11-26T20:10:00.123+0000] GC(12) Pause Young (Normal) (G1 Evacuation Pause) 200M->50M(768M) 5.123ms
    // ZGC: [2026-12-06T10:10:00.123+0000] GC(12) y: Pause Mark Start 0.012ms
    for (const m of text.matchAll(/^\[([^\]]+)\] GC\(\d+\) (?:[YyOo]: )?Pause .* ([\d.]+)ms$/gm)) {
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
