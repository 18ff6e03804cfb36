/**
 * `npm run bench -- scale-out`: what scaling out costs in CPU, measured on one machine with the chart's configuration
 * (deploy/src/local-cluster.ts starts each process with its values.yaml command and environment).
 *
 * - Transformer: events per CPU-second (user + system of the transformer processes, /proc) draining the same
 *   backlog of realistic raw Stripe records with the edge's headers, with three instances in one group on a
 *   three-partition topic, over the same with one instance. The instances start, join and get their partitions;
 *   then they are frozen (SIGSTOP), the whole backlog is produced, their CPU is sampled, and they are resumed
 *   (SIGCONT); the window ends when the group's committed offsets (read from the broker) cover the backlog. So both
 *   arms drain a backlog that is all there, which is the regime scale-out is for, and the three-instance figure
 *   includes what coordination costs: three sets of fetches and transactions, heartbeats, idle fetches of an instance
 *   that finished its partitions before the others. (Producing while the instances ran measured the producer
 *   instead: kafkajs produced ~2,300 records/s, so each instance ran one transaction per produce request it saw a
 *   part of, three times as many transactions for the same events; 0.56-0.75 in quick runs.)
 * - Edge: accepted webhooks per CPU-second of the edges, two edges behind the HAProxy balancer over one edge alone,
 *   at the same open-loop rate from the simulator. The balancer's own CPU per request is reported beside it.
 * Ratio `scale_out_cpu_efficiency` (goal 0.8, issue #22) is the transformer's; the edge pair's is
 * `scale_out_cpu_efficiency_edge_pair`. Arms alternate; medians of the runs. Needs the stack (Kafka) and HAProxy.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RAW_HEADERS, serviceAddresses } from '@pep/contracts';
import { ensureHaproxy, startBalancer } from '@pep/deploy/balancer';
import { cpuSeconds, type Instance, LocalCluster, REPO_ROOT, scrapeCounter } from '@pep/deploy/local-cluster';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import { type OutRecord, produceBacklog } from '../src/backlog.ts';
import { type Metric, median, type Ratio, withTimeout, writeResult } from '../src/result.ts';

const quick = process.env.BENCH_QUICK === '1';
const BACKLOG = quick ? 20_000 : 60_000;
const ROUNDS = quick ? 1 : 3;
const EDGE_RATE = quick ? 400 : 1_500;
const EDGE_SECONDS = quick ? 5 : 15;
const EDGE_WARMUP_SECONDS = quick ? 3 : 5;
const log = (m: string) => console.log(`scale-out: ${m}`);
/** Added to every process's port (SCALE_OUT_PORT_OFFSET): the benchmark beside a test's cluster in one namespace. */
const PORT_OFFSET = Number(process.env.SCALE_OUT_PORT_OFFSET ?? 0);
const LOG_DIR = join(REPO_ROOT, '.stack', 'logs', 'bench-scale-out');

const kafka = new Kafka({
  clientId: 'bench-scale-out',
  brokers: [...serviceAddresses().kafkaBrokers],
  logLevel: logLevel.NOTHING,
});

function stripeRecords(run: string, n: number, topic: string): OutRecord[] {
  const template = JSON.parse(
    readFileSync(
      join(REPO_ROOT, 'core-native', 'fixtures', 'payloads', 'stripe_payment_intent_succeeded.json'),
      'utf8',
    ),
  );
  const now = new Date().toISOString();
  return Array.from({ length: n }, (_, i) => {
    template.id = `evt_scale_${run}_${i}`;
    template.data.object.id = `pi_scale_${run}_${i}`;
    return {
      topic,
      key: template.data.object.id as string,
      value: Buffer.from(JSON.stringify(template), 'utf8'),
      headers: {
        [RAW_HEADERS.receivedAt]: now,
        [RAW_HEADERS.requestId]: `scale-${run}-${i}`,
        [RAW_HEADERS.provider]: 'stripe',
        [RAW_HEADERS.contentType]: 'application/json',
        [RAW_HEADERS.eventId]: template.id as string,
        [RAW_HEADERS.eventType]: template.type as string,
      },
    };
  });
}

