/**
 * Kafka failover under load (issue 17 item 5), on a three-node KRaft cluster of its own (`LocalKafkaCluster`:
 * replication factor 3, min.insync.replicas 2, ports of the stack's Kafka + 1000) with the platform's processes started
 * as the chart starts them (an edge, two transformers, a bridge, a quarantine consumer, a worker, the inference
 * service) while simulated traffic runs. In turn:
 *   1. leader moves: every partition's replica list rotated (ReassignPartitionsCommand), then a preferred-leader
 *      election (LeaderElectionCommand): every leader moves at once;
 *   2. SIGKILL of the broker leading most partitions;
 *   3. SIGKILL of the transformer group's coordinator;
 *   4. SIGKILL of the transformer's transaction coordinator.
 * Each under its own simulator run (FAILOVER_RATE/s for FAILOVER_ROUND_S s, the fault 5 s in). After the fault, a
 * signed probe webhook is sent until the edge acknowledges one, then the normalized and validation-DLQ topics are
 * watched until the transformer's output moves past that point: the recovery times (the killed broker is restarted only then, and the
 * test waits for full ISRs before the next fault), printed and written to
 * `.stack/failover-report.json`. At the end the pipeline must reconcile exactly (`npm run reconcile`: every raw record
 * in exactly one place, one workflow and one row per event) and every acknowledged webhook must be on the raw topics.
 * Needs PostgreSQL and Temporal from the stack (started here) and ~2.5 GB of memory; ~8 minutes on a busy machine.
 *
 * Isolation: the Kafka cluster is formatted afresh, so its topics restart at offset 0, while PostgreSQL and Temporal
 * are the stack's, shared with earlier runs and other tests. Each run therefore gets a database of its own (created
 * and migrated here, dropped at the end; quarantine rows are keyed by topic/partition/offset, so an earlier run's rows
 * at the same coordinates were counted against this run's DLQ records and this run's records were refused as
 * duplicates), task queues of its own (an earlier run's unfinished workflow tasks made the bridge's backpressure hold
 * this run's starts), and simulator seeds of its own per round (the same seed in every round and run sent the same
 * event ids again, so an event lost in one round was covered by its copy from another round or run).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOCAL_WEBHOOK_SECRETS, RAW_TOPICS, serviceAddresses, TOPICS } from '@pep/contracts';
import { KafkaCluster } from '@pep/kafka-wire/cluster';
import { kafkaTool, LocalKafkaCluster, STATE_DIR, startService } from '@pep/stack';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { LocalCluster, REPO_ROOT } from '../../src/local-cluster.ts';

const RATE = Number(process.env.FAILOVER_RATE ?? 25);
/** Seconds of traffic per fault (one simulator run each); the fault comes LEAD_MS after the traffic starts. */
const ROUND_S = Number(process.env.FAILOVER_ROUND_S ?? 30);
const LEAD_MS = 5_000;
const log = (m: string) => console.log(`# ${m}`);
/** This run's name: its database, task queues and (with FAILOVER_SEED unset) its simulator seeds. */
const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36)}`;
/** Seed of the first round; round i uses SEED + i (FAILOVER_SEED reproduces a run's traffic). */
const SEED = Number(process.env.FAILOVER_SEED ?? Math.floor(Math.random() * 2 ** 31));
const adminDbUrl = serviceAddresses().databaseUrl;
const database = `pep_failover_${RUN}`;
const databaseUrl = (() => {
  const u = new URL(adminDbUrl);
  u.pathname = `/${database}`;
  return u.toString();
})();
/** The platform's and reconcile's environment for this run. */
const runEnv = {
  DATABASE_URL: databaseUrl,
  TEMPORAL_TASK_QUEUE: `failover-${RUN}`,
  REVIEW_TASK_QUEUE: `failover-review-${RUN}`,
};

const kafkaCluster = new LocalKafkaCluster({ name: 'kafka-failover', portOffset: 1000 });
const brokers = kafkaCluster.bootstrap;
/**
 * This run's process logs, kept per run (the brokers' logs are copied here at the end): a shared folder was
 * overwritten by the next run, which lost the evidence of a slow drain (lag 42 for ~30 s, then 741; reconciled 154 s
 * after the traffic) before anyone read it.
 */
const RUN_LOGS = join(STATE_DIR, 'logs', `failover-${RUN}`);
const platform = new LocalCluster({
  logDir: RUN_LOGS,
  env: {
    KAFKA_BROKERS: brokers.join(','),
    INFERENCE_URL: 'http://127.0.0.1:18090',
    NODE_ENV: 'development',
    ...runEnv,
  },
});
const kafka = new Kafka({ clientId: 'failover-test', brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
const admin = kafka.admin();
const wire = new KafkaCluster({ brokers, clientId: 'failover-test', retry: { maxAttempts: 30, maxBackoffMs: 1000 } });

/** Sum of the topics' end offsets; retried while leaders move (kafkajs's admin does not refresh on NOT_LEADER). */
async function endOffsets(topics: readonly string[]): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      let sum = 0;
      for (const t of topics) for (const p of await admin.fetchTopicOffsets(t)) sum += Number(p.high);
      return sum;
    } catch (err) {
      if (attempt >= 60) throw err;
      await sleep(500);
    }
  }
}

/** A signed Stripe payment_intent.succeeded, as Stripe sends it (the local default secret). */
function probeRequest(): RequestInit {
  const id = randomUUID().replaceAll('-', '').slice(0, 16);
  const base = JSON.parse(
    readFileSync(
      join(REPO_ROOT, 'core-native', 'fixtures', 'payloads', 'stripe_payment_intent_succeeded.json'),
      'utf8',
    ),
  ) as { id: string; created: number; data: { object: Record<string, unknown> } };
  base.id = `evt_probe_${id}`;
  base.created = Math.floor(Date.now() / 1000);
  base.data.object.id = `pi_probe_${id}`;
  const body = JSON.stringify(base);
  const t = Math.floor(Date.now() / 1000);
  const v1 = createHmac('sha256', LOCAL_WEBHOOK_SECRETS.STRIPE_WEBHOOK_SECRET).update(`${t}.${body}`).digest('hex');
  return {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${v1}` },
  };
}

