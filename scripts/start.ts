/**
 * `npm start [-- --no-simulate] [simulator options]`: the whole platform on one machine. Brings up the local stack,
 * builds the native addons (core and lake), applies the database migrations, starts every service (inference, Temporal worker,
 * transformer, quarantine consumer, workflow bridge, lake sink, edge), drives simulated traffic from all providers, shows
 * live progress per stage, and prints the reconciliation report once the traffic has drained. Ctrl-C stops what
 * it started (infrastructure that was already running is left alone). Service logs go to `.stack/logs/`.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LAKE_TABLES, RAW_TOPICS, SERVICE_DEFAULTS, serviceAddresses, TOPICS } from '@pep/contracts';
import { kafkajsConnection, loadKafkaConnection } from '@pep/contracts/kafka-security';
import { seriesSum } from '@pep/contracts/metrics';
import { exitWithParentSpawn } from '@pep/contracts/parent';
import { type DashboardLink, loginHint, provisionDashboards } from '@pep/dashboards';
import { scoringNodeFlags } from '@pep/ml/node-flags';
import { stackDown, stackStatus, stackUp } from '@pep/stack';
import { logFile, REPO_ROOT } from '@pep/stack/paths';
import { runStreaming } from '@pep/stack/run-suites';
import { tcpOpen } from '@pep/stack/service';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';

const args = process.argv.slice(2);
const simulate = !args.includes('--no-simulate');
const simulatorArgs = args.filter((a) => a !== '--no-simulate');
// A fresh seed per run unless one is given: the same seed replays the same event ids, which the platform rightly
// deduplicates, so a second run would add no new workflows or rows for the report to check.
if (!simulatorArgs.some((a) => a === '--seed' || a.startsWith('--seed='))) {
  simulatorArgs.push('--seed', String(Math.floor(Math.random() * 2 ** 31)));
}
// Simulated time runs fast by default, so that the disputes and abandoned customers the models learn from (days to
// weeks after a payment) arrive while the platform runs and the trainer (ml/) can promote a first model.
if (!simulatorArgs.some((a) => a === '--time-scale' || a.startsWith('--time-scale='))) {
  simulatorArgs.push('--time-scale', '5000');
}
const PROGRESS_INTERVAL_MS = 2000;
/** The lake sink's consumer group and topics (its defaults, pipeline/src/lake-sink/config.ts). */
const LAKE_SINK_GROUP = process.env.LAKE_SINK_GROUP_ID ?? 'pep-lake-sink';
const LAKE_SINK_TOPICS = [
  ...LAKE_TABLES.webhook_events.sourceTopics,
  ...LAKE_TABLES.payment_events.sourceTopics,
  ...LAKE_TABLES.validation_dlq.sourceTopics,
];
/** Bound on how long the report waits for the pipeline to drain after the traffic stops. */
const DRAIN_TIMEOUT_MS = 120_000;

interface Component {
  readonly name: string;
  readonly args: readonly string[];
  readonly ready?: string;
  /** Variables over the environment (e.g. which lane of a service this process runs). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Starts in a session of its own (setsid), hence its own CPU scheduling group under the kernel's autogroup
   * scheduling, as a container is its own cgroup in a deployment: the payment lane (worker, bridge, inference), so the
   * work a flood of invalid events adds to the other services does not take its share of the CPU (issue 13). Such a
   * process does not get the terminal's Ctrl-C itself; shutdown() stops it like every other.
   */
  readonly ownSession?: boolean;
}

/**
 * Issue 13: the DLQ review work (the bridge's registration, the worker's review queue) and the quarantine consumer may
 * wait, payments may not: the review lanes run as their own processes at this CPU niceness (the quarantine consumer
 * takes it by default), so a flood of invalid events yields the CPU to the payment path on a busy machine.
 */
const REVIEW_LANE_NICE = process.env.REVIEW_LANE_NICE ?? '10';
const reviewWorkerPort = process.env.REVIEW_WORKER_METRICS_PORT ?? String(SERVICE_DEFAULTS.metrics.reviewWorker);
const reviewBridgePort = process.env.REVIEW_BRIDGE_METRICS_PORT ?? String(SERVICE_DEFAULTS.metrics.reviewBridge);

