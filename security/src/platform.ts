/**
 * The whole platform as separate real processes on private topics, consumer groups and task queues, for the security
 * suite and the `security` benchmark: inference, the Temporal worker's payment lane and review lane (two processes),
 * the transformer, the quarantine consumer, the workflow bridge's payment lane and review lane and the edge (Bun), as
 * `npm start` runs them (the review lanes and the quarantine consumer at CPU niceness 10), each with its log in a file so a test can scan
 * it. Needs the local stack (`npm run stack:up`: Kafka, Temporal, PostgreSQL). A process that exits before stop() is
 * a crash (`crashes()`). Not for production: `npm start` runs the services on the contract topics.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OTHER_TOPICS, RAW_TOPICS, serviceAddresses, TOPICS } from '@pep/contracts';
import { exitWithParentSpawn } from '@pep/contracts/parent';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import { REPO_ROOT } from '@pep/stack/paths';
import { freePort } from '@pep/stack/ports';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';

const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const BUN = join(REPO_ROOT, 'node_modules', '.bin', 'bun');
const READY_TIMEOUT_MS = 90_000;

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** CPU seconds of a process and its descendants from /proc (0 when unreadable). */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  const stack = [pid];
  for (let n = 0; stack.length > 0 && n < 64; n++) {
    const p = stack.pop() as number;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime, stime, and cutime, cstime (fields 14-17: children that exited, e.g. PostgreSQL's backends, count too)
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      for (const t of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(' ')) if (c) stack.push(Number(c));
      }
    } catch {
      // gone or not Linux
    }
  }
  return ticks / CLOCK_TICKS;
}

export interface PlatformOptions {
  /** Extra environment per service (e.g. lower limits for a test), merged over the harness's own. */
  readonly env?: Partial<Record<ServiceName, Record<string, string>>>;
  /** Partitions of the raw and normalized topics (default 3). */
  readonly partitions?: number;
  /**
   * The layout before issue 13's lanes, for A/B measurements: payments and reviews in one worker and one bridge
   * process, nothing at a lower CPU priority (default false: the review lanes apart, as `npm start` runs them).
   */
  readonly sharedLanes?: boolean;
  /**
   * The payment lane (`worker`, `bridge`) and the inference service each start in a session of their own (default
   * true unless sharedLanes), as separate containers are separate cgroups in a deployment: with the kernel's
   * autogroup scheduling (Linux's default for sessions) a session is one CPU scheduling group, so the work a flood
   * adds to the edge, the transformer, the quarantine consumer and the review lanes (one group with this harness)
   * does not take the payment lane's share of the CPU. false: every service in the harness's own session (the
   * layout before; A/B).
   */
  readonly paymentLaneOwnSession?: boolean;
}

/** Services that run in a session (CPU scheduling group) of their own unless `paymentLaneOwnSession` is false. */
export const OWN_SESSION_SERVICES: readonly ServiceName[] = ['worker', 'bridge', 'inference'];

export type ServiceName =
  | 'inference'
  | 'worker'
  | 'review-worker'
  | 'transformer'
  | 'quarantine'
  | 'bridge'
  | 'review-bridge'
  | 'edge';

/** Every service, in start order (consumers first). */
export const SERVICES: readonly ServiceName[] = [
  'inference',
  'worker',
  'review-worker',
  'quarantine',
  'transformer',
  'bridge',
  'review-bridge',
  'edge',
];

/**
 * CPU niceness of the lanes that may wait (review registration and its worker, the quarantine consumer), as `npm
 * start` runs them: a flood of invalid events yields the CPU to the payment path (issue 13).
 */
const REVIEW_LANE_NICE = '10';

export interface Topics {
  readonly prefix: string;
  readonly raw: readonly string[];
  /** `webhooks.<provider>.other`: verified events outside the vocabulary (kept for replay, not transformed). */
  readonly other: readonly string[];
  readonly normalized: string;
  readonly validationDlq: string;
  readonly webhooksDlq: string;
}

interface Running {
  readonly name: ServiceName;
  readonly child: ChildProcess;
  readonly log: string;
  exit: { code: number | null; signal: string | null } | null;
}

/** The Square notification URL the edge of the harness is configured with (requests are signed over it). */
export const SQUARE_URL = 'http://security.test/webhooks/square';

type ServicePorts = Record<ServiceName, number>;

