/**
 * Scale-out on one machine, with the chart's configuration: two edges behind a local TCP balancer (HAProxy, readiness
 * on /readyz like the Service), three transformers (stable transactional ids pep-transformer-<ordinal>), two
 * quarantine consumers, three bridges, two Temporal workers and the inference service, under simulated traffic while
 * instances are SIGKILLed at random and restarted with the same identity (like pods). Then: the pipeline reconciles
 * exactly (every raw record in exactly one place, one row and one workflow result per event), no acknowledged webhook
 * is missing from the raw topics, and the work spread over every instance; throughput per instance is printed.
 * Real Kafka, Temporal, PostgreSQL from the stack.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RAW_TOPICS, serviceAddresses, TOPICS } from '@pep/contracts';
import { startService } from '@pep/stack';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import { type Balancer, ensureHaproxy, startBalancer } from '../../src/balancer.ts';
import { type ComponentName, type Instance, LocalCluster, REPO_ROOT, scrapeCounter } from '../../src/local-cluster.ts';

const RATE = Number(process.env.SCALE_OUT_RATE ?? 80);
const DURATION_S = Number(process.env.SCALE_OUT_DURATION_S ?? 45);
const KILL_EVERY_MS = 6_000;
const SEED = Number(process.env.SCALE_OUT_SEED ?? Date.now() % 2 ** 31);

const cluster = new LocalCluster({ env: { INFERENCE_URL: 'http://127.0.0.1:18090', NODE_ENV: 'development' } });
let balancer: Balancer | null = null;
const kafka = new Kafka({
  clientId: 'scale-out-test',
  brokers: [...serviceAddresses().kafkaBrokers],
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();

/** Mulberry32: the kill schedule is reproducible from SCALE_OUT_SEED. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function endOffsets(topics: readonly string[]): Promise<number> {
  let sum = 0;
  for (const t of topics) for (const p of await admin.fetchTopicOffsets(t)) sum += Number(p.high);
  return sum;
}

/** What each instance has processed: per process lifetime the last counter value, summed over lifetimes. */
class Throughput {
  private readonly done = new Map<string, number>();
  private readonly current = new Map<string, number>();
  private readonly starts = new Map<string, number>();
  constructor(private readonly counter: Partial<Record<ComponentName, { name: string; filter?: string }>>) {}
  async sample(instances: readonly Instance[]): Promise<void> {
    await Promise.all(
      instances.map(async (inst) => {
        const c = this.counter[inst.component];
        if (!c) return;
        const key = `${inst.component}-${inst.ordinal}`;
        if (this.starts.get(key) !== inst.starts) {
          this.done.set(key, (this.done.get(key) ?? 0) + (this.current.get(key) ?? 0));
          this.current.set(key, 0);
          this.starts.set(key, inst.starts);
        }
        const v = await scrapeCounter(inst.url, c.name, c.filter);
        if (v !== null) this.current.set(key, Math.max(v, this.current.get(key) ?? 0));
      }),
    );
  }
  totals(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const key of new Set([...this.done.keys(), ...this.current.keys()])) {
      out[key] = (this.done.get(key) ?? 0) + (this.current.get(key) ?? 0);
    }
    return out;
  }
}

before(async () => {
  const log = (m: string) => console.log(`# ${m}`);
  for (const s of ['kafka', 'postgres', 'temporal'] as const) await startService(s, log);
  ensureHaproxy(log);
  await admin.connect();
  // Migrations as the chart's pre-install hook runs them.
  for (const script of ['pipeline/src/migrate.ts', 'workflows/src/migrate.ts']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, `${script}: ${r.stderr}`);
  }
  await cluster.start('inference', 1);
  await cluster.start('worker', 2);
  await cluster.start('quarantine', 2);
  await cluster.start('transformer', 3);
  await cluster.start('bridge', 3);
  const edges = await cluster.start('edge', 2);
  balancer = await startBalancer(
    18080,
    edges.map((e) => e.port),
  );
});

after(async () => {
  await balancer?.stop();
  await cluster.stopAll();
  await admin.disconnect();
});