const bun = join(REPO_ROOT, 'node_modules', '.bin', 'bun');
const tsx = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const addresses = serviceAddresses();
const inferencePort = Number(process.env.INFERENCE_PORT ?? SERVICE_DEFAULTS.inference.port);
/** V8 flags of the processes that score fraud (the service, the payment lane's worker): ML_SCORING_NODE_FLAGS. */
const scoringFlags = scoringNodeFlags();

/** Each consumer serves /metrics once it runs: that is its readiness probe here (the port variable moves it). */
function metricsUrl(portVariable: string, defaultPort: number): string {
  return `http://127.0.0.1:${Number(process.env[portVariable] ?? defaultPort)}/metrics`;
}

/** Start order: consumers before the edge so that nothing waits on an absent stage. */
const COMPONENTS: readonly Component[] = [
  {
    name: 'inference',
    args: [tsx, ...scoringFlags, 'ml/src/server.ts'],
    ready: `http://127.0.0.1:${inferencePort}/health`,
    ownSession: true,
  },
  {
    name: 'features',
    args: [tsx, 'ml/src/features/main.ts'],
    ready: metricsUrl('FEATURES_METRICS_PORT', SERVICE_DEFAULTS.metrics.features),
  },
  { name: 'trainer', args: [tsx, 'ml/src/train/auto.ts'] },
  {
    name: 'worker',
    args: [tsx, ...scoringFlags, 'workflows/src/worker.ts'],
    ready: metricsUrl('WORKER_METRICS_PORT', SERVICE_DEFAULTS.metrics.worker),
    env: { WORKER_LANES: 'payments' },
    ownSession: true,
  },
  {
    name: 'review-worker',
    args: [tsx, 'workflows/src/worker.ts'],
    ready: `http://127.0.0.1:${reviewWorkerPort}/metrics`,
    env: { WORKER_LANES: 'reviews', WORKER_NICE: REVIEW_LANE_NICE, WORKER_METRICS_PORT: reviewWorkerPort },
  },
  // The batch graph's worker (schedules, steps, backfills) on its own task queue; its schedules are applied below.
  {
    name: 'orchestrator',
    args: [tsx, 'orchestration/src/worker.ts'],
    ready: metricsUrl('ORCH_METRICS_PORT', SERVICE_DEFAULTS.metrics.orchestrator),
  },
  {
    name: 'quarantine',
    args: [tsx, 'pipeline/src/quarantine/main.ts'],
    ready: metricsUrl('QUARANTINE_METRICS_PORT', SERVICE_DEFAULTS.metrics.quarantine),
  },
  {
    name: 'transformer',
    args: [tsx, 'pipeline/src/transformer/main.ts'],
    ready: metricsUrl('TRANSFORMER_METRICS_PORT', SERVICE_DEFAULTS.metrics.transformer),
  },
  {
    name: 'bridge',
    args: [tsx, 'pipeline/src/bridge/main.ts'],
    ready: metricsUrl('BRIDGE_METRICS_PORT', SERVICE_DEFAULTS.metrics.bridge),
    env: { BRIDGE_REVIEWS: 'false' },
    ownSession: true,
  },
  {
    name: 'review-bridge',
    args: [tsx, 'pipeline/src/bridge/main.ts'],
    ready: `http://127.0.0.1:${reviewBridgePort}/metrics`,
    env: {
      BRIDGE_PAYMENTS: 'false',
      BRIDGE_NICE: REVIEW_LANE_NICE,
      BRIDGE_METRICS_PORT: reviewBridgePort,
      BRIDGE_CLIENT_ID: 'workflow-bridge-reviews',
    },
  },
  // Kafka → Iceberg bronze tables (the lake addon is built below; cached per source version, minutes when cold).
  {
    name: 'lake-sink',
    args: [tsx, 'pipeline/src/lake-sink/main.ts'],
    ready: metricsUrl('LAKE_SINK_METRICS_PORT', SERVICE_DEFAULTS.metrics.lakeSink),
  },
  { name: 'edge', args: [bun, 'run', 'edge/src/main.ts'], ready: `http://127.0.0.1:${addresses.edgePort}/readyz` },
];

const children = new Map<string, ChildProcess>();
let stopping = false;
let startedServices: string[] = [];
let progress: Progress | null = null;