async function freePorts(): Promise<ServicePorts> {
  const port = {} as ServicePorts;
  const taken = new Set<number>();
  for (const name of SERVICES) port[name] = await freePort(taken);
  return port;
}

/** Where each service says it is ready: the edge's /readyz, the inference service's /health, the others' /metrics. */
function readyUrls(port: ServicePorts): Record<ServiceName, string> {
  return {
    inference: `http://127.0.0.1:${port.inference}/health`,
    worker: `http://127.0.0.1:${port.worker}/metrics`,
    'review-worker': `http://127.0.0.1:${port['review-worker']}/metrics`,
    transformer: `http://127.0.0.1:${port.transformer}/metrics`,
    quarantine: `http://127.0.0.1:${port.quarantine}/metrics`,
    bridge: `http://127.0.0.1:${port.bridge}/metrics`,
    'review-bridge': `http://127.0.0.1:${port['review-bridge']}/metrics`,
    edge: `http://127.0.0.1:${port.edge}/readyz`,
  };
}

const SERVICE_ARGV: Record<ServiceName, string[]> = {
  inference: [TSX, 'ml/src/server.ts'],
  worker: [TSX, 'workflows/src/worker.ts'],
  'review-worker': [TSX, 'workflows/src/worker.ts'],
  transformer: [TSX, 'pipeline/src/transformer/main.ts'],
  quarantine: [TSX, 'pipeline/src/quarantine/main.ts'],
  bridge: [TSX, 'pipeline/src/bridge/main.ts'],
  'review-bridge': [TSX, 'pipeline/src/bridge/main.ts'],
  edge: [BUN, 'run', 'edge/src/main.ts'],
};