interface Recovery {
  readonly scenario: string;
  readonly detail: string;
  /** From the fault until the edge acknowledged a probe webhook (200). */
  readonly edge_ack_ms: number;
  /** From the fault until the transformer's committed output moved past what it was when the probe was acknowledged. */
  readonly transformer_output_ms: number;
  /** Probe attempts the edge refused (503) or that failed before the first 200. */
  readonly probes_refused: number;
}

interface ScenarioResult extends Recovery {
  /** Webhooks the edge answered 200 during the round (simulator and probe). */
  readonly acknowledged: number;
  /** Records added to the raw topics and the webhook DLQ during the round. */
  readonly records_written: number;
  /** Acknowledged minus written when positive: acknowledged webhooks that are not in Kafka. */
  readonly lost: number;
}

/** Probes the edge until a 200, then waits for the normalized topic to grow; bounded at 120 s. */
async function measureRecovery(scenario: string, detail: string, faultAt: number, edgeUrl: string): Promise<Recovery> {
  const deadline = faultAt + 120_000;
  let refused = 0;
  let ackAt = 0;
  while (Date.now() < deadline) {
    const res = await fetch(`${edgeUrl}/webhooks/stripe`, {
      ...probeRequest(),
      signal: AbortSignal.timeout(15_000),
    }).then(
      (r) => r.status,
      () => 0,
    );
    if (res === 200) {
      ackAt = Date.now();
      break;
    }
    refused++;
    await sleep(200);
  }
  assert.ok(ackAt > 0, `${scenario}: the edge acknowledged nothing within 120 s`);
  // The transformer writes every raw record to exactly one of these: either growing is its output moving.
  const outputs = [TOPICS.normalized, TOPICS.validationDlq];
  const outputAtAck = await endOffsets(outputs);
  let outputAt = 0;
  while (Date.now() < deadline) {
    if ((await endOffsets(outputs)) > outputAtAck) {
      outputAt = Date.now();
      break;
    }
    await sleep(250);
  }
  assert.ok(outputAt > 0, `${scenario}: the transformer wrote nothing within 120 s`);
  const r = {
    scenario,
    detail,
    edge_ack_ms: ackAt - faultAt,
    transformer_output_ms: outputAt - faultAt,
    probes_refused: refused,
  };
  log(`recovery ${JSON.stringify(r)}`);
  return r;
}

