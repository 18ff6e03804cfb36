/**
 * The transformer's throughput arm of the pipeline bench, and its CPU and wall-time breakdown. A backlog of raw events
 * (the fixtures of all four providers, realistic 0.6-2.2 KB payloads) is written once; each run starts a transformer
 * with a fresh consumer group and fresh output topics, and it drains the whole backlog at full speed. Measured per
 * run, over the window from its first transform call to the commit that completes the backlog:
 * - events/s (wall);
 * - this process's CPU per event (the transformer runs here), and per stage of its loop from the transformer's stage
 *   timeline (pipeline/src/transformer/stages.ts): fetch + decode, transform (native), prepare, the transaction's
 *   round trips, produce encoding, offset commit, bookkeeping; wall minus CPU per stage is the time it waited;
 * - the broker's CPU per event (/proc/<pid>/stat of the stack's broker) and the machine's busy cores;
 * - GC pauses of this process (perf_hooks 'gc' entries);
 * - bytes fetched against bytes consumed (a fetch larger than one transform call is fetched again).
 *
 * Also a command for diagnosis, one run per invocation (the backlog is written once and kept between invocations
 * when BENCH_PIPELINE_BACKLOG_PREFIX names it):
 *   node --import tsx bench/pipeline/throughput.ts [events=100000] [--mixed] [--pin] [--runs n] [--env K=V ...]
 */
import '@pep/contracts/kafkajs-read-committed';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { RAW_HEADERS } from '@pep/contracts';
import { createLogger } from '@pep/contracts/log';
import type { CoreImpl, FetchedRecordSet } from '@pep/core-native';
import { loadTransformerConfig } from '@pep/pipeline/config';
import { createTransformer, type TransformerCore } from '@pep/pipeline/transformer';
import { StageTimeline, type TimelineSnapshot } from '@pep/pipeline/transformer/stages';
import { pidFile } from '@pep/stack/paths';
import type { Admin } from 'kafkajs';

import { benchWebhookBody } from '../edge/load-generator.ts';
import { type OutRecord, produceBacklog } from '../src/backlog.ts';

const log = createLogger('error', { service: 'bench-pipeline' }, (line) => process.stderr.write(`${line}\n`));

const PAYLOADS = dirname(
  fileURLToPath(import.meta.resolve('@pep/core-native/fixtures/payloads/adyen_notification.json')),
);
export const TOPIC_OF: Record<string, string> = {
  stripe: 'webhooks.stripe.payment_intent',
  square: 'webhooks.square.payment',
  adyen: 'webhooks.adyen.notification',
  braintree: 'webhooks.braintree.notification',
};

export interface Fixture {
  readonly provider: string;
  readonly body: string;
}

