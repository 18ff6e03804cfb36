/**
 * Pipeline benchmark (`npm run bench -- pipeline`): the transformer's end-to-end throughput through real Kafka
 * (consume raw → core-native → transactional produce + offsets) in three arms, alternating runs on private topics:
 * kafka-wire with the native addon (the production setup), kafka-wire with the TypeScript twin, and kafkajs with the
 * native addon (the previous implementation); and the raw-to-normalized latency (p50/p99, read committed) of the
 * kafka-wire transformer at half the edge's measured maximum rate (bench/results/edge.json; 1000 events/s if
 * absent), in both delivery modes, plus kafkajs exactly-once at the same rate, alternating rounds, medians, with the
 * breakdown: the paced producer's acknowledgement (the edge's share) and the transformer's commit (before the
 * reader's fetch).
 * The transformer and the reader run in this process (one JS thread); the paced producer runs in a child process
 * of its own, like the edge, so that it does not compete for this event loop.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadCore } from '@pep/core-native';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { loadTransformerConfig } from '../../../pipeline/src/lib/config.ts';
import { createLogger } from '../../../pipeline/src/lib/log.ts';

// Errors only, to stderr: a stuck run must say why.
const log = createLogger('error', { service: 'bench-pipeline' }, (line) => process.stderr.write(`${line}\n`));

import {
  type AnyTransformer,
  createTransformer,
  type TransformerCore,
} from '../../../pipeline/src/transformer/create.ts';
import { REPO_ROOT } from '../../../stack/src/paths.ts';
import { type Metric, median, percentile, type Ratio, RESULTS_DIR, withTimeout, writeResult } from '../result.ts';

const PAYLOADS = join(REPO_ROOT, 'core-native', 'fixtures', 'payloads');
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
}

const LOADGEN_ENV = 'PIPELINE_BENCH_LOADGEN';
/**
 * A fixed second latency rate (exactly-once only): half of the edge's maximum when the previous pipeline figure
 * (p99 257 ms) was measured, so that figures stay comparable while the edge's maximum moves.
 */
const REFERENCE_RATE = 1721;
/** Messages per produce request of the load generator (about 2 KB each). */
const MAX_SEND_MESSAGES = 200;

/**
 * The paced raw-event producer, run in its own process (like the edge, and so that it does not share the
 * transformer's event loop): every 10 ms the events due by then, each stamped received-at when created, one
 * acks=all send in flight at a time (later ticks queue behind it, and that wait counts, as at the edge).
 */
async function loadGenMain(spec: LoadGenSpec): Promise<LoadGenResult> {
  const kafka = new Kafka({
    clientId: 'bench-pipeline-loadgen',
    brokers: [...spec.brokers],
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const stripe = fixtures().find((f) => f.provider === 'stripe');
  if (!stripe) throw new Error('no stripe fixture');
  const acks: number[] = [];
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((spec.rate * tickMs) / 1000));
  let sent = 0;
  let sending: Promise<unknown> = Promise.resolve();
  const startedAt = Date.now();
  while (sent < spec.total) {
    const due = Math.min(spec.total, Math.round(((Date.now() - startedAt) / 1000) * spec.rate) + perTick);
    const batch: Message[] = [];
    const created = Date.now();
    for (; sent < due; sent++) {
      batch.push({
        key: `l${sent}`,
        value: variant(stripe, 1_000_000 + sent),
        headers: { 'received-at': new Date().toISOString() },
      });
    }
    // A stalled tick (GC, a loaded machine) makes the next one large: split so no request nears the broker's 1 MB.
    for (let i = 0; i < batch.length; i += MAX_SEND_MESSAGES) {
      const part = batch.slice(i, i + MAX_SEND_MESSAGES);
      sending = sending
        .then(() => producer.send({ topic: spec.topic, acks: -1, messages: part }))
        .then(() => {
          const ms = Date.now() - created;
          for (let j = 0; j < part.length; j++) acks.push(ms);
        });
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await sending;
  await producer.disconnect();
  return { sent, ackP50: percentile(acks, 50), ackP99: percentile(acks, 99) };
}

/** Runs loadGenMain in a child process and returns its summary. */
function runLoadGenerator(spec: LoadGenSpec): Promise<LoadGenResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
      cwd: REPO_ROOT,
      env: { ...process.env, [LOADGEN_ENV]: JSON.stringify(spec) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // A stuck generator must not hold the benchmark lock: its run is bounded by the schedule plus a minute.
    const timer = setTimeout(() => child.kill('SIGKILL'), (spec.total / spec.rate) * 1000 + 60_000);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      try {
        resolve(JSON.parse(last) as LoadGenResult);
      } catch {
        reject(new Error(`load generator printed no summary: ${JSON.stringify(last)}`));
      }
    });
  });
}

