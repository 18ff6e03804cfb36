/**
 * Kafka 4.x, one combined broker+controller node in KRaft mode, run from the jars Maven resolves (no tarball, no
 * Docker). Storage is formatted on first start; auto topic creation is off and the stack creates the topics of
 * CONTRACT section 5 itself.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PARTITIONS, SERVICE_DEFAULTS, TOPIC_SPECS, type TopicKind } from '@pep/contracts';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import { JVM_ROOT, jdkVersionOf, newestJdk } from '../jdk.ts';
import { CACHE_DIR, REPO_ROOT, serviceStateDir } from '../paths.ts';
import { commandExists, forgetPid, managedPid, run, runAsync, startDetached, stopProcess } from '../process.ts';
import type { Logger, Service } from '../service.ts';
import { ensureLocalTls, type TlsFiles, tlsFiles } from '../tls.ts';

const { host, port, controllerPort, saslSslPort } = SERVICE_DEFAULTS.kafka;
const POM = join(REPO_ROOT, 'stack', 'kafka', 'pom.xml');
const KAFKA_VERSION = '4.1.1';
const LIB_DIR = join(CACHE_DIR, `kafka-${KAFKA_VERSION}`, 'lib');
const STATE = serviceStateDir('kafka');
/**
 * Small heap: Kafka shares two cores and the machine's memory with Temporal, PostgreSQL, Redis and the tests. Fixed
 * (Xms = Xmx): a heap that starts small and grows gives small young generations, so more, and resizing, pauses.
 */
const HEAP = process.env.KAFKA_HEAP_OPTS ?? '-Xms768m -Xmx768m';
/** Per node of a three-node cluster: three JVMs share the machine. */
const CLUSTER_HEAP = process.env.KAFKA_HEAP_OPTS ?? '-Xms384m -Xmx384m';

/** The local SASL user (SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN) on the SASL_SSL listener. Local development only. */
export const LOCAL_KAFKA_SASL = Object.freeze({ username: 'pep', password: 'pep-local-secret' });

/**
 * The broker's JVM: `java` (KAFKA_JAVA_HOME's, else the newest JDK 21+ under /usr/lib/jvm, else the one on PATH) and
 * its garbage collector (KAFKA_GC: `zgc`, generational ZGC, the default on a JDK 21+; `g1` with 20 ms pause goals, the
 * default on an older JDK). G1's young pauses (7 per 10 s, up to 25 ms, on a quiet machine at 12k events/s) sat in
 * the pipeline's p99: each event meets the broker four times on its way to a read_committed reader; ZGC's pauses are
 * ~0.01-0.05 ms (bench/HISTORY.md, section pipeline).
 */
export function kafkaJvm(
  env: NodeJS.ProcessEnv = process.env,
  jvmRoot = JVM_ROOT,
): { java: string; version: number; gcArgs: string[] } {
  let home = env.KAFKA_JAVA_HOME?.trim() || '';
  let version = home ? jdkVersionOf(home.split('/').filter(Boolean).pop() ?? '') : 0;
  if (!home) {
    const best = newestJdk(21, jvmRoot);
    if (best) ({ home, version } = best);
  }
  const gc = env.KAFKA_GC?.trim() || (version >= 21 ? 'zgc' : 'g1');
  if (gc !== 'zgc' && gc !== 'g1') throw new Error(`KAFKA_GC must be zgc or g1, got ${JSON.stringify(env.KAFKA_GC)}`);
  if (gc === 'zgc' && version > 0 && version < 21)
    throw new Error(`KAFKA_GC=zgc needs a JDK 21 or newer (generational ZGC); the broker's JDK is ${version}`);
  const gcArgs =
    gc === 'g1'
      ? ['-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20']
      : // JDK 21-22 need the flag for the generational mode; from 23 it is the only mode (and the flag is gone in 24).
        ['-XX:+UseZGC', ...(version < 23 ? ['-XX:+ZGenerational'] : [])];
  return { java: home ? join(home, 'bin', 'java') : 'java', version, gcArgs };
}