function say(message: string): void {
  console.log(`start: ${message}`);
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function portInUse(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return tcpOpen(hostname, Number(port), 500);
}

function launch(c: Component): ChildProcess {
  const log = logFile(c.name);
  const fd = openSync(log, 'a');
  const [command, ...rest] = c.args as [string, ...string[]];
  // stdin is a pipe nobody writes: when this process dies, even by SIGKILL, the services read end of file and stop
  // (exitWithParent), the ones in a session of their own included, which no terminal signal reaches.
  const watch = exitWithParentSpawn({ ...process.env, ...(c.env ?? {}) });
  const child = spawn(command, rest, {
    cwd: REPO_ROOT,
    stdio: [watch.stdin, fd, fd],
    env: watch.env,
    detached: c.ownSession === true,
  });
  children.set(c.name, child);
  child.once('exit', (code, signal) => {
    children.delete(c.name);
    if (!stopping) {
      console.error(`start: ${c.name} exited (${signal ?? `code ${code}`}); last lines of ${log}:\n${tail(log)}`);
      void shutdown(1);
    }
  });
  return child;
}

async function waitReady(c: Component): Promise<void> {
  if (!c.ready) return;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (!children.has(c.name)) throw new Error(`${c.name} exited during start-up`);
    const ok = await fetch(c.ready, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await sleep(250);
  }
  throw new Error(`${c.name} not ready at ${c.ready} after 60 s (log: ${logFile(c.name)})`);
}

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('stopping platform services');
  progress?.quiet();
  for (const c of [...COMPONENTS].reverse()) {
    const child = children.get(c.name);
    if (!child) continue;
    child.kill('SIGTERM');
    const exited = new Promise((r) => child.once('exit', r));
    if ((await Promise.race([exited, sleep(20_000, 'timeout')])) === 'timeout') child.kill('SIGKILL');
  }
  // Before the stack goes down: an idle database or Kafka connection must not outlive its server.
  await progress?.close();
  if (startedServices.length > 0) {
    say(`stopping ${startedServices.join(', ')}`);
    await stackDown({ only: startedServices as never });
  }
  process.exit(code);
}

/**
 * Counts per stage, cheap enough to poll every two seconds: raw and webhook-DLQ records from the topics' offsets
 * (written without transactions, so offsets are records), the transformer's outputs from its metrics (its topics are
 * transactional: every commit marker takes an offset, so offsets would count markers too), rows from the database.
 */
class Progress {
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly kafka = new Kafka({
    ...kafkajsConnection(loadKafkaConnection()),
    clientId: 'pep-start',
    brokers: [...addresses.kafkaBrokers],
    logLevel: logLevel.NOTHING,
  });
  private readonly admin = this.kafka.admin();
  private readonly db = new pg.Pool({ connectionString: addresses.databaseUrl, max: 1 });
  private readonly transformerMetrics = metricsUrl('TRANSFORMER_METRICS_PORT', SERVICE_DEFAULTS.metrics.transformer);
  private last: { at: number; counts: Record<string, number> } | undefined;

  async connect(): Promise<void> {
    // A pooled client that loses its server (PostgreSQL restarted or stopped) emits 'error' on the pool: the next
    // sample reconnects; without a listener the launcher itself would crash.
    this.db.on('error', () => undefined);
    await this.admin.connect();
  }

  /** Prints a sample every `ms` when it differs from the last one printed. */
  every(ms: number): void {
    if (this.timer) clearInterval(this.timer);
    let printed = '';
    this.timer = setInterval(() => {
      this.sample().then(
        (p) => {
          const text = p.line.replace(/ \(\d+\/s\)/g, '');
          if (text !== printed) say(p.line);
          printed = text;
        },
        (err: unknown) => say(`progress unavailable: ${(err as Error).message}`),
      );
    }, ms);
  }

