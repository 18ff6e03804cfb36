/**
 * kafka-wire and kafkajs over the local stack's secured listeners (`npm run stack:up` makes the CA, the broker
 * certificate for `localhost` and the SCRAM user): real TLS handshakes, SCRAM-SHA-256/512, PLAIN and OAUTHBEARER
 * exchanges, mTLS with a client certificate, ApiVersions at connect; and every misconfiguration a user can make
 * (wrong password, untrusted CA, wrong host name, plaintext against TLS, missing client certificate) ends in a clear
 * error well inside the connect timeout, never a hang. Runs under Node (node:tls); the edge's test covers Bun's sockets over SASL_SSL.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type KafkaConnectionConfig, kafkajsConnection, loadKafkaConnection } from '@pep/contracts/kafka-security';
import { KafkaCluster } from '@pep/kafka-wire/cluster';
import { BrokerConnection } from '@pep/kafka-wire/connection';
import { createTopics, deleteCreatedTopics, recordsSection, unique } from '@pep/kafka-wire/testing';
import { TransactionalProducer } from '@pep/kafka-wire/transaction';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import {
  ensureLocalTls,
  kafkaMtlsBootstrap,
  kafkaNodePorts,
  kafkaSaslSslBootstrap,
  LOCAL_KAFKA_SASL,
  localSaslSslEnv,
  tlsFiles,
} from '../src/index.ts';

const tls = tlsFiles();
const SASL_SSL = kafkaSaslSslBootstrap(1);
const MTLS = kafkaMtlsBootstrap(1);

/** The environment a user would set for SASL_SSL with the local stack's CA. */
const saslEnv = (mechanism: string, extra: Record<string, string> = {}) => localSaslSslEnv(mechanism, extra);