/** KAFKA_NODES: 1 (default) or 3 (three KRaft nodes, replication factor 3, min.insync.replicas 2). */
export function kafkaNodes(env: NodeJS.ProcessEnv = process.env): 1 | 3 {
  const raw = env.KAFKA_NODES?.trim() || '1';
  if (raw !== '1' && raw !== '3') throw new Error(`KAFKA_NODES must be 1 or 3, got ${JSON.stringify(env.KAFKA_NODES)}`);
  return raw === '3' ? 3 : 1;
}

/** Ports of node `index` (0-based): node 0 has the default ports, node i the same plus 100·i (plus `offset`). */
export function kafkaNodePorts(index: number, offset = 0) {
  const o = offset + 100 * index;
  return {
    plaintext: port + o,
    controller: controllerPort + o,
    saslSsl: saslSslPort + o,
    /** SSL with a client certificate required (mTLS), no SASL. */
    mtls: saslSslPort + 1 + o,
  };
}

/** Every node's PLAINTEXT address, e.g. for KAFKA_BROKERS. */
export const kafkaBootstrap = (nodes: number = kafkaNodes()): string[] =>
  Array.from({ length: nodes }, (_, i) => `${host}:${kafkaNodePorts(i).plaintext}`);

/** Every node's mTLS (SSL, client certificate required) address. */
export const kafkaMtlsBootstrap = (nodes: number = kafkaNodes()): string[] =>
  Array.from({ length: nodes }, (_, i) => `localhost:${kafkaNodePorts(i).mtls}`);

/** Every node's SASL_SSL address (advertised as `localhost`, the name in the broker certificate). */
export const kafkaSaslSslBootstrap = (nodes: number = kafkaNodes()): string[] =>
  Array.from({ length: nodes }, (_, i) => `localhost:${kafkaNodePorts(i).saslSsl}`);

/**
 * The environment a user sets for the local stack's SASL_SSL listener: its CA, its SASL user, `mechanism`
 * (default SCRAM-SHA-512); `extra` overrides any of it (a wrong password, another CA).
 */
export function localSaslSslEnv(
  mechanism = 'SCRAM-SHA-512',
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    KAFKA_BROKERS: kafkaSaslSslBootstrap(1).join(','),
    KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KAFKA_SASL_MECHANISM: mechanism,
    KAFKA_SASL_USERNAME: LOCAL_KAFKA_SASL.username,
    KAFKA_SASL_PASSWORD: LOCAL_KAFKA_SASL.password,
    KAFKA_SSL_CA_FILE: tlsFiles().ca,
    ...extra,
  };
}

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

const nodeDataDir = (stateDir: string, index: number, nodes: number) =>
  nodes === 1 ? join(stateDir, 'data') : join(stateDir, `node-${index + 1}`, 'data');

/**
 * The broker configuration the stack writes for node `index` of `nodes` (exported so the docker-compose test compares
 * the single-node one against it). Listeners: PLAINTEXT (clients and inter-broker) and CONTROLLER; the SASL_SSL
 * listener's lines come from `saslSslProperties`.
 */