test('random kills of every kind of instance under load: exact reconciliation, nothing acknowledged lost', async () => {
  const rawTopics = Object.values(RAW_TOPICS);
  const rawBefore = await endOffsets(rawTopics);
  const dlqBefore = await endOffsets([TOPICS.webhooksDlq]);
  const startedAt = new Date();
  const throughput = new Throughput({
    edge: { name: 'edge_http_requests_total', filter: 'status="200"' },
    transformer: { name: 'transformer_input_messages_total' },
    quarantine: { name: 'quarantine_rows_total' },
    bridge: { name: 'bridge_messages_consumed_total' },
  });

  const simulator = spawn(
    join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
    [
      'simulator/src/cli.ts',
      '--url',
      balancer?.url ?? '',
      '--rate',
      String(RATE),
      '--duration',
      String(DURATION_S),
      '--invalid-rate',
      '0.05',
      '--duplicate-rate',
      '0.02',
      '--seed',
      String(SEED),
      '--quiet',
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let simOut = '';
  simulator.stdout.on('data', (d: Buffer) => {
    simOut += d.toString();
  });
  // 'close', not 'exit': the summary line may still be in the pipe when the process exits.
  const simExit = new Promise<number>((r) => simulator.once('close', (c) => r(c ?? 1)));
  let trafficDone = false;
  void simExit.then(() => {
    trafficDone = true;
  });

  // Chaos: one random instance at a time, SIGKILL, then the same identity comes back (a pod restart).
  const random = rng(SEED);
  const killable = cluster.instances.filter((i) => i.component !== 'inference');
  const kills: string[] = [];
  let nextKill = Date.now() + KILL_EVERY_MS;
  while (!trafficDone) {
    await throughput.sample(cluster.instances);
    if (Date.now() >= nextKill) {
      const victim = killable[Math.floor(random() * killable.length)] as Instance;
      kills.push(`${victim.component}-${victim.ordinal}`);
      await cluster.kill(victim, 'SIGKILL');
      await sleep(500 + Math.floor(random() * 1500));
      await cluster.restart(victim);
      nextKill = Date.now() + KILL_EVERY_MS;
    }
    await sleep(1000);
  }
  const summary = JSON.parse(simOut.trim().split('\n').pop() ?? '{}') as {
    sent?: number;
    by_status?: Record<string, number>;
    network_errors?: number;
  };
  const acknowledged = summary.by_status?.['200'] ?? 0;
  assert.ok(acknowledged > RATE * DURATION_S * 0.5, `too few acknowledged: ${JSON.stringify(summary)}`);
  assert.ok(kills.length >= Math.floor((DURATION_S * 1000) / KILL_EVERY_MS) - 2, `kills: ${kills.join(', ')}`);

  // Drain, then reconcile exactly (bounded wait: a restarted consumer rejoins and catches up).
  let report: { verdict?: string; checks?: { name: string; ok: boolean; detail: string }[] } = {};
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    await throughput.sample(cluster.instances);
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'pipeline/src/reconcile/cli.ts', '--json', '--no-edge', '--since', startedAt.toISOString()],
      { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 180_000 },
    );
    try {
      report = JSON.parse(r.stdout);
    } catch {
      report = { verdict: `unparseable (exit ${r.status}): ${r.stderr.slice(-500)}` };
    }
    if (report.verdict === 'reconciled') break;
    await sleep(10_000);
  }
  await throughput.sample(cluster.instances);
  const failed = (report.checks ?? []).filter((c) => !c.ok);
  assert.equal(report.verdict, 'reconciled', `not reconciled: ${JSON.stringify(failed.length ? failed : report)}`);

  // Every acknowledged webhook is in Kafka: acknowledged (200) ≤ raw records + webhook-DLQ records written meanwhile
  // (a 200 is either a raw record or an unroutable event's DLQ record; 4xx refusals are not acknowledgements).
  const rawDelta = (await endOffsets(rawTopics)) - rawBefore;
  const dlqDelta = (await endOffsets([TOPICS.webhooksDlq])) - dlqBefore;
  assert.ok(rawDelta + dlqDelta >= acknowledged, `acknowledged ${acknowledged} > raw ${rawDelta} + DLQ ${dlqDelta}`);

  const totals = throughput.totals();
  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  const perInstance = Object.fromEntries(
    Object.entries(totals).map(([k, n]) => [k, { events: n, events_per_s_over_run: Number((n / seconds).toFixed(1)) }]),
  );
  console.log(
    `# scale-out: ${JSON.stringify({ seed: SEED, rate: RATE, duration_s: DURATION_S, acknowledged, kills, per_instance: perInstance })}`,
  );
  for (const c of ['transformer', 'bridge', 'edge'] as const) {
    for (const inst of cluster.instances.filter((i) => i.component === c)) {
      assert.ok(
        (totals[`${c}-${inst.ordinal}`] ?? 0) > 0,
        `${c}-${inst.ordinal} processed nothing: ${JSON.stringify(totals)}`,
      );
    }
  }
});
