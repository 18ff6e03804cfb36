/**
 * Kafka 4.x, one combined broker+controller node in KRaft mode, run from the jars Maven resolves (no tarball, no
 * Docker). Storage is formatted on first start; auto topic creation is off and the stack creates the topics of
 * CONTRACT section 5 itself.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PARTITIONS, SERVICE_DEFAULTS, TOPIC_SPECS, type TopicKind } from '@pep/contracts';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import { Kafka, logLevel } from 'kafkajs';
import { CACHE_DIR, REPO_ROOT, serviceStateDir } from '../paths.ts';
import { commandExists, run, runAsync, startDetached } from '../process.ts';
import type { Logger, Service } from '../service.ts';

const { host, port, controllerPort } = SERVICE_DEFAULTS.kafka;
const POM = join(REPO_ROOT, 'stack', 'kafka', 'pom.xml');
const KAFKA_VERSION = '4.1.1';
const LIB_DIR = join(CACHE_DIR, `kafka-${KAFKA_VERSION}`, 'lib');
const STATE = serviceStateDir('kafka');
const DATA_DIR = join(STATE, 'data');
const CONFIG_FILE = join(STATE, 'server.properties');
/** Small heap: Kafka shares two cores and the machine's memory with Temporal, PostgreSQL, Redis and the tests. */
const HEAP = process.env.KAFKA_HEAP_OPTS ?? '-Xms256m -Xmx768m';

/** Partition count per topic kind, overridable per kind (KAFKA_PARTITIONS_RAW, _NORMALIZED, _DLQ). */
export function partitionsFor(kind: TopicKind, env: NodeJS.ProcessEnv = process.env): number {
  // Each variable read by name, so that the configuration reference's check sees it.
  const raw = {
    raw: env.KAFKA_PARTITIONS_RAW,
    normalized: env.KAFKA_PARTITIONS_NORMALIZED,
    dlq: env.KAFKA_PARTITIONS_DLQ,
  }[kind];
  if (raw === undefined || raw === '') return DEFAULT_PARTITIONS[kind];
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new Error(
      `KAFKA_PARTITIONS_${kind.toUpperCase()} must be an integer in [1, 1000], got ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

/** The broker configuration the stack writes (exported so the docker-compose test compares against it). */
export function serverProperties(): string {
  return `${[
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${host}:${controllerPort}`,
    `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://${host}:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${DATA_DIR}`,
    'auto.create.topics.enable=false',
    'num.partitions=3',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    // Single node: internal topics must have replication 1 or consumer groups and transactions hang.
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=5',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=5',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'num.network.threads=2',
    'num.io.threads=4',
    'log.retention.hours=168',
  ].join('\n')}\n`;
}

export function kafkaAdminClient() {
  return new Kafka({
    clientId: 'pep-stack',
    brokers: [`${host}:${port}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  }).admin();
}

export const kafka: Service = {
  name: 'kafka',
  address: `${host}:${port}`,
  startTimeoutMs: 120_000,

  async ensureInstalled(log: Logger) {
    if (!commandExists('java')) {
      throw new Error('Kafka needs Java 17 or newer: install it (e.g. `apt-get install -y openjdk-17-jre-headless`).');
    }
    if (existsSync(LIB_DIR) && readdirSync(LIB_DIR).some((f) => f.startsWith('kafka_2.13-'))) return;
    if (!commandExists('mvn')) {
      throw new Error('Kafka jars are resolved with Maven: install it (e.g. `apt-get install -y maven`).');
    }
    log(`resolving Kafka ${KAFKA_VERSION} jars from Maven Central into ${LIB_DIR}`);
    mkdirSync(LIB_DIR, { recursive: true });
    await runAsync(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        POM,
        `-Dkafka.version=${KAFKA_VERSION}`,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${LIB_DIR}`,
        '-DincludeScope=runtime',
      ],
      { what: 'Maven resolution of the Kafka jars' },
    );
  },

  async isHealthy() {
    const admin = kafkaAdminClient();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      return cluster.brokers.length > 0;
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => {});
    }
  },

  async start(log: Logger) {
    mkdirSync(STATE, { recursive: true });
    writeFileSync(CONFIG_FILE, serverProperties());
    const classpath = `${LIB_DIR}/*`;
    if (!existsSync(join(DATA_DIR, 'meta.properties'))) {
      // A base64url id may start with '-', which the storage tool's argument parser takes for an option (a cold
      // start failed 1 time in 32 that way): such an id is drawn again, as Kafka's own Uuid.randomUuid does.
      let clusterId = randomBytes(16).toString('base64url').slice(0, 22);
      while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url').slice(0, 22);
      log(`formatting Kafka storage (cluster id ${clusterId})`);
      await runAsync(
        'java',
        ['-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', CONFIG_FILE],
        {
          what: 'Kafka storage format',
        },
      );
    }
    return startDetached({
      service: 'kafka',
      command: 'java',
      args: [
        ...HEAP.split(/\s+/).filter(Boolean),
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-Djava.awt.headless=true',
        '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
        '-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info',
        '-cp',
        classpath,
        'kafka.Kafka',
        CONFIG_FILE,
      ],
    });
  },

  async provision(log: Logger) {
    const admin = kafkaAdminClient();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = TOPIC_SPECS.filter((t) => !existing.has(t.name));
      if (missing.length === 0) return;
      log(`creating topics: ${missing.map((t) => t.name).join(', ')}`);
      await createTopicsAndWait(
        admin,
        missing.map((t) => ({ topic: t.name, numPartitions: partitionsFor(t.kind), replicationFactor: 1 })),
      );
    } finally {
      await admin.disconnect();
    }
  },
};