  /** Stops the periodic printing (the report is printed without progress lines in between). */
  quiet(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async close(): Promise<void> {
    this.quiet();
    await Promise.allSettled([this.admin.disconnect(), this.db.end()]);
  }

  /** Records the transformer has produced since it started, by kind (normalized, dlq). */
  private async transformerOutputs(): Promise<{ normalized: number; dlq: number }> {
    const page = await fetch(this.transformerMetrics, { signal: AbortSignal.timeout(1000) }).then(
      (r) => (r.ok ? r.text() : ''),
      () => '',
    );
    return {
      normalized: seriesSum(page, 'transformer_output_records_total', 'kind="normalized"') ?? 0,
      dlq: seriesSum(page, 'transformer_output_records_total', 'kind="dlq"') ?? 0,
    };
  }

  private async topicSize(topic: string): Promise<number> {
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  }

  private async lag(groupId: string, topics: readonly string[]): Promise<number> {
    let lag = 0;
    for (const topic of topics) {
      const high = await this.admin.fetchTopicOffsets(topic);
      const [committed] = await this.admin.fetchOffsets({ groupId, topics: [topic] });
      for (const p of high) {
        const c = committed?.partitions.find((x) => x.partition === p.partition);
        const at = c && Number(c.offset) >= 0 ? Number(c.offset) : Number(p.low);
        lag += Math.max(0, Number(p.high) - at);
      }
    }
    return lag;
  }

  async sample(): Promise<{ line: string; lags: number; rows: number }> {
    const raw = (await Promise.all(Object.values(RAW_TOPICS).map((t) => this.topicSize(t)))).reduce((a, b) => a + b, 0);
    const outputs = await this.transformerOutputs();
    const counts: Record<string, number> = {
      raw,
      normalized: outputs.normalized,
      'validation-dlq': outputs.dlq,
      'webhook-dlq': await this.topicSize(TOPICS.webhooksDlq),
      rows: Number(
        (await this.db.query('SELECT count(*) AS n FROM payment_events').catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n,
      ),
    };
    const models = await fetch(`http://127.0.0.1:${inferencePort}/health`, { signal: AbortSignal.timeout(1000) })
      .then((r) => r.json() as Promise<{ models?: Record<string, { champion?: { version: string | null } }> }>)
      .then(
        (h) =>
          Object.entries(h.models ?? {})
            .map(([m, s]) =>
              s.champion?.version ? `${m}@${s.champion.version}` : m === 'fraud' ? 'fraud rules-v2' : `${m} rules-v1`,
            )
            .join(' '),
        () => '?',
      );
    const lags = {
      transformer: await this.lag('pep-transformer', Object.values(RAW_TOPICS)),
      quarantine: await this.lag('pep-quarantine', [TOPICS.webhooksDlq, TOPICS.validationDlq]),
      bridge: await this.lag('workflow-bridge', [TOPICS.normalized]),
      // The lake sink commits its group offsets after each table commit (every LAKE_SINK_COMMIT_INTERVAL_MS).
      lake: await this.lag(LAKE_SINK_GROUP, LAKE_SINK_TOPICS),
    };
    const now = Date.now();
    const rate = (k: string) => {
      if (!this.last || now - this.last.at < 200) return '';
      const perS = ((counts[k] ?? 0) - (this.last.counts[k] ?? 0)) / ((now - this.last.at) / 1000);
      return ` (${perS.toFixed(0)}/s)`;
    };
    this.last = { at: now, counts };
    const line =
      `raw ${counts.raw}${rate('raw')} · transformer out: normalized ${counts.normalized}${rate('normalized')}, ` +
      `validation-dlq ${counts['validation-dlq']} · webhook-dlq ${counts['webhook-dlq']} · ` +
      `workflow rows ${counts.rows}${rate('rows')} · lag transformer ${lags.transformer} quarantine ${lags.quarantine} bridge ${lags.bridge} lake ${lags.lake}` +
      ` · models ${models}`;
    return { line, lags: lags.transformer + lags.quarantine + lags.bridge + lags.lake, rows: counts.rows ?? 0 };
  }
}

async function main(): Promise<void> {
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  const wasUp = new Set((await stackStatus()).filter((s) => s.state === 'healthy').map((s) => s.name));
  const statuses = await stackUp({ log: (m) => say(`stack: ${m}`) });
  startedServices = statuses.filter((s) => s.managed && !wasUp.has(s.name)).map((s) => s.name);
  for (const s of statuses) say(`${s.name.padEnd(9)} ${s.state} at ${s.address}`);

  for (const [what, cmd] of [
    ['building the native addon', ['npm', 'run', 'build', '-w', '@pep/core-native']],
    [
      'building the lake addon (cached per source version; the first build takes several minutes)',
      ['npm', 'run', 'build:lake', '-w', '@pep/core-native'],
    ],
    ['migrating the pipeline schema', ['npm', 'run', 'migrate', '-w', '@pep/pipeline']],
    ['migrating the workflows schema', ['npm', 'run', 'migrate', '-w', '@pep/workflows']],
    ['migrating the orchestration schema', ['npm', 'run', 'migrate', '-w', '@pep/orchestration']],
  ] as const) {
    say(what);
    const [command, ...rest] = cmd;
    const { code } = await runStreaming(command, rest, { cwd: REPO_ROOT });
    if (code !== 0) throw new Error(`${what} failed (exit ${code})`);
  }

  // The dashboards: databases registered and the bundle imported (skipped when unchanged). A failure here leaves the
  // payment pipeline running and says why: the dashboards are for people, the pipeline is for the providers.
  let dashboards: readonly DashboardLink[] = [];
  try {
    const r = await provisionDashboards({ log: (m) => say(`dashboards: ${m}`) });
    dashboards = r.dashboards;
    say(`dashboards: ${r.imported ? 'imported' : 'up to date'} (${r.reason}); databases ${r.databases.join(', ')}`);
  } catch (err) {
    say(`dashboards: NOT provisioned: ${(err as Error).message} (retry with: npm run dashboards -- provision)`);
  }
  const printDashboards = () => {
    if (dashboards.length === 0) return;
    say(`dashboards at ${loginHint()}`);
    for (const d of dashboards) say(`  ${d.title.padEnd(11)} ${d.url}`);
  };

  for (const c of COMPONENTS) {
    // Readiness is probed over HTTP: another process on the port would answer for us and hide our failure.
    if (c.ready && (await portInUse(c.ready))) {
      throw new Error(
        `${c.name}: ${new URL(c.ready).host} is already in use by another process (set its port variable)`,
      );
    }
    launch(c);
    await waitReady(c);
    say(`${c.name.padEnd(11)} running (pid ${children.get(c.name)?.pid}, log ${logFile(c.name)})`);
  }

  // Schedules as code: created, updated or deleted to match orchestration/src/schedules.ts (idempotent).
  say('applying the batch schedules (npm run schedules -- apply)');
  const applied = await runStreaming(tsx, ['orchestration/src/schedules-cli.ts', 'apply'], { cwd: REPO_ROOT });
  if (applied.code !== 0) throw new Error(`applying the schedules failed (exit ${applied.code})`);
  say(
    `Temporal UI: http://127.0.0.1:${Number(process.env.TEMPORAL_UI_PORT ?? 8233)} (workflows, schedules); run history: npm run runs`,
  );

  progress = new Progress();
  await progress.connect();
  progress.every(PROGRESS_INTERVAL_MS);

  printDashboards();
  if (!simulate) {
    say('platform running without traffic (--no-simulate); Ctrl-C stops everything');
    return;
  }
  say(`simulating traffic: npm run simulate -- ${simulatorArgs.join(' ') || '(defaults)'}`);
  // The workflow/row part of the report covers this run's events (the topics keep earlier runs' records).
  const trafficStartedAt = new Date();
  const sim = spawn(tsx, ['simulator/src/cli.ts', '--quiet', ...simulatorArgs], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.set('simulator', sim);
  let simOut = '';
  sim.stdout.on('data', (c: Buffer) => (simOut += c.toString('utf8')));
  const simCode = await new Promise<number>((r) => sim.once('exit', (code) => r(code ?? 1)));
  children.delete('simulator');
  say(`simulator finished (exit ${simCode}); summary: ${simOut.trim().split('\n').at(-1) ?? ''}`);

  // Wait for every stage to drain (no lag, workflow rows stable) before reconciling.
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  // Workflows finish after the bridge has started them: wait for the row count to hold still for a few samples.
  let lastRows = -1;
  let stableSamples = 0;
  while (Date.now() < deadline && !stopping) {
    const p = await progress.sample();
    stableSamples = p.lags === 0 && p.rows === lastRows ? stableSamples + 1 : 0;
    if (stableSamples >= 3) break;
    lastRows = p.rows;
    await sleep(PROGRESS_INTERVAL_MS);
  }
  progress.quiet();
  say('reconciliation report');
  await runStreaming(tsx, ['pipeline/src/reconcile/cli.ts', '--since', trafficStartedAt.toISOString()], {
    cwd: REPO_ROOT,
  });
  printDashboards();
  say('platform still running; Ctrl-C stops everything');
  progress.every(10_000);
}

main().catch((err: unknown) => {
  console.error(`start: ${err instanceof Error ? err.message : String(err)}`);
  void shutdown(1);
});