/** Collects received-at → committed (ms) of every event the transformer commits, from its end-to-end histogram. */
function watchCommits(t: AnyTransformer, out: number[]): () => void {
  const h = t.metrics.endToEndSeconds;
  const observe = h.observe.bind(h);
  h.observe = (seconds: number) => {
    out.push(Math.round(seconds * 1000));
    observe(seconds);
  };
  return () => {
    h.observe = observe;
  };
}

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
  await admin.createTopics({ topics: raw.map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true });

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
  type Arm = 'wire_native' | 'wire_js' | 'kafkajs_native';
  const ARMS: readonly { arm: Arm; client: 'wire' | 'kafkajs'; core: TransformerCore }[] = [
    { arm: 'wire_native', client: 'wire', core: native },
    { arm: 'wire_js', client: 'wire', core: js },
    { arm: 'kafkajs_native', client: 'kafkajs', core: native },
  ];
  const eps: Record<Arm, number[]> = { wire_native: [], wire_js: [], kafkajs_native: [] };
  const order = Array.from({ length: RUNS * ARMS.length }, (_, i) => ARMS[i % ARMS.length] as (typeof ARMS)[number]);

  async function throughputRun(arm: (typeof ARMS)[number], n: number): Promise<number> {
    const { core, client } = arm;
    const out = `${prefix}${arm.arm}-${n}.`;
    const outputs = [`${out}payments.normalized`, `${out}payments.validation.dlq`];
    created.push(...outputs);
    await admin.createTopics({
      topics: [
        { topic: outputs[0] as string, numPartitions: 3 },
        { topic: outputs[1] as string, numPartitions: 1 },
      ],
      waitForLeaders: true,
    });
    let first = 0;
    const transform = core.transformRecordSets;
    const timed: TransformerCore = {
      kind: core.kind,
      normalizeBatch: (b, o) => {
        if (first === 0) first = performance.now();
        return core.normalizeBatch(b, o);
      },
      ...(transform
        ? {
            transformRecordSets: (sets, o) => {
              if (first === 0) first = performance.now();
              return transform(sets, o);
            },
            crc32c: core.crc32c,
          }
        : {}),
    };
    const cfg = loadTransformerConfig({
      ...process.env,
      TRANSFORMER_CLIENT: client,
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

  for (const [i, arm] of order.entries()) {
    const v = await throughputRun(arm, i);
    eps[arm.arm].push(v);
    console.log(`  run ${i + 1}/${order.length} ${arm.arm.padEnd(14)} ${v.toFixed(0)} events/s`);
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
    /** The generator's produce acknowledgement (acks=all) after received-at: the edge's share. */
    readonly ackP50: number;
    readonly ackP99: number;
    /** received-at to the transformer's commit of the event's transaction (before the reader's fetch). */
    readonly committedP50: number;
    readonly committedP99: number;
  }

  /** Steady `rate` of raw events for `seconds`; latency = read-committed arrival in payments.normalized − received-at. */
  async function latencyRun(
    mode: 'exactly_once' | 'at_least_once',
    rate: number,
    run: number,
    client: 'wire' | 'kafkajs',
  ): Promise<LatencyRun> {
    const lat = `${prefix}lat-${client}-${mode}-${rate}-${run}.`;
    const latOut = [`${lat}payments.normalized`, `${lat}payments.validation.dlq`];
    const latRaw = `${lat}webhooks.stripe.payment_intent`;
    created.push(latRaw, ...latOut);
    await admin.createTopics({
      topics: [
        { topic: latRaw, numPartitions: 3 },
        { topic: latOut[0] as string, numPartitions: 3 },
        { topic: latOut[1] as string },
      ],
      waitForLeaders: true,
    });
    const t = createTransformer(
      loadTransformerConfig({
        ...process.env,
        TRANSFORMER_CLIENT: client,
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
    const latencies: number[] = [];
    const reader = kafka.consumer({ groupId: `${lat}reader`, readUncommitted: false, maxWaitTimeInMs: 10 });
    await reader.connect();
    await reader.subscribe({ topic: latOut[0] as string, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        // The transformer passes the edge's received-at header through to its outputs.
        const sent = Date.parse(message.headers?.['received-at']?.toString() ?? '');
        if (Number.isFinite(sent)) latencies.push(Date.now() - sent);
      },
    });
    await new Promise((r) => setTimeout(r, 3000)); // group joins settle before timing
    const committed: number[] = [];
    const stopWatch = watchCommits(t, committed);
    const total = Math.round(rate * seconds);
    const gen = await runLoadGenerator({ brokers, topic: latRaw, rate, total });
    const latDeadline = Date.now() + 30_000;
    while (latencies.length < total && Date.now() < latDeadline) await new Promise((r) => setTimeout(r, 50));
    stopWatch();
    await withTimeout(reader.disconnect(), 30_000, 'reader disconnect');
    await withTimeout(t.stop(), 60_000, `transformer stop (${mode})`);
    await admin.deleteGroups([`${lat}group`, `${lat}reader`]).catch(() => undefined);
    if (latencies.length < total) {
      throw new Error(`latency run ${mode}: ${latencies.length} of ${total} events reached payments.normalized`);
    }
    return {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      n: total,
      ackP50: gen.ackP50,
      ackP99: gen.ackP99,
      committedP50: percentile(committed, 50),
      committedP99: percentile(committed, 99),
    };
  }

  // Alternating rounds; each figure is the median over the rounds of that run's percentile.
  const ROUNDS = opts.quick ? 1 : 3;
  const lat: Record<'eos' | 'alo' | 'eosRef' | 'eosKafkajs', LatencyRun[]> = {
    eos: [],
    alo: [],
    eosRef: [],
    eosKafkajs: [],
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [key, mode, runRate, client] of [
      ['eos', 'exactly_once', rate, 'wire'],
      ['alo', 'at_least_once', rate, 'wire'],
      ['eosRef', 'exactly_once', REFERENCE_RATE, 'wire'],
      ['eosKafkajs', 'exactly_once', rate, 'kafkajs'],
    ] as const) {
      const r = await latencyRun(mode, runRate, round, client);
      lat[key].push(r);
      console.log(
        `  latency ${key} at ${runRate} events/s, round ${round + 1}/${ROUNDS}: p50 ${r.p50} ms, p99 ${r.p99} ms ` +
          `(edge-side produce ack p99 ${r.ackP99} ms, committed p99 ${r.committedP99} ms)`,
      );
    }
  }
  const med = (key: keyof typeof lat, f: (r: LatencyRun) => number) => Math.round(median(lat[key].map(f)));
  const eos = { p50: med('eos', (r) => r.p50), p99: med('eos', (r) => r.p99), n: (lat.eos[0] as LatencyRun).n };
  await producer.disconnect();
  await admin.deleteTopics({ topics: created }).catch(() => undefined);
  await admin.disconnect();

  const nativeEps = median(eps.wire_native);
  const jsEps = median(eps.wire_js);
  const kafkajsEps = median(eps.kafkajs_native);
  const metrics: Metric[] = [
    { name: 'transformer_native_events_per_s', unit: 'events/s', value: Math.round(nativeEps) },
    { name: 'transformer_js_events_per_s', unit: 'events/s', value: Math.round(jsEps) },
    { name: 'transformer_kafkajs_native_events_per_s', unit: 'events/s', value: Math.round(kafkajsEps) },
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
    { name: 'raw_to_normalized_kafkajs_p50_ms', unit: 'ms', value: med('eosKafkajs', (r) => r.p50) },
    { name: 'raw_to_normalized_kafkajs_p99_ms', unit: 'ms', value: med('eosKafkajs', (r) => r.p99) },
    { name: 'latency_events_per_run', unit: 'events', value: eos.n },
    { name: 'latency_rounds', unit: 'count', value: ROUNDS },
    { name: 'load_average_1m_at_end', unit: 'load', value: Number(loadavg()[0]?.toFixed(2)) },
  ];
  const ratios: Ratio[] = [
    { name: 'transformer_native_vs_js', value: Number((nativeEps / jsEps).toFixed(2)), goal: 1 },
    { name: 'transformer_wire_vs_kafkajs', value: Number((nativeEps / kafkajsEps).toFixed(2)), goal: null },
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

if (process.env[LOADGEN_ENV] && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  loadGenMain(JSON.parse(process.env[LOADGEN_ENV] as string) as LoadGenSpec).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      console.error('load generator failed', err);
      process.exit(1);
    },
  );
}