/** An unsigned JWT, which the local broker's unsecured OAUTHBEARER validator accepts (never production). */
function unsecuredJwt(sub: string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'none' })}.${b64({ sub, iat: now, exp: now + 3600, scope: 'kafka' })}.`;
}

const clusterFor = (c: KafkaConnectionConfig, connectTimeoutMs = 5000) =>
  new KafkaCluster({
    brokers: c.brokers,
    clientId: 'kafka-wire-security-test',
    security: c,
    connectTimeoutMs,
    retry: { maxAttempts: 3 },
  });

let topic: string;
before(async () => {
  topic = unique('kw-security');
  await createTopics([{ topic, partitions: 1 }]);
});
after(deleteCreatedTopics);

/** Writes one record with kafka-wire's idempotent producer and reads it back with kafkajs over the same settings. */
async function roundTrip(c: KafkaConnectionConfig): Promise<void> {
  const cluster = clusterFor(c);
  try {
    const producer = new TransactionalProducer({ cluster, transactionalId: null });
    await producer.init();
    const value = `secured-${Date.now()}-${Math.random()}`;
    await producer.send([{ topic, partition: 0, ...recordsSection([{ key: 'k', value }]) }]);
    producer.close();
    const kafka = new Kafka({ ...kafkajsConnection(c), clientId: 'kw-security-read', logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: unique('kw-security-read') });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      const seen = new Promise<void>((resolve) => {
        void consumer.run({
          eachMessage: async ({ message }) => {
            if (message.value?.toString() === value) resolve();
          },
        });
      });
      await seen;
    } finally {
      await consumer.disconnect();
    }
  } finally {
    cluster.close();
  }
}

describe('SASL_SSL (TLS with the stack CA, hostname verified)', () => {
  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512', 'PLAIN']) {
    test(`${mechanism}: kafka-wire writes, kafkajs with the same settings reads back`, async () => {
      await roundTrip(loadKafkaConnection(saslEnv(mechanism)));
    });
  }

  test('OAUTHBEARER: the token provider is called for each authentication', async () => {
    let calls = 0;
    const c = loadKafkaConnection(
      { ...saslEnv('OAUTHBEARER'), KAFKA_SASL_USERNAME: '', KAFKA_SASL_PASSWORD: '' },
      {
        tokenProvider: async () => {
          calls++;
          return { value: unsecuredJwt(LOCAL_KAFKA_SASL.username) };
        },
      },
    );
    await roundTrip(c);
    assert.ok(calls >= 2, `token provider called ${calls} times (kafka-wire and kafkajs each authenticate)`);
  });

  test('ApiVersions at connect: the connection knows the broker ranges and refuses a version outside them', async () => {
    const c = loadKafkaConnection(saslEnv('SCRAM-SHA-256'));
    const [host, port] = (SASL_SSL[0] as string).split(':') as [string, string];
    const conn = new BrokerConnection({
      host,
      port: Number(port),
      connectTimeoutMs: 5000,
      requestTimeoutMs: 5000,
      tls: c.tls,
      sasl: c.sasl,
    });
    try {
      await conn.connect();
      const produce = conn.apiVersions?.get(0);
      assert.ok(produce && produce.min <= 7 && produce.max >= 7, 'Produce v7 is in the 4.1 broker range');
      // A Metadata request at a version the broker does not have (v99): refused before it leaves, API named.
      const req = Buffer.alloc(14);
      req.writeInt32BE(10, 0);
      req.writeInt16BE(3, 4);
      req.writeInt16BE(99, 6);
      const id = conn.correlationId();
      req.writeInt32BE(id, 8);
      req.writeInt16BE(-1, 12);
      await assert.rejects(conn.request(id, req), {
        name: 'UnsupportedApiError',
        message: /does not support Metadata v99 \(it accepts v\d+-v\d+\)/,
      });
      assert.equal(conn.usable, true, 'a refused version does not break the connection');
    } finally {
      conn.close();
    }
  });
});

describe('mTLS (SSL listener that requires a client certificate)', () => {
  test('with the client certificate and key: works', async () => {
    await roundTrip(
      loadKafkaConnection({
        KAFKA_BROKERS: MTLS.join(','),
        KAFKA_SECURITY_PROTOCOL: 'SSL',
        KAFKA_SSL_CA_FILE: tls.ca,
        KAFKA_SSL_CERT_FILE: tls.clientCert,
        KAFKA_SSL_KEY_FILE: tls.clientKey,
      }),
    );
  });

  test('without a client certificate: a clear error, not a hang', async () => {
    const cluster = clusterFor(
      loadKafkaConnection({ KAFKA_BROKERS: MTLS.join(','), KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CA_FILE: tls.ca }),
    );
    const started = Date.now();
    try {
      await assert.rejects(cluster.connect(), /Kafka localhost:\d+/);
      assert.ok(Date.now() - started < 5000, 'fails before the connect timeout');
    } finally {
      cluster.close();
    }
  });
});

describe('misconfiguration fails fast with a clear error', () => {
  /** Asserts that connecting fails with `pattern` well inside the 5 s connect timeout (no retry loop, no hang). */
  async function failsFast(c: KafkaConnectionConfig, pattern: RegExp, name?: string): Promise<void> {
    const cluster = clusterFor(c);
    const started = Date.now();
    try {
      await assert.rejects(cluster.connect(), (err: Error) => {
        assert.match(err.message, pattern);
        if (name) assert.equal(err.name, name);
        assert.doesNotMatch(err.message, new RegExp(LOCAL_KAFKA_SASL.password), 'the password is never in an error');
        return true;
      });
      assert.ok(Date.now() - started < 4000, `failed after ${Date.now() - started} ms`);
    } finally {
      cluster.close();
    }
  }

  test('wrong password', async () => {
    await failsFast(
      loadKafkaConnection(saslEnv('SCRAM-SHA-512', { KAFKA_SASL_PASSWORD: 'not-the-password' })),
      /refused SASL SCRAM-SHA-512 authentication of user 'pep'.*SASL_AUTHENTICATION_FAILED/,
      'KafkaAuthenticationError',
    );
  });

  test('unknown user with PLAIN', async () => {
    await failsFast(
      loadKafkaConnection(saslEnv('PLAIN', { KAFKA_SASL_USERNAME: 'nobody' })),
      /refused SASL PLAIN authentication of user 'nobody'/,
      'KafkaAuthenticationError',
    );
  });

  test('a certificate from a CA the client does not trust', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-other-ca-'));
    try {
      const other = ensureLocalTls(dir);
      await failsFast(
        loadKafkaConnection(saslEnv('SCRAM-SHA-256', { KAFKA_SSL_CA_FILE: other.ca })),
        /certificate this client does not trust.*KAFKA_SSL_CA_FILE/,
        'KafkaTlsError',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a host name the certificate does not list (127.0.0.1 instead of localhost)', async () => {
    const ip = `127.0.0.1:${kafkaNodePorts(0).saslSsl}`;
    await failsFast(
      loadKafkaConnection(saslEnv('SCRAM-SHA-256', { KAFKA_BROKERS: ip })),
      /does not name that host/,
      'KafkaTlsError',
    );
    // Turning the name check off (knowingly) keeps the chain check and connects.
    const cluster = clusterFor(
      loadKafkaConnection(saslEnv('SCRAM-SHA-256', { KAFKA_BROKERS: ip, KAFKA_SSL_CHECK_HOSTNAME: 'false' })),
    );
    try {
      await cluster.connect();
    } finally {
      cluster.close();
    }
  });

  test('plaintext client against the TLS listener', async () => {
    await failsFast(
      loadKafkaConnection({ KAFKA_BROKERS: SASL_SSL.join(',') }),
      /answered with TLS: this listener needs KAFKA_SECURITY_PROTOCOL SSL or SASL_SSL/,
    );
  });

  test('kafkajs with the wrong password fails too (same settings module)', async () => {
    const kafka = new Kafka({
      ...kafkajsConnection(loadKafkaConnection(saslEnv('SCRAM-SHA-256', { KAFKA_SASL_PASSWORD: 'wrong' }))),
      clientId: 'kw-security-bad',
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
    });
    const admin = kafka.admin();
    await assert.rejects(admin.connect(), /SASL SCRAM SHA256 authentication failed|Authentication failed/);
  });
});