export function serverProperties(index = 0, nodes = 1, stateDir = STATE, portOffset = 0): string {
  const p = kafkaNodePorts(index, portOffset);
  const voters = Array.from(
    { length: nodes },
    (_, i) => `${i + 1}@${host}:${kafkaNodePorts(i, portOffset).controller}`,
  ).join(',');
  const rf = nodes === 1 ? 1 : 3;
  const minIsr = nodes === 1 ? 1 : 2;
  return `${[
    'process.roles=broker,controller',
    `node.id=${index + 1}`,
    `controller.quorum.voters=${voters}`,
    `listeners=PLAINTEXT://${host}:${p.plaintext},CONTROLLER://${host}:${p.controller}`,
    `advertised.listeners=PLAINTEXT://${host}:${p.plaintext}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${nodeDataDir(stateDir, index, nodes)}`,
    'auto.create.topics.enable=false',
    'num.partitions=3',
    `default.replication.factor=${rf}`,
    `min.insync.replicas=${minIsr}`,
    // Single node: internal topics must have replication 1 or consumer groups and transactions hang.
    `offsets.topic.replication.factor=${rf}`,
    'offsets.topic.num.partitions=5',
    `transaction.state.log.replication.factor=${rf}`,
    `transaction.state.log.min.isr=${minIsr}`,
    'transaction.state.log.num.partitions=5',
    `share.coordinator.state.topic.replication.factor=${rf}`,
    `share.coordinator.state.topic.min.isr=${minIsr}`,
    'group.initial.rebalance.delay.ms=0',
    'num.network.threads=2',
    'num.io.threads=4',
    'log.retention.hours=168',
    // Several nodes: the controller fences a dead broker after 3 s instead of 9 s, so its partitions and the
    // coordinators it hosted move sooner (local clusters only; a managed cluster keeps its own settings).
    ...(nodes > 1 ? ['broker.session.timeout.ms=3000', 'broker.heartbeat.interval.ms=500'] : []),
  ].join('\n')}\n`;
}

/**
 * The secured listeners (local stack only; docker-compose serves PLAINTEXT), both with the stack's CA and a `localhost`
 * certificate: SASL_SSL (client certificates requested, SASL PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER with Kafka's
 * unsecured validator, which accepts unsigned JWTs: enough to test the client side of the mechanism, never production)
 * and MTLS (security protocol SSL, a client certificate signed by the CA required).
 */
export function saslSslProperties(index: number, tls: TlsFiles, portOffset = 0): string {
  const p = kafkaNodePorts(index, portOffset);
  const l = 'listener.name.sasl_ssl';
  const { username, password } = LOCAL_KAFKA_SASL;
  return `${[
    `listeners=PLAINTEXT://${host}:${p.plaintext},CONTROLLER://${host}:${p.controller},SASL_SSL://${host}:${p.saslSsl},MTLS://${host}:${p.mtls}`,
    `advertised.listeners=PLAINTEXT://${host}:${p.plaintext},SASL_SSL://localhost:${p.saslSsl},MTLS://localhost:${p.mtls}`,
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL',
    'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER',
    `${l}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${username}="${password}";`,
    `${l}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
    `${l}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
    `${l}.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="${username}";`,
    `${l}.ssl.keystore.type=PEM`,
    `${l}.ssl.keystore.location=${join(tls.dir, 'kafka-keystore.pem')}`,
    `${l}.ssl.truststore.type=PEM`,
    `${l}.ssl.truststore.location=${tls.ca}`,
    `${l}.ssl.client.auth=requested`,
    'listener.name.mtls.ssl.keystore.type=PEM',
    `listener.name.mtls.ssl.keystore.location=${join(tls.dir, 'kafka-keystore.pem')}`,
    'listener.name.mtls.ssl.truststore.type=PEM',
    `listener.name.mtls.ssl.truststore.location=${tls.ca}`,
    'listener.name.mtls.ssl.client.auth=required',
  ].join('\n')}\n`;
}

/** kafkajs admin on the PLAINTEXT listener of node 0 (the stack's own health checks and provisioning). */
export function kafkaAdminClient() {
  return new Kafka({
    clientId: 'pep-stack',
    brokers: kafkaBootstrap(),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  }).admin();
}

/**
 * Runs one of Kafka's own command-line tools (a main class from the stack's jars, e.g. `kafka.admin.ConfigCommand`,
 * `org.apache.kafka.tools.LeaderElectionCommand`) and returns its output; throws with the output tail on failure.
 */
export function kafkaTool(mainClass: string, args: readonly string[], what = mainClass): string {
  return run('java', ['-Xmx128m', '-XX:TieredStopAtLevel=1', '-cp', `${LIB_DIR}/*`, mainClass, ...args], {
    what,
    timeoutMs: 120_000,
  });
}

/** SCRAM credentials for LOCAL_KAFKA_SASL, made with the broker's own ConfigCommand once per formatted cluster. */
function ensureScramUsers(log: Logger, stateDir: string, bootstrap: string): void {
  const clusterId = readFileSync(join(nodeDataDir(stateDir, 0, kafkaNodes()), 'meta.properties'), 'utf8').match(
    /cluster\.id=(\S+)/,
  )?.[1];
  const marker = join(stateDir, 'scram-users');
  if (clusterId && existsSync(marker) && readFileSync(marker, 'utf8').trim() === clusterId) return;
  const { username, password } = LOCAL_KAFKA_SASL;
  log(`creating SCRAM user ${username} (kafka.admin.ConfigCommand)`);
  // One mechanism per call: the broker refuses two alterations of one user in one request.
  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512'])
    kafkaTool(
      'kafka.admin.ConfigCommand',
      [
        '--bootstrap-server',
        bootstrap,
        '--alter',
        '--entity-type',
        'users',
        '--entity-name',
        username,
        '--add-config',
        `${mechanism}=[iterations=4096,password=${password}]`,
      ],
      `SCRAM user creation (${mechanism})`,
    );
  if (clusterId) writeFileSync(marker, `${clusterId}\n`);
}