/** Every leader of the raw and normalized topics moved at once (replicas rotated, preferred leaders elected). */
async function moveAllLeaders(): Promise<string> {
  const n = await kafkaCluster.moveAllLeaders([...Object.values(RAW_TOPICS), TOPICS.normalized]);
  return `${n} partitions: replicas rotated, preferred leaders elected`;
}

/** The node leading most partitions of the raw and normalized topics. */
async function busiestLeader(): Promise<number> {
  const meta = await admin.fetchTopicMetadata({ topics: [...Object.values(RAW_TOPICS), TOPICS.normalized] });
  const count = new Map<number, number>();
  for (const t of meta.topics) for (const p of t.partitions) count.set(p.leader, (count.get(p.leader) ?? 0) + 1);
  return [...count].sort((a, b) => b[1] - a[1])[0]?.[0] as number;
}

before(async () => {
  for (const s of ['postgres', 'temporal'] as const) await startService(s, log);
  await kafkaCluster.start(log, { fresh: true });
  await admin.connect();
  await withAdminDb(async (db) => {
    // Databases of earlier runs that ended without their `after` (killed): nothing uses them any more.
    const stale = await db.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE 'pep_failover_%' AND datname <> $1`,
      [database],
    );
    for (const { datname } of stale.rows) await db.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    await db.query(`CREATE DATABASE ${database}`);
  });
  log(`run ${RUN}: database ${database}, task queue ${runEnv.TEMPORAL_TASK_QUEUE}, seeds ${SEED}..${SEED + 3}`);
  for (const script of ['pipeline/src/migrate.ts', 'workflows/src/migrate.ts']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, ...runEnv },
    });
    assert.equal(r.status, 0, `${script}: ${r.stderr}`);
  }
  await platform.start('inference', 1);
  await platform.start('worker', 1);
  await platform.start('quarantine', 1);
  await platform.start('transformer', 2);
  await platform.start('bridge', 1);
  await platform.start('edge', 1);
});

after(async () => {
  await platform.stopAll();
  wire.close();
  await admin.disconnect().catch(() => {});
  await kafkaCluster.stop();
  for (const f of ['kafka-failover.log', 'kafka-failover-2.log', 'kafka-failover-3.log']) {
    const from = join(STATE_DIR, 'logs', f);
    if (existsSync(from)) copyFileSync(from, join(RUN_LOGS, f));
  }
  log(`logs of this run: ${RUN_LOGS}`);
  await withAdminDb((db) => db.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
});

/** The transformer group's lagging partitions, `topic/partition committed..end`; for the drain's diagnostics. */
async function transformerLagDetail(): Promise<string> {
  try {
    const topics = Object.values(RAW_TOPICS);
    const committed = await admin.fetchOffsets({ groupId: 'pep-transformer', topics });
    const out: string[] = [];
    for (const t of committed) {
      for (const end of await admin.fetchTopicOffsets(t.topic)) {
        const c = Number(t.partitions.find((p) => p.partition === end.partition)?.offset ?? -1);
        // As groupLag counts it: from the committed offset, or from the log start without one.
        if (Math.max(c, Number(end.low)) < Number(end.high)) out.push(`${t.topic}/${end.partition} ${c}..${end.high}`);
      }
    }
    return out.join(', ') || 'none';
  } catch (err) {
    return `unavailable (${(err as Error).message})`;
  }
}

/**
 * Transactions of the cluster in a state other than complete or empty, each with Kafka's own description (state,
 * start time, duration, partitions), from its TransactionsCommand.
 */
function openTransactions(): string {
  try {
    const bootstrap = ['--bootstrap-server', brokers.join(',')];
    const list = kafkaTool('org.apache.kafka.tools.TransactionsCommand', [...bootstrap, 'list']);
    const open = [...list.matchAll(/^(\S+)\s+\d+\s+\d+\s+(\w+)\s*$/gm)]
      .filter(
        ([, id, state]) => id !== 'TransactionalId' && !/^(Empty|CompleteCommit|CompleteAbort)$/.test(state ?? ''),
      )
      .map(([, id]) => id as string);
    return (
      open
        .map((id) => {
          const d = kafkaTool('org.apache.kafka.tools.TransactionsCommand', [
            ...bootstrap,
            'describe',
            '--transactional-id',
            id,
          ]);
          const rows = d.split('\n').filter((l) => l.includes(id));
          return rows.map((r) => r.replace(/\s+/g, ' ').trim()).join(' | ');
        })
        .join('; ') || 'none'
    );
  } catch (err) {
    return `unavailable (${(err as Error).message.slice(0, 300)})`;
  }
}

/** A connection to the stack's database (where this run's database is created and dropped). */
async function withAdminDb<T>(fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: adminDbUrl });
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

test('leader moves and SIGKILL of a broker, the group coordinator and the transaction coordinator under load', async () => {
  const edge = platform.find('edge', 0);
  const rawTopics = Object.values(RAW_TOPICS);
  const rawBefore = await endOffsets(rawTopics);
  const dlqBefore = await endOffsets([TOPICS.webhooksDlq]);
  const startedAt = new Date();
  const byStatus: Record<string, number> = {};
  let networkErrors = 0;
  /** One simulator run of ROUND_S seconds: the traffic a fault happens under (a seed of its own: new event ids). */
  let rounds = 0;
  const round = () => {
    const seed = SEED + rounds++;
    const simulator = spawn(
      join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
      [
        'simulator/src/cli.ts',
        '--url',
        edge.url,
        '--rate',
        String(RATE),
        '--duration',
        String(ROUND_S),
        '--invalid-rate',
        '0.05',
        '--duplicate-rate',
        '0.02',
        '--seed',
        String(seed),
        '--truth',
        join(STATE_DIR, 'failover-truth.jsonl'),
        '--quiet',
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    simulator.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    return new Promise<number>((resolve) =>
      simulator.once('exit', () => {
        // Exit 1 means some answers were not the expected ones: 503s while Kafka could not acknowledge are such
        // answers (the provider retries them); the statuses are checked below.
        const summary = JSON.parse(out.trim().split('\n').pop() || '{}') as {
          by_status?: Record<string, number>;
          network_errors?: number;
        };
        for (const [k, v] of Object.entries(summary.by_status ?? {})) byStatus[k] = (byStatus[k] ?? 0) + v;
        networkErrors += summary.network_errors ?? 0;
        resolve(summary.by_status?.['200'] ?? 0);
      }),
    );
  };

  const recoveries: ScenarioResult[] = [];
  const written = async () => (await endOffsets(rawTopics)) + (await endOffsets([TOPICS.webhooksDlq]));
  /**
   * Traffic starts, the fault is injected after a few seconds, recovery is measured, then `heal` (a restart). The
   * records written to the raw topics and the webhook DLQ while the round ran (after the heal, so a truncated log
   * would show) must cover every webhook the edge acknowledged in it: `lost` is the shortfall.
   */
  const scenario = async (name: string, inject: () => Promise<string>, heal?: () => Promise<void>) => {
    const before = await written();
    const traffic = round();
    await sleep(LEAD_MS);
    const detail = await inject();
    const recovery = await measureRecovery(name, detail, Date.now(), edge.url);
    await heal?.();
    const acknowledged = (await traffic) + 1; // the probe
    const records = (await written()) - before;
    recoveries.push({ ...recovery, acknowledged, records_written: records, lost: Math.max(0, acknowledged - records) });
  };
  await scenario('leader moves', moveAllLeaders);
  /** The node killed last, restarted by `heal` once the recovery was measured. */
  let node = 0;
  const kill = (what: string, pick: () => Promise<number>) => async () => {
    node = await pick();
    await kafkaCluster.kill(node);
    return `node ${node} (${what}) killed; restarted after recovery was measured`;
  };
  const heal = async () => {
    await kafkaCluster.restart(node, log);
    await kafkaCluster.waitInSync();
    wire.markStale();
  };
  await scenario('broker SIGKILL', kill('leading the most partitions', busiestLeader), heal);
  await scenario(
    'group coordinator SIGKILL',
    kill('coordinator of group pep-transformer', () => {
      wire.forgetCoordinator('group', 'pep-transformer');
      return wire.coordinator('group', 'pep-transformer');
    }),
    heal,
  );
  await scenario(
    'transaction coordinator SIGKILL',
    kill('coordinator of transactional id pep-transformer-0', () => {
      wire.forgetCoordinator('transaction', 'pep-transformer-0');
      return wire.coordinator('transaction', 'pep-transformer-0');
    }),
    heal,
  );

  const unexpected = Object.keys(byStatus).filter((k) => !/^(200|4\d\d|503)$/.test(k));
  assert.deepEqual(unexpected, [], `statuses other than 200, 4xx and 503: ${JSON.stringify(byStatus)}`);
  const acknowledged = (byStatus['200'] ?? 0) + recoveries.length;
  assert.ok(acknowledged > RATE * ROUND_S * 4 * 0.5, `too few acknowledged: ${JSON.stringify(byStatus)}`);

  // Drain, then reconcile exactly against this cluster (bounded: restarted consumers rejoin and catch up).
  let report: {
    verdict?: string;
    checks?: { name: string; ok: boolean; detail: string }[];
    stages?: { placement?: { duplicate_outputs?: number; raw_missing_outputs?: number } };
  } = {};
  const drainStarted = Date.now();
  while (Date.now() - drainStarted < 300_000) {
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'pipeline/src/reconcile/cli.ts',
        '--json',
        '--no-edge',
        '--no-lake',
        '--since',
        startedAt.toISOString(),
      ],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        maxBuffer: 64 << 20,
        timeout: 180_000,
        env: { ...process.env, ...runEnv, KAFKA_BROKERS: brokers.join(',') },
      },
    );
    try {
      report = JSON.parse(r.stdout);
    } catch {
      report = { verdict: `unparseable (exit ${r.status}): ${r.stderr.slice(-500)}` };
    }
    if (report.verdict === 'reconciled') break;
    const open = (report.checks ?? []).filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
    log(
      `not reconciled yet after ${Math.round((Date.now() - drainStarted) / 1000)} s: ${open.join('; ') || report.verdict}`,
    );
    // What a slow drain is waiting on: which partitions lag, and any transaction not complete (an open one blocks
    // read_committed readers and require_stable offset fetches until it ends or times out).
    log(`  transformer lag by partition: ${await transformerLagDetail()}`);
    log(`  transactions not complete: ${openTransactions()}`);
    await sleep(10_000);
  }
  const failed = (report.checks ?? []).filter((c) => !c.ok);

  // No acknowledged webhook lost: acknowledged (200) ≤ raw records + webhook-DLQ records written meanwhile.
  const rawDelta = (await endOffsets(rawTopics)) - rawBefore;
  const dlqDelta = (await endOffsets([TOPICS.webhooksDlq])) - dlqBefore;

  const out = {
    run: RUN,
    seeds: [SEED, SEED + rounds - 1],
    rate: RATE,
    round_s: ROUND_S,
    by_status: byStatus,
    network_errors: networkErrors,
    acknowledged,
    raw_records: rawDelta,
    webhook_dlq_records: dlqDelta,
    verdict: report.verdict,
    duplicate_outputs: report.stages?.placement?.duplicate_outputs ?? null,
    missing_outputs: report.stages?.placement?.raw_missing_outputs ?? null,
    reconcile_after_traffic_s: Math.round((Date.now() - drainStarted) / 1000),
    checks: (report.checks ?? []).map((c) => `${c.ok ? 'ok' : 'FAIL'} ${c.name}: ${c.detail}`),
    scenarios: recoveries,
  };
  writeFileSync(join(STATE_DIR, 'failover-report.json'), `${JSON.stringify(out, null, 2)}\n`);
  log(`failover: ${JSON.stringify(out)}`);
  assert.equal(report.verdict, 'reconciled', `not reconciled: ${JSON.stringify(failed.length ? failed : report)}`);
  assert.ok(rawDelta + dlqDelta >= acknowledged, `acknowledged ${acknowledged} > raw ${rawDelta} + DLQ ${dlqDelta}`);
  for (const r of recoveries) {
    assert.equal(r.lost, 0, `${r.scenario}: ${r.acknowledged} acknowledged, ${r.records_written} records written`);
    assert.ok(r.transformer_output_ms < 120_000, `${r.scenario} recovered`);
  }
});