/** Until the consumer group has `members` members, each with partitions assigned (a settled rebalance). */
async function waitForGroup(groupId: string, members: number, deadlineMs: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (;;) {
      const { groups } = await admin.describeGroups([groupId]);
      const group = groups[0];
      const assigned = (group?.members ?? []).filter((m) => m.memberAssignment.length > 0).length;
      if (group?.state === 'Stable' && assigned === members) return;
      if (Date.now() > deadlineMs) {
        throw new Error(
          `group ${groupId}: ${assigned} of ${members} members assigned (${group?.state}) before the deadline`,
        );
      }
      await sleep(200);
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * One arm of the transformer comparison: `instances` transformers in one group on a fresh three-partition input topic;
 * once every instance is ready and has its partitions, the backlog is produced and the arm measures the transformers'
 * CPU from then until all of it is consumed. (Producing before they are ready let the instances consume a small backlog
 * during their own start-up, before the first CPU sample: three instances once measured 0.00 CPU-s.)
 */
async function transformerArm(run: string, instances: number, arm: string): Promise<number> {
  const prefix = `t-scale-${run}-${arm}`;
  const input = `${prefix}.webhooks.stripe.payment_intent`;
  const cluster = new LocalCluster({
    portOffset: PORT_OFFSET,
    logDir: LOG_DIR,
    env: {
      TRANSFORMER_INPUT_TOPICS: input,
      TRANSFORMER_NORMALIZED_TOPIC: `${prefix}.payments.normalized`,
      TRANSFORMER_DLQ_TOPIC: `${prefix}.payments.validation.dlq`,
      TRANSFORMER_GROUP_ID: `${prefix}-group`,
    },
  });
  const admin = kafka.admin();
  await admin.connect();
  await createTopicsAndWait(admin, [
    { topic: input, numPartitions: 3, replicationFactor: 1 },
    { topic: `${prefix}.payments.normalized`, numPartitions: 3, replicationFactor: 1 },
    { topic: `${prefix}.payments.validation.dlq`, numPartitions: 1, replicationFactor: 1 },
  ]);
  await admin.disconnect();
  try {
    const started = await cluster.start('transformer', instances);
    const deadline = Date.now() + (quick ? 180_000 : 600_000);
    await waitForGroup(`${prefix}-group`, instances, deadline);
    const records = stripeRecords(run, BACKLOG, input);
    for (const i of started) i.child.kill('SIGSTOP');
    let cpuAtStart: Map<Instance, number>;
    try {
      // The backlog (generated before), written with kafka-wire's idempotent producer while the instances are frozen.
      const batches = Array.from({ length: Math.ceil(records.length / 500) }, (_, k) =>
        records.slice(k * 500, k * 500 + 500),
      );
      await produceBacklog([...serviceAddresses().kafkaBrokers], 'bench-scale-out-backlog', batches);
      cpuAtStart = new Map(started.map((i) => [i, cpuSeconds(i.child.pid) ?? 0]));
    } finally {
      for (const i of started) i.child.kill('SIGCONT');
    }
    const measuredFrom = Date.now();
    await waitCommitted(`${prefix}-group`, input, deadline, arm);
    const cpu = started.reduce((s, i: Instance) => s + ((cpuSeconds(i.child.pid) ?? 0) - (cpuAtStart.get(i) ?? 0)), 0);
    const perCpuS = BACKLOG / cpu;
    const txns = await Promise.all(
      started.map((i) => scrapeCounter(i.url, 'transformer_transactions_total', 'result="committed"')),
    );
    log(
      `${arm}: ${instances} instance(s), ${BACKLOG} events, ${cpu.toFixed(2)} CPU-s → ${perCpuS.toFixed(0)} events/CPU-s` +
        ` in ${((Date.now() - measuredFrom) / 1000).toFixed(1)} s, ${txns.map((t) => t ?? '?').join('+')} transactions`,
    );
    return perCpuS;
  } finally {
    await cluster.stopAll();
  }
}

/**
 * Until the group's committed offsets on `input` add up to the backlog (the transformer commits them in the
 * transaction that writes the outputs, so committed = consumed). Asked of the broker, not of the transformers: scraping
 * each instance's /metrics every 100 ms cost the transformers ~2 ms of CPU per scrape, a cost of the measurement that
 * grew with instances × wall time and was charged to the three-instance arm (0.4 of its 0.7 CPU-s, measured).
 */
async function waitCommitted(groupId: string, input: string, deadlineMs: number, arm: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (;;) {
      const [t] = await admin.fetchOffsets({ groupId, topics: [input] });
      const done = (t?.partitions ?? []).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
      if (done >= BACKLOG) return;
      if (Date.now() > deadlineMs) throw new Error(`${arm}: ${done} of ${BACKLOG} consumed before the deadline`);
      await sleep(100);
    }
  } finally {
    await admin.disconnect();
  }
}

interface EdgeArm {
  readonly perCpuS: number;
  readonly balancerCpuUsPerRequest: number | null;
  readonly accepted: number;
}

/** The simulator at EDGE_RATE for `seconds` against `url`; its summary line. */
async function simulate(url: string, seconds: number): Promise<{ by_status?: Record<string, number>; sent?: number }> {
  const sim = spawn(
    join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
    [
      'simulator/src/cli.ts',
      '--url',
      url,
      '--rate',
      String(EDGE_RATE),
      '--duration',
      String(seconds),
      '--quiet',
      '--concurrency',
      '64',
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  sim.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await withTimeout(new Promise((r) => sim.once('close', r)), (seconds + 120) * 1000, 'simulator');
  return JSON.parse(out.trim().split('\n').pop() ?? '{}');
}

async function edgeArm(pair: boolean): Promise<EdgeArm> {
  const cluster = new LocalCluster({ portOffset: PORT_OFFSET, logDir: LOG_DIR, env: { NODE_ENV: 'development' } });
  const edges = await cluster.start('edge', pair ? 2 : 1);
  const balancer = pair
    ? await startBalancer(
        18080 + PORT_OFFSET,
        edges.map((e) => e.port),
      )
    : null;
  try {
    const url = balancer?.url ?? (edges[0] as Instance).url;
    // Warm-up at the same rate, not measured: each edge compiles its hot path (JIT) and opens its Kafka connections
    // once, a fixed cost that a short quick run would otherwise charge twice to the pair.
    await simulate(url, EDGE_WARMUP_SECONDS);
    const cpuBefore = edges.map((e) => cpuSeconds(e.child.pid) ?? 0);
    const lbBefore = balancer ? (cpuSeconds(balancer.child.pid) ?? 0) : 0;
    const summary = await simulate(url, EDGE_SECONDS);
    await sleep(500);
    const cpu = edges.reduce((s, e, i) => s + ((cpuSeconds(e.child.pid) ?? 0) - (cpuBefore[i] ?? 0)), 0);
    const accepted = summary.by_status?.['200'] ?? 0;
    const lbCpu = balancer ? (cpuSeconds(balancer.child.pid) ?? 0) - lbBefore : 0;
    log(`edge ${pair ? 'pair behind HAProxy' : 'single'}: ${accepted} accepted, ${cpu.toFixed(2)} edge CPU-s`);
    return {
      perCpuS: accepted / cpu,
      balancerCpuUsPerRequest: balancer && summary.sent ? (lbCpu * 1e6) / summary.sent : null,
      accepted,
    };
  } finally {
    await balancer?.stop();
    await cluster.stopAll();
  }
}

export async function run(): Promise<void> {
  ensureHaproxy(log);
  const runId = Date.now().toString(36);
  const one: number[] = [];
  const three: number[] = [];
  const edgeSingle: EdgeArm[] = [];
  const edgePair: EdgeArm[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternating order per round, so a warming machine does not favour one arm.
    if (r % 2 === 0) {
      one.push(await transformerArm(runId, 1, `r${r}-one`));
      three.push(await transformerArm(runId, 3, `r${r}-three`));
      edgeSingle.push(await edgeArm(false));
      edgePair.push(await edgeArm(true));
    } else {
      three.push(await transformerArm(runId, 3, `r${r}-three`));
      one.push(await transformerArm(runId, 1, `r${r}-one`));
      edgePair.push(await edgeArm(true));
      edgeSingle.push(await edgeArm(false));
    }
  }
  const m1 = median(one);
  const m3 = median(three);
  const e1 = median(edgeSingle.map((e) => e.perCpuS));
  const e2 = median(edgePair.map((e) => e.perCpuS));
  const lb = edgePair.flatMap((e) => (e.balancerCpuUsPerRequest === null ? [] : [e.balancerCpuUsPerRequest]));
  const metrics: Metric[] = [
    { name: 'transformer_backlog_events', unit: 'events', value: BACKLOG },
    { name: 'transformer_one_instance_events_per_cpu_s', unit: 'events/CPU-s', value: Math.round(m1) },
    { name: 'transformer_three_instances_events_per_cpu_s', unit: 'events/CPU-s', value: Math.round(m3) },
    { name: 'edge_single_accepted_per_cpu_s', unit: 'requests/CPU-s', value: Math.round(e1) },
    { name: 'edge_pair_accepted_per_cpu_s', unit: 'requests/CPU-s', value: Math.round(e2) },
    { name: 'edge_rate', unit: 'requests/s', value: EDGE_RATE },
    ...(lb.length ? [{ name: 'balancer_cpu_us_per_request', unit: 'µs', value: Number(median(lb).toFixed(1)) }] : []),
    { name: 'rounds', unit: 'runs', value: ROUNDS },
  ];
  const ratios: Ratio[] = [
    { name: 'scale_out_cpu_efficiency', value: Number((m3 / m1).toFixed(3)), goal: 0.8 },
    { name: 'scale_out_cpu_efficiency_edge_pair', value: Number((e2 / e1).toFixed(3)), goal: 0.8 },
  ];
  writeResult('scale-out', metrics, ratios);
}