/** Where a cluster's nodes keep their state, which ports they use, and the pid/log names of their processes. */
interface Layout {
  readonly nodes: number;
  readonly stateDir: string;
  readonly portOffset: number;
  /** Process name of node 0; node i (i > 0) is `<name>-<i + 1>`. */
  readonly name: string;
  readonly heap: string;
}

const STACK_LAYOUT = (nodes: number): Layout => ({
  nodes,
  stateDir: STATE,
  portOffset: 0,
  name: 'kafka',
  heap: nodes === 1 ? HEAP : CLUSTER_HEAP,
});

const processName = (l: Layout, index: number) => (index === 0 ? l.name : `${l.name}-${index + 1}`);

/** Writes node `index`'s configuration, formats its storage on first start, starts it; returns its pid. */
async function startNode(index: number, l: Layout, clusterId: string, tls: TlsFiles, log: Logger): Promise<number> {
  const dir = l.nodes === 1 ? l.stateDir : join(l.stateDir, `node-${index + 1}`);
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'server.properties');
  // The SASL_SSL lines come last: a repeated key's last value wins in a properties file.
  writeFileSync(
    config,
    serverProperties(index, l.nodes, l.stateDir, l.portOffset) + saslSslProperties(index, tls, l.portOffset),
  );
  const classpath = `${LIB_DIR}/*`;
  if (!existsSync(join(nodeDataDir(l.stateDir, index, l.nodes), 'meta.properties'))) {
    log(`formatting Kafka storage of node ${index + 1} (cluster id ${clusterId})`);
    await runAsync('java', ['-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', config], {
      what: 'Kafka storage format',
    });
  }
  const jvm = kafkaJvm();
  return startDetached({
    service: processName(l, index),
    command: jvm.java,
    args: [
      ...l.heap.split(/\s+/).filter(Boolean),
      ...jvm.gcArgs,
      '-Djava.awt.headless=true',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info',
      '-cp',
      classpath,
      'kafka.Kafka',
      config,
    ],
  });
}

function clusterIdOf(l: Layout): string {
  const metaFile = join(nodeDataDir(l.stateDir, 0, l.nodes), 'meta.properties');
  return existsSync(metaFile)
    ? (readFileSync(metaFile, 'utf8').match(/cluster\.id=(\S+)/)?.[1] as string)
    : newClusterId();
}

/**
 * A random cluster id. A base64url id may start with '-', which the storage tool's argument parser takes for an
 * option (a cold start failed 1 time in 32 that way): such an id is drawn again, as Kafka's own Uuid.randomUuid does.
 */
function newClusterId(): string {
  let id = randomBytes(16).toString('base64url').slice(0, 22);
  while (id.startsWith('-')) id = randomBytes(16).toString('base64url').slice(0, 22);
  return id;
}

/** The broker's PEM keystore: its key and certificate in one file (Kafka's ssl.keystore.type=PEM). */
function ensureKeystore(tls: TlsFiles): void {
  const file = join(tls.dir, 'kafka-keystore.pem');
  if (!existsSync(file))
    writeFileSync(file, readFileSync(tls.serverKey, 'utf8') + readFileSync(tls.serverCert, 'utf8'), { mode: 0o600 });
}