export function fixtures(): Fixture[] {
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

/**
 * What the backlog holds:
 * - `edge`: the edge benchmark's ~1 KiB Stripe payment_intent.succeeded (bench/edge/load-generator.ts), each with its
 *   own event id, key and the edge's raw headers, in webhooks.stripe.payment_intent: the events the edge's maximum
 *   rate was measured on, so that transformer_vs_edge compares the same work;
 * - `mixed`: the fixtures of all four providers round-robin (0.6-2.2 KB; an Adyen notification has 3 items, so 3
 *   outputs), with a received-at header: the heavier, more realistic mix (about 3× the native cost per event).
 */
export type Workload = 'edge' | 'mixed';

/** The edge bench's event with a unique id: head + id + tail, no JSON work per event. */
function edgeEventTemplate(): (id: string) => Buffer {
  const doc = JSON.parse(benchWebhookBody()) as { id: string };
  doc.id = '__EVENT_ID__';
  const [head, tail] = JSON.stringify(doc).split('"__EVENT_ID__"') as [string, string];
  return (id) => Buffer.from(`${head}"${id}"${tail}`, 'utf8');
}

/** The raw topics a workload's backlog uses (with `prefix`). */
export function workloadTopics(workload: Workload, prefix: string): string[] {
  return workload === 'edge' ? [prefix + TOPIC_OF.stripe] : Object.values(TOPIC_OF).map((t) => prefix + t);
}

/**
 * Writes `n` raw events of `workload` into its raw topics (which must exist) through kafka-wire's idempotent
 * producer (acks=all), `batch` events per produce call as the edge's group commit does at a high rate. Returns the
 * bytes of the values.
 */
export async function writeBacklog(
  brokers: readonly string[],
  prefix: string,
  n: number,
  workload: Workload = 'mixed',
  batchSize = 100,
): Promise<number> {
  const fx = fixtures();
  if (fx.length === 0) throw new Error(`no payload fixtures under ${PAYLOADS}`);
  const edgeEvent = edgeEventTemplate();
  const edgeTopic = prefix + TOPIC_OF.stripe;
  const receivedAt = new Date().toISOString();
  const record = (j: number): OutRecord => {
    if (workload === 'edge') {
      const id = `evt_bench_${j}`;
      return {
        topic: edgeTopic,
        key: id,
        value: edgeEvent(id),
        headers: {
          [RAW_HEADERS.receivedAt]: receivedAt,
          [RAW_HEADERS.requestId]: `bench-${j}`,
          [RAW_HEADERS.provider]: 'stripe',
          [RAW_HEADERS.contentType]: 'application/json',
          [RAW_HEADERS.eventId]: id,
          [RAW_HEADERS.eventType]: 'payment_intent.succeeded',
        },
      };
    }
    const f = fx[j % fx.length] as Fixture;
    return {
      topic: prefix + TOPIC_OF[f.provider],
      key: `k${j}`,
      value: Buffer.from(variant(f, j), 'utf8'),
      headers: { [RAW_HEADERS.receivedAt]: receivedAt },
    };
  };
  let bytes = 0;
  function* batches(): Generator<OutRecord[]> {
    for (let i = 0; i < n; i += batchSize) {
      const batch: OutRecord[] = [];
      for (let j = i; j < Math.min(n, i + batchSize); j++) {
        const r = record(j);
        bytes += r.value.length;
        batch.push(r);
      }
      yield batch;
    }
  }
  await produceBacklog(brokers, 'bench-pipeline-backlog', batches(), log);
  return bytes;
}

/** Bench topics are bounded: small segments, and deleted after use. */
export const BENCH_TOPIC_CONFIG = [
  { name: 'retention.bytes', value: String(1 << 30) },
  { name: 'segment.bytes', value: String(64 << 20) },
];

export interface ThroughputRun {
  readonly label: string;
  readonly pinned: boolean;
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerS: number;
  /** This process (the transformer) CPU per event, µs. */
  readonly cpuUsPerEvent: number;
  /** The broker's CPU per event, µs (NaN without a broker pid), every thread. */
  readonly brokerCpuUsPerEvent: number;
  /** The broker's CPU per event without its JIT compiler threads (what stays once the broker is warm). */
  readonly brokerWarmCpuUsPerEvent: number;
  /** The broker's GC threads' CPU per event (included in both figures above). */
  readonly brokerGcCpuUsPerEvent: number;
  /** Busy cores of the whole machine over the run (of cpus().length). */
  readonly machineBusyCores: number;
  readonly gcPauseMs: number;
  readonly gcPauses: number;
  /** GC pauses by kind (scavenge: young generation; mark-sweep: full; incremental: marking steps; weak callbacks). */
  readonly gcByKind: Readonly<Record<string, { n: number; ms: number }>>;
  readonly transactions: number;
  readonly fetchedBytes: number;
  readonly consumedBytes: number;
  readonly stages: TimelineSnapshot;
}

/** The broker's pid as the stack recorded it (null when absent or not running). */
export function kafkaPid(): number | null {
  try {
    const pid = Number(readFileSync(pidFile('kafka'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}/stat`) ? pid : null;
  } catch {
    return null;
  }
}

/** A process's user + system CPU in ms (/proc/<pid>/stat, 10 ms resolution); NaN when unreadable. */
export function processCpuMs(pid: number | null): number {
  if (pid === null) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // utime, stime (fields 14 and 15) in jiffies of 10 ms
  } catch {
    return Number.NaN;
  }
}

export interface JvmCpuMs {
  /** Every thread. */
  readonly total: number;
  /** The JIT compiler threads (C1/C2): warm-up, not per-event work; falls as the broker's code gets compiled. */
  readonly jit: number;
  /** Garbage-collector threads (G1: `GC Thread#n`, `G1 …`; ZGC: `ZWorkerYoung#n`, `ZDriverMinor`, …). */
  readonly gc: number;
}

/** A JVM's CPU split by thread kind (/proc/<pid>/task/*: stat and comm, 10 ms resolution); NaNs when unreadable. */
export function jvmCpuMs(pid: number | null): JvmCpuMs {
  if (pid === null) return { total: Number.NaN, jit: Number.NaN, gc: Number.NaN };
  const out = { total: 0, jit: 0, gc: 0 };
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { total: Number.NaN, jit: Number.NaN, gc: Number.NaN };
  }
  for (const task of tasks) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      const name = readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(f[11]) + Number(f[12])) * 10;
      out.total += ms;
      if (/Compiler/.test(name)) out.jit += ms;
      else if (/^(GC Thread|G1 |Z[A-Z][a-z])/.test(name)) out.gc += ms;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** Busy and total jiffies of the whole machine. */
export function machineTicks(): { busy: number; total: number } {
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).trim().split(/\s+/).slice(1).map(Number);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** perf_hooks' NODE_PERFORMANCE_GC_* kinds. */
const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** Cores of the throughput arms: the transformer (this process) and the broker. */
export const TRANSFORMER_CORE = '0';
export const BROKER_CORE = '1';

/**
 * Pins this process to TRANSFORMER_CORE and every thread of the broker to BROKER_CORE (taskset, Linux, two cores or
 * more); `restore()` gives both every core back. Null when pinning is not possible (the run is then unpinned).
 */
export function pinForThroughput(brokerPid: number | null): { restore: () => void } | null {
  if (brokerPid === null || cpus().length < 2) return null;
  const all = `0-${cpus().length - 1}`;
  const set = (pid: number, cores: string) =>
    execFileSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { stdio: 'ignore' });
  try {
    set(process.pid, TRANSFORMER_CORE);
    set(brokerPid, BROKER_CORE);
  } catch (err) {
    console.log(`  could not pin (taskset: ${(err as Error).message}); the run is unpinned`);
    try {
      set(process.pid, all);
    } catch {
      // nothing pinned
    }
    return null;
  }
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

export interface ThroughputOptions {
  readonly label: string;
  readonly admin: Admin;
  readonly brokers: readonly string[];
  /** The backlog's raw topics (with their prefix). */
  readonly rawTopics: readonly string[];
  /** Events in the backlog: the run ends when the transformer committed them all. */
  readonly events: number;
  /** Prefix of this run's output topics and group. */
  readonly outPrefix: string;
  readonly core: TransformerCore;
  readonly pin: boolean;
  readonly brokerPid: number | null;
  /** Extra transformer environment (TRANSFORMER_*). */
  readonly env?: Readonly<Record<string, string>>;
  readonly normalizedPartitions?: number;
  readonly deadlineMs?: number;
}

/** One drain of the backlog by a fresh transformer (see the module comment). */
export async function throughputRun(o: ThroughputOptions): Promise<ThroughputRun> {
  const outputs = [`${o.outPrefix}payments.normalized`, `${o.outPrefix}payments.validation.dlq`];
  const { createTopicsAndWait } = await import('@pep/kafka-wire/admin');
  await createTopicsAndWait(o.admin, [
    { topic: outputs[0] as string, numPartitions: o.normalizedPartitions ?? 3, configEntries: BENCH_TOPIC_CONFIG },
    { topic: outputs[1] as string, numPartitions: 1, configEntries: BENCH_TOPIC_CONFIG },
  ]);
  const cfg = loadTransformerConfig({
    ...process.env,
    ...o.env,
    TRANSFORMER_INPUT_TOPICS: o.rawTopics.join(','),
    TRANSFORMER_NORMALIZED_TOPIC: outputs[0],
    TRANSFORMER_DLQ_TOPIC: outputs[1],
    TRANSFORMER_GROUP_ID: `${o.outPrefix}group`,
    TRANSFORMER_METRICS_PORT: '0',
  });
  let fetchedBytes = 0;
  let consumedBytes = 0;
  let started = false;
  const transform = o.core.transformRecordSets;
  // Counts what each call was given against what it consumed: a fetch bigger than one call is fetched again.
  const counted: TransformerCore = {
    kind: o.core.kind,
    crc32c: o.core.crc32c as CoreImpl['crc32c'],
    transformRecordSets: (sets: readonly FetchedRecordSet[], opts) => {
      const out = transform(sets, opts);
      if (started) {
        for (let i = 0; i < sets.length; i++) {
          const s = sets[i] as FetchedRecordSet;
          fetchedBytes += s.records.length;
          if ((out.consumed[i] as number) > 0) consumedBytes += s.records.length; // upper bound of the consumed part
        }
      }
      return out;
    },
  };
  const timeline = new StageTimeline();
  interface WindowStart {
    cpu0: NodeJS.CpuUsage;
    wall0: number;
    broker0: JvmCpuMs;
    machine0: { busy: number; total: number };
    inputs0: number;
  }
  interface WindowEnd {
    wall: number;
    cpu: NodeJS.CpuUsage;
    broker: JvmCpuMs;
    machine: { busy: number; total: number };
  }
  const win: { start: WindowStart | null; end: WindowEnd | null } = { start: null, end: null };
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  let t: ReturnType<typeof createTransformer> | null = null;
  const processed = () => (t ? o.rawTopics.reduce((s, topic) => s + (t?.metrics.inputs.get({ topic }) ?? 0), 0) : 0);
  // The hook that opens the window at the first transform call and closes it at the first loop turn after the
  // commit that completed the backlog (exact, no polling).
  const hook = {
    enter(stage: string) {
      if (stage === 'transform' && win.start === null) {
        timeline.reset();
        started = true;
        win.start = {
          cpu0: process.cpuUsage(),
          wall0: performance.now(),
          broker0: jvmCpuMs(o.brokerPid),
          machine0: machineTicks(),
          inputs0: processed(),
        };
      }
      timeline.enter(stage);
      if (stage === 'other' && win.start !== null && win.end === null && processed() >= o.events) {
        win.end = {
          wall: performance.now(),
          cpu: process.cpuUsage(win.start.cpu0),
          broker: jvmCpuMs(o.brokerPid),
          machine: machineTicks(),
        };
        timeline.pause();
        resolveDone();
      }
    },
  };
  let fatal: Error | null = null;
  const gc = { ms: 0, n: 0, byKind: {} as Record<string, { n: number; ms: number }> };
  const obs = new PerformanceObserver((list) => {
    if (win.start === null || win.end !== null) return;
    for (const e of list.getEntries()) {
      gc.ms += e.duration;
      gc.n++;
      const kind = GC_KINDS[(e as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other';
      gc.byKind[kind] ??= { n: 0, ms: 0 };
      const k = gc.byKind[kind];
      k.n++;
      k.ms += e.duration;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const pinning = o.pin ? pinForThroughput(o.brokerPid) : null;
  try {
    t = createTransformer(
      cfg,
      counted,
      log,
      (err) => {
        fatal = err;
        resolveDone();
      },
      { stages: hook },
    );
    await t.start();
    const deadline = setTimeout(() => {
      fatal = new Error(
        `transformer ${o.label} processed ${processed()} of ${o.events} in ${o.deadlineMs ?? 600_000} ms`,
      );
      resolveDone();
    }, o.deadlineMs ?? 600_000);
    await done;
    clearTimeout(deadline);
  } finally {
    pinning?.restore();
    obs.disconnect();
    await t?.stop().catch(() => undefined);
    await o.admin.deleteGroups([cfg.groupId]).catch(() => undefined);
    await o.admin.deleteTopics({ topics: outputs }).catch(() => undefined);
  }
  if (fatal) throw fatal;
  const w = win.start;
  const e = win.end;
  if (!w || !e) throw new Error(`transformer ${o.label}: the run ended without a measured window`);
  const events = o.events - w.inputs0;
  const seconds = (e.wall - w.wall0) / 1000;
  const cpuMs = (e.cpu.user + e.cpu.system) / 1000;
  const machine =
    ((e.machine.busy - w.machine0.busy) / Math.max(1, e.machine.total - w.machine0.total)) * cpus().length;
  return {
    label: o.label,
    pinned: pinning !== null,
    events,
    seconds,
    eventsPerS: events / seconds,
    cpuUsPerEvent: (cpuMs * 1000) / events,
    brokerCpuUsPerEvent: ((e.broker.total - w.broker0.total) * 1000) / events,
    brokerWarmCpuUsPerEvent: ((e.broker.total - e.broker.jit - (w.broker0.total - w.broker0.jit)) * 1000) / events,
    brokerGcCpuUsPerEvent: ((e.broker.gc - w.broker0.gc) * 1000) / events,
    machineBusyCores: machine,
    gcPauseMs: gc.ms,
    gcPauses: gc.n,
    gcByKind: gc.byKind,
    transactions: (timeline.snapshot().stages.find((s) => s.stage === 'after_commit')?.entries ?? 0) as number,
    fetchedBytes,
    consumedBytes,
    stages: timeline.snapshot(),
  };
}

/** One line per stage: wall, CPU and waiting time per event (µs). */
export function formatStages(r: ThroughputRun): string {
  const per = (ms: number) => ((ms * 1000) / r.events).toFixed(2).padStart(7);
  const lines = r.stages.stages.map(
    (s) =>
      `    ${s.stage.padEnd(14)} wall ${per(s.wallMs)}  cpu ${per(s.cpuMs)}  wait ${per(Math.max(0, s.wallMs - s.cpuMs))} µs/event  x${s.entries}`,
  );
  lines.push(
    `    ${'total'.padEnd(14)} wall ${per(r.stages.wallMs)}  cpu ${per(r.stages.cpuMs)}  wait ${per(Math.max(0, r.stages.wallMs - r.stages.cpuMs))} µs/event`,
  );
  return lines.join('\n');
}

export function formatRun(r: ThroughputRun): string {
  return (
    `${r.label}${r.pinned ? ' (pinned)' : ''}: ${Math.round(r.eventsPerS)} events/s, ${r.events} events in ${r.seconds.toFixed(2)} s; ` +
    `CPU µs/event transformer ${r.cpuUsPerEvent.toFixed(2)} broker ${r.brokerCpuUsPerEvent.toFixed(2)} ` +
    `(without JIT ${r.brokerWarmCpuUsPerEvent.toFixed(2)}, GC ${r.brokerGcCpuUsPerEvent.toFixed(2)}); ` +
    `machine ${r.machineBusyCores.toFixed(2)} cores busy; ${r.transactions} txns (${(r.events / Math.max(1, r.transactions)).toFixed(0)} events each); ` +
    `GC ${r.gcPauses} pauses ${r.gcPauseMs.toFixed(0)} ms ${JSON.stringify(r.gcByKind)}; fetched ${(r.fetchedBytes / 2 ** 20).toFixed(0)} MiB for ${(r.consumedBytes / 2 ** 20).toFixed(0)} MiB`
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const events = Number(args.find((a) => /^\d+$/.test(a)) ?? 100_000);
  const pin = args.includes('--pin');
  const workload: Workload = args.includes('--mixed') ? 'mixed' : 'edge';
  const runsAt = args.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 1;
  const env: Record<string, string> = {};
  for (let i = 0; i < args.length; i++)
    if (args[i] === '--env') {
      const [k, ...v] = (args[i + 1] as string).split('=');
      env[k as string] = v.join('=');
    }
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const { Kafka, logLevel } = await import('kafkajs');
  const { loadCore } = await import('@pep/core-native');
  const { createTopicsAndWait } = await import('@pep/kafka-wire/admin');
  const admin = new Kafka({ clientId: 'bench-pipeline', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const keep = process.env.BENCH_PIPELINE_BACKLOG_PREFIX;
  const prefix = keep ?? `bench-tp-${Date.now().toString(36)}.`;
  const raw = workloadTopics(workload, prefix);
  const existing = new Set(await admin.listTopics());
  const have = raw.every((t) => existing.has(t))
    ? (await Promise.all(raw.map((t) => admin.fetchTopicOffsets(t))))
        .flat()
        .reduce((s, p) => s + Number(p.high) - Number(p.low), 0)
    : 0;
  if (have > 0 && have !== events) throw new Error(`backlog ${prefix} holds ${have} events, not ${events}`);
  if (have === 0) {
    await createTopicsAndWait(
      admin,
      raw.map((topic) => ({
        topic,
        numPartitions: Number(process.env.BENCH_PIPELINE_RAW_PARTITIONS ?? 3),
        configEntries: BENCH_TOPIC_CONFIG,
      })),
    );
    const t0 = performance.now();
    const bytes = await writeBacklog(brokers, prefix, events, workload);
    console.log(
      `backlog ${prefix}: ${events} events, ${(bytes / 2 ** 20).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  }
  const core = await loadCore({ impl: (process.env.CORE_NATIVE_IMPL as 'native' | 'js' | undefined) ?? 'native' });
  try {
    for (let i = 0; i < runs; i++) {
      const r = await throughputRun({
        label: `run ${i + 1}`,
        admin,
        brokers,
        rawTopics: raw,
        events,
        outPrefix: `${prefix}out-${Date.now().toString(36)}-${i}.`,
        core,
        pin,
        brokerPid: kafkaPid(),
        env,
      });
      console.log(formatRun(r));
      console.log(formatStages(r));
    }
  } finally {
    if (!keep) await admin.deleteTopics({ topics: raw }).catch(() => undefined);
    await admin.disconnect();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