export class Platform {
  readonly tag = `sec${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  readonly topics: Topics;
  readonly taskQueue = `${this.tag}-payments`;
  readonly reviewTaskQueue = `${this.tag}-reviews`;
  readonly logDir = join(tmpdir(), `pep-security-${this.tag}`);
  readonly addr = serviceAddresses();
  edgeUrl = '';
  /** Each service's metrics (or health) URL, once started. */
  readonly metricsUrls: Partial<Record<ServiceName, string>> = {};
  private readonly running: Running[] = [];
  private stopping = false;

  constructor(private readonly opts: PlatformOptions = {}) {
    const prefix = `${this.tag}.`;
    this.topics = {
      prefix,
      raw: Object.values(RAW_TOPICS).map((t) => prefix + t),
      other: Object.values(OTHER_TOPICS).map((t) => prefix + t),
      normalized: prefix + TOPICS.normalized,
      validationDlq: prefix + TOPICS.validationDlq,
      webhooksDlq: prefix + TOPICS.webhooksDlq,
    };
  }

  kafka(clientId = this.tag): Kafka {
    return new Kafka({ clientId, brokers: [...this.addr.kafkaBrokers], logLevel: logLevel.NOTHING });
  }

  /** The environment under which `npm run reconcile` checks this platform's topics, groups and task queue. */
  reconcileEnv(): Record<string, string> {
    return {
      TRANSFORMER_INPUT_TOPICS: this.topics.raw.join(','),
      TRANSFORMER_NORMALIZED_TOPIC: this.topics.normalized,
      TRANSFORMER_DLQ_TOPIC: this.topics.validationDlq,
      TRANSFORMER_GROUP_ID: `${this.tag}-transformer`,
      QUARANTINE_WEBHOOK_DLQ_TOPIC: this.topics.webhooksDlq,
      QUARANTINE_VALIDATION_DLQ_TOPIC: this.topics.validationDlq,
      QUARANTINE_GROUP_ID: `${this.tag}-quarantine`,
      RECONCILE_OTHER_TOPICS: this.topics.other.join(','),
      TEMPORAL_TASK_QUEUE: this.taskQueue,
    };
  }

  /** Creates the private topics and starts every service, consumers first; resolves when all are ready. */
  async start(): Promise<void> {
    mkdirSync(this.logDir, { recursive: true });
    await this.createPrivateTopics();
    const port = await freePorts();
    const env = this.serviceEnv(port);
    const ready = readyUrls(port);
    this.edgeUrl = `http://127.0.0.1:${port.edge}`;
    Object.assign(this.metricsUrls, ready);
    if (this.opts.sharedLanes) {
      env.worker.WORKER_LANES = 'payments,reviews';
      env.bridge.BRIDGE_REVIEWS = 'true';
      env.quarantine.QUARANTINE_NICE = '0';
    }
    for (const name of SERVICES.filter((n) => !this.opts.sharedLanes || !n.startsWith('review-'))) {
      this.launch(name, SERVICE_ARGV[name], { ...env[name], ...(this.opts.env?.[name] ?? {}) });
      await this.waitReady(name, ready[name]);
    }
  }

  /** The platform's private topics: raw and other topics with the configured partitions, single-partition DLQs. */
  private async createPrivateTopics(): Promise<void> {
    const admin = this.kafka('security-admin').admin();
    await admin.connect();
    try {
      const p = this.opts.partitions ?? 3;
      await createTopicsAndWait(admin, [
        ...[...this.topics.raw, ...this.topics.other].map((topic) => ({
          topic,
          numPartitions: p,
          replicationFactor: 1,
        })),
        { topic: this.topics.normalized, numPartitions: p, replicationFactor: 1 },
        { topic: this.topics.validationDlq, numPartitions: 1, replicationFactor: 1 },
        { topic: this.topics.webhooksDlq, numPartitions: 1, replicationFactor: 1 },
      ]);
    } finally {
      await admin.disconnect();
    }
  }

  /** Each service's environment: this platform's topics, groups, task queues and ports. */
  private serviceEnv(port: ServicePorts): Record<ServiceName, Record<string, string>> {
    const common = { PIPELINE_LOG_LEVEL: 'info', LOG_LEVEL: 'info', NODE_ENV: 'development' };
    return {
      inference: { ...common, INFERENCE_PORT: String(port.inference), INFERENCE_HOST: '127.0.0.1' },
      worker: {
        ...common,
        TEMPORAL_TASK_QUEUE: this.taskQueue,
        REVIEW_TASK_QUEUE: this.reviewTaskQueue,
        INFERENCE_URL: `http://127.0.0.1:${port.inference}`,
        WORKER_METRICS_PORT: String(port.worker),
        WORKER_LANES: 'payments',
      },
      'review-worker': {
        ...common,
        TEMPORAL_TASK_QUEUE: this.taskQueue,
        REVIEW_TASK_QUEUE: this.reviewTaskQueue,
        INFERENCE_URL: `http://127.0.0.1:${port.inference}`,
        WORKER_METRICS_PORT: String(port['review-worker']),
        WORKER_LANES: 'reviews',
        WORKER_NICE: REVIEW_LANE_NICE,
      },
      transformer: {
        ...common,
        TRANSFORMER_INPUT_TOPICS: this.topics.raw.join(','),
        TRANSFORMER_NORMALIZED_TOPIC: this.topics.normalized,
        TRANSFORMER_DLQ_TOPIC: this.topics.validationDlq,
        TRANSFORMER_GROUP_ID: `${this.tag}-transformer`,
        TRANSFORMER_TRANSACTIONAL_ID: `${this.tag}-transformer-0`,
        TRANSFORMER_METRICS_PORT: String(port.transformer),
      },
      quarantine: {
        ...common,
        QUARANTINE_WEBHOOK_DLQ_TOPIC: this.topics.webhooksDlq,
        QUARANTINE_VALIDATION_DLQ_TOPIC: this.topics.validationDlq,
        QUARANTINE_GROUP_ID: `${this.tag}-quarantine`,
        QUARANTINE_METRICS_PORT: String(port.quarantine),
        QUARANTINE_NICE: REVIEW_LANE_NICE,
      },
      bridge: {
        ...common,
        TEMPORAL_TASK_QUEUE: this.taskQueue,
        REVIEW_TASK_QUEUE: this.reviewTaskQueue,
        BRIDGE_NORMALIZED_TOPIC: this.topics.normalized,
        BRIDGE_VALIDATION_DLQ_TOPIC: this.topics.validationDlq,
        BRIDGE_GROUP_ID: `${this.tag}-bridge`,
        BRIDGE_REVIEW_GROUP_ID: `${this.tag}-bridge-reviews`,
        BRIDGE_METRICS_PORT: String(port.bridge),
        BRIDGE_REVIEWS: 'false',
      },
      'review-bridge': {
        ...common,
        TEMPORAL_TASK_QUEUE: this.taskQueue,
        REVIEW_TASK_QUEUE: this.reviewTaskQueue,
        BRIDGE_CLIENT_ID: `${this.tag}-review-bridge`,
        BRIDGE_NORMALIZED_TOPIC: this.topics.normalized,
        BRIDGE_VALIDATION_DLQ_TOPIC: this.topics.validationDlq,
        BRIDGE_GROUP_ID: `${this.tag}-bridge`,
        BRIDGE_REVIEW_GROUP_ID: `${this.tag}-bridge-reviews`,
        BRIDGE_METRICS_PORT: String(port['review-bridge']),
        BRIDGE_PAYMENTS: 'false',
        BRIDGE_NICE: REVIEW_LANE_NICE,
      },
      edge: {
        ...common,
        EDGE_PORT: String(port.edge),
        EDGE_HOST: '127.0.0.1',
        EDGE_TOPIC_PREFIX: this.topics.prefix,
        SQUARE_NOTIFICATION_URL: SQUARE_URL,
      },
    };
  }

  private launch(name: ServiceName, argv: string[], env: Record<string, string>): void {
    const log = join(this.logDir, `${name}.log`);
    const fd = openSync(log, 'a');
    const [cmd, ...args] = argv as [string, ...string[]];
    const ownSession =
      (this.opts.paymentLaneOwnSession ?? !this.opts.sharedLanes) && OWN_SESSION_SERVICES.includes(name);
    // stdin a pipe nobody writes: if this process dies (even SIGKILL), the services stop too (exitWithParent).
    const watch = exitWithParentSpawn({ ...process.env, ...env });
    const child = spawn(cmd, args, {
      cwd: REPO_ROOT,
      stdio: [watch.stdin, fd, fd],
      env: watch.env,
      // setsid(): its own session, hence its own autogroup; stop() still signals it by pid.
      detached: ownSession,
    });
    const r: Running = { name, child, log, exit: null };
    child.once('exit', (code, signal) => {
      r.exit = { code, signal };
    });
    this.running.push(r);
  }

  private async waitReady(name: ServiceName, url: string): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const r = this.running.find((x) => x.name === name) as Running;
    while (Date.now() < deadline) {
      if (r.exit) throw new Error(`${name} exited during start-up (${JSON.stringify(r.exit)}):\n${this.tail(name)}`);
      const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
        (res) => res.ok,
        () => false,
      );
      if (ok) return;
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`${name} not ready at ${url} within ${READY_TIMEOUT_MS} ms:\n${this.tail(name)}`);
  }

  /** The log of a service so far. */
  log(name: ServiceName): string {
    const r = this.running.find((x) => x.name === name);
    try {
      return r ? readFileSync(r.log, 'utf8') : '';
    } catch {
      return '';
    }
  }

  tail(name: ServiceName, lines = 30): string {
    return this.log(name).trimEnd().split('\n').slice(-lines).join('\n');
  }

  /**
   * CPU seconds (user + system) each running service has used so far, its child processes included (tsx runs the
   * service in a child node): read from /proc (Linux), 0 elsewhere. Benchmarks diff two readings.
   */
  cpuSeconds(): Partial<Record<ServiceName, number>> {
    const out: Partial<Record<ServiceName, number>> = {};
    for (const r of this.running) if (r.exit === null && r.child.pid) out[r.name] = treeCpuSeconds(r.child.pid);
    return out;
  }

  /** Services that exited while the platform was running (a crash: none may). */
  crashes(): { name: ServiceName; code: number | null; signal: string | null }[] {
    return this.running
      .filter((r) => r.exit !== null)
      .map((r) => ({ name: r.name, ...(r.exit as Running['exit'] & {}) }));
  }

  /** Stops every service (SIGTERM, then SIGKILL after 20 s), edge first. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const r of [...this.running].reverse()) {
      if (r.exit) continue;
      const exited = new Promise<void>((res) => r.child.once('exit', () => res()));
      r.child.kill('SIGTERM');
      const timer = setTimeout(() => r.child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
  }

  /** Deletes the private topics (after stop). */
  async deleteTopics(): Promise<void> {
    const admin = this.kafka('security-admin').admin();
    await admin.connect();
    await admin
      .deleteTopics({
        topics: [
          ...this.topics.raw,
          ...this.topics.other,
          this.topics.normalized,
          this.topics.validationDlq,
          this.topics.webhooksDlq,
        ],
      })
      .catch(() => undefined);
    await admin.disconnect();
  }
}