export const kafka: Service = {
  name: 'kafka',
  address: `${host}:${port}`,
  companions: () => Array.from({ length: 2 }, (_, i) => `kafka-${i + 2}`),
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
      return cluster.brokers.length >= kafkaNodes();
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => {});
    }
  },

  async start(log: Logger) {
    const layout = STACK_LAYOUT(kafkaNodes());
    const tls = ensureLocalTls();
    ensureKeystore(tls);
    const clusterId = clusterIdOf(layout);
    // Nodes format and start side by side; formatting runs without blocking the event loop (main: health checks of
    // the other services keep running meanwhile).
    const pids = await Promise.all(
      Array.from({ length: layout.nodes }, (_, i) => startNode(i, layout, clusterId, tls, log)),
    );
    return pids[0] as number;
  },

  async provision(log: Logger) {
    ensureScramUsers(log, STATE, kafkaBootstrap()[0] as string);
    const nodes = kafkaNodes();
    const admin = kafkaAdminClient();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = TOPIC_SPECS.filter((t) => !existing.has(t.name));
      if (missing.length > 0) {
        log(`creating topics: ${missing.map((t) => t.name).join(', ')}`);
        await createTopicsAndWait(
          admin,
          missing.map((t) => ({
            topic: t.name,
            numPartitions: partitionsFor(t.kind),
            replicationFactor: nodes === 1 ? 1 : 3,
          })),
        );
      }
    } finally {
      await admin.disconnect();
    }
    // Ready means a client can write: after a restart the brokers answer (describeCluster) and the topics exist before
    // their partitions have leaders again, and the SASL_SSL listener may not authenticate yet (the first webhook of a
    // test run seconds after stack:up got 503 kafka_unavailable).
    await waitUntilServing(TOPIC_SPECS.map((t) => t.name));
  },
};

/** An admin client on the local SASL_SSL listener (TLS with the stack's CA, SCRAM-SHA-512 as LOCAL_KAFKA_SASL). */
function saslSslAdminClient() {
  return new Kafka({
    clientId: 'pep-stack-sasl',
    brokers: kafkaSaslSslBootstrap(),
    ssl: { ca: [readFileSync(tlsFiles().ca)] },
    sasl: { mechanism: 'scram-sha-512', ...LOCAL_KAFKA_SASL },
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    requestTimeout: 5000,
    retry: { retries: 0 },
  }).admin();
}

/**
 * Waits until every partition of `topics` has a leader, seen through the PLAINTEXT listener AND through the SASL_SSL
 * listener with the local SCRAM user (authenticated, so its credentials are in place), and a group coordinator answers
 * with every partition of `__consumer_offsets` led; throws after `timeoutMs`, naming what was still missing.
 */
export async function waitUntilServing(topics: readonly string[], timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const [listener, client] of [
    ['PLAINTEXT', kafkaAdminClient],
    ['SASL_SSL', saslSslAdminClient],
  ] as const) {
    let reason = 'not checked yet';
    for (;;) {
      const admin = client();
      try {
        await admin.connect();
        const meta = await admin.fetchTopicMetadata({ topics: [...topics] });
        if (listener === 'PLAINTEXT') {
          // A group coordinator answers (on a fresh broker this FindCoordinator creates __consumer_offsets, whose
          // partitions then need leaders too): a consumer started at once would otherwise fail to join its group.
          // (kafkajs finds no broker for describeGroups before a metadata request, hence the order.)
          await admin.describeGroups(['pep-stack-readiness']);
          meta.topics.push(...(await admin.fetchTopicMetadata({ topics: ['__consumer_offsets'] })).topics);
        }
        const expected = topics.length + (listener === 'PLAINTEXT' ? 1 : 0);
        const leaderless = meta.topics.flatMap((t) =>
          t.partitions.filter((p) => p.leader < 0).map((p) => `${t.name}/${p.partitionId}`),
        );
        if (leaderless.length === 0 && meta.topics.length === expected) break;
        reason = `${leaderless.length} partitions without a leader (${leaderless.slice(0, 3).join(', ')})`;
      } catch (err) {
        reason = (err as Error).message;
      } finally {
        await admin.disconnect().catch(() => {});
      }
      if (Date.now() > deadline)
        throw new Error(`kafka: ${listener} listener not serving after ${timeoutMs} ms: ${reason}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * A three-node KRaft cluster of its own (state in `.stack/<name>/`, ports of the stack's Kafka plus `portOffset`), for
 * tests that kill and restart brokers without touching the stack's Kafka: replication factor 3, min.insync.replicas 2,
 * the contract topics created on start. Every node is a broker and a controller (three voters: one may die).
 */
export class LocalKafkaCluster {
  readonly layout: Layout;
  private readonly pids = new Map<number, number>();

  constructor(opts: { name: string; portOffset: number; nodes?: number }) {
    this.layout = {
      nodes: opts.nodes ?? 3,
      stateDir: serviceStateDir(opts.name),
      portOffset: opts.portOffset,
      name: opts.name,
      // C1 only: a test's brokers live for minutes, and a restart under load starts in about half the time.
      heap: `${CLUSTER_HEAP} -XX:TieredStopAtLevel=1`,
    };
  }

  /** Node ids are 1..nodes; node id n listens on `bootstrap[n - 1]`. */
  get bootstrap(): string[] {
    return Array.from(
      { length: this.layout.nodes },
      (_, i) => `${host}:${kafkaNodePorts(i, this.layout.portOffset).plaintext}`,
    );
  }

  private admin() {
    return new Kafka({
      clientId: `${this.layout.name}-admin`,
      brokers: this.bootstrap,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 2000,
      requestTimeout: 10_000,
      retry: { retries: 2 },
    }).admin();
  }

  /** Brokers the cluster metadata lists right now (0 when none answers). */
  async liveBrokers(): Promise<number> {
    const admin = this.admin();
    try {
      await admin.connect();
      return (await admin.describeCluster()).brokers.length;
    } catch {
      return 0;
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * Waits until every partition of `topics` (default: the contract topics and the group and transaction logs) has a
   * leader and all its replicas in sync: after a restart, before the next fault (with min.insync.replicas=2, killing
   * a second replica while one is still catching up would stop writes).
   */
  async waitInSync(topics?: readonly string[], timeoutMs = 120_000): Promise<void> {
    const names = topics ?? [...TOPIC_SPECS.map((t) => t.name), '__consumer_offsets', '__transaction_state'];
    const admin = this.admin();
    const deadline = Date.now() + timeoutMs;
    let reason = 'not checked yet';
    try {
      await admin.connect();
      for (;;) {
        try {
          const meta = await admin.fetchTopicMetadata({ topics: [...names] });
          const behind = meta.topics.flatMap((t) =>
            t.partitions
              .filter((p) => p.leader < 0 || p.isr.length < p.replicas.length)
              .map((p) => `${t.name}/${p.partitionId}`),
          );
          if (behind.length === 0 && meta.topics.length === names.length) return;
          reason = `${behind.length} partitions not fully in sync (${behind.slice(0, 3).join(', ')})`;
        } catch (err) {
          reason = (err as Error).message;
        }
        if (Date.now() > deadline) throw new Error(`${this.layout.name}: not in sync after ${timeoutMs} ms: ${reason}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * Moves the leader of every partition of `topics` at once: each replica list rotated by one
   * (ReassignPartitionsCommand), then the preferred (now the former second) replicas elected (LeaderElectionCommand).
   * The tools run as child processes, so the caller's own clients keep running meanwhile. Returns the partition count.
   */
  async moveAllLeaders(topics: readonly string[]): Promise<number> {
    const admin = this.admin();
    await admin.connect();
    let partitions: { topic: string; partition: number; replicas: number[] }[];
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [...topics] });
      partitions = meta.topics.flatMap((t) =>
        t.partitions.map((p) => ({
          topic: t.name,
          partition: p.partitionId,
          replicas: [...p.replicas.slice(1), p.replicas[0] as number],
        })),
      );
    } finally {
      await admin.disconnect().catch(() => {});
    }
    const file = join(this.layout.stateDir, 'reassignment.json');
    writeFileSync(file, JSON.stringify({ version: 1, partitions }));
    const bootstrap = this.bootstrap.join(',');
    // A loaded machine: the tools' admin client gets minutes, not its default 30 s, to find the controller.
    const adminConfig = join(this.layout.stateDir, 'tool-admin.properties');
    writeFileSync(adminConfig, 'default.api.timeout.ms=180000\nrequest.timeout.ms=60000\n');
    const tool = (mainClass: string, args: string[]) =>
      runAsync('java', ['-Xmx128m', '-XX:TieredStopAtLevel=1', '-cp', `${LIB_DIR}/*`, mainClass, ...args], {
        what: mainClass,
        timeoutMs: 240_000,
      });
    await tool('org.apache.kafka.tools.reassign.ReassignPartitionsCommand', [
      '--bootstrap-server',
      bootstrap,
      '--command-config',
      adminConfig,
      '--reassignment-json-file',
      file,
      '--execute',
    ]);
    await tool('org.apache.kafka.tools.LeaderElectionCommand', [
      '--bootstrap-server',
      bootstrap,
      '--admin.config',
      adminConfig,
      '--election-type',
      'PREFERRED',
      '--all-topic-partitions',
    ]);
    return partitions.length;
  }

  async waitForBrokers(n: number, timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.liveBrokers()) < n) {
      if (Date.now() > deadline) throw new Error(`${this.layout.name}: ${n} brokers not up after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /**
   * Starts every node (formatting storage the first time), waits for all brokers, creates the contract topics.
   * `fresh`: the state of an earlier run is removed first (a new cluster id, empty topics). `contractTopics: false`:
   * no topics are created (a test that makes its own).
   */
  async start(
    log: Logger,
    { fresh = false, contractTopics = true }: { fresh?: boolean; contractTopics?: boolean } = {},
  ): Promise<void> {
    if (fresh) rmSync(this.layout.stateDir, { recursive: true, force: true });
    const tls = ensureLocalTls();
    ensureKeystore(tls);
    const clusterId = clusterIdOf(this.layout);
    const pids = await Promise.all(
      Array.from({ length: this.layout.nodes }, (_, i) => startNode(i, this.layout, clusterId, tls, log)),
    );
    for (const [i, pid] of pids.entries()) this.pids.set(i + 1, pid);
    await this.waitForBrokers(this.layout.nodes);
    if (!contractTopics) return;
    const admin = this.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = TOPIC_SPECS.filter((t) => !existing.has(t.name));
      if (missing.length > 0)
        await createTopicsAndWait(
          admin,
          missing.map((t) => ({ topic: t.name, numPartitions: partitionsFor(t.kind), replicationFactor: 3 })),
        );
    } finally {
      await admin.disconnect();
    }
  }

  /** SIGKILL of node `nodeId` (1-based). */
  async kill(nodeId: number): Promise<void> {
    const pid = this.pids.get(nodeId) ?? managedPid(processName(this.layout, nodeId - 1));
    if (pid === undefined) throw new Error(`${this.layout.name}: node ${nodeId} is not running`);
    await stopProcess(pid, { signal: 'SIGKILL' });
    this.pids.delete(nodeId);
    forgetPid(processName(this.layout, nodeId - 1));
  }

  /** Starts node `nodeId` again (after a kill) and waits until every broker is back. */
  async restart(nodeId: number, log: Logger): Promise<void> {
    const tls = ensureLocalTls();
    this.pids.set(nodeId, await startNode(nodeId - 1, this.layout, clusterIdOf(this.layout), tls, log));
    await this.waitForBrokers(this.layout.nodes);
  }

  /** Stops every node, side by side (SIGTERM; the state stays for the next start). */
  async stop(): Promise<void> {
    await Promise.all(
      Array.from({ length: this.layout.nodes }, async (_, i) => {
        const name = processName(this.layout, i);
        const pid = this.pids.get(i + 1) ?? managedPid(name);
        if (pid !== undefined) await stopProcess(pid, { signal: 'SIGTERM' });
        forgetPid(name);
      }),
    );
    this.pids.clear();
  }
}
