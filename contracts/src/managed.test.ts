import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { inspect } from 'node:util';
import {
  checkDatabaseUrl,
  describeTemporalConnection,
  loadTemporalConnection,
  redisConnection,
  temporalConnection,
} from './managed.ts';

const dir = mkdtempSync(join(tmpdir(), 'pep-managed-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const pem = (name: string) => {
  const file = join(dir, name);
  writeFileSync(file, `-----BEGIN CERTIFICATE-----\nMIIB${name}\n-----END CERTIFICATE-----\n`);
  return file;
};
const ca = pem('ca.pem');
const crt = pem('client.pem');
const key = pem('client.key');

describe('loadTemporalConnection', () => {
  test('defaults to the local dev server, plaintext', () => {
    const cfg = loadTemporalConnection({});
    assert.deepEqual(cfg, { address: '127.0.0.1:7233', namespace: 'default', tls: false, apiKey: null });
    assert.deepEqual(temporalConnection(cfg), { address: '127.0.0.1:7233' });
  });

  test('Temporal Cloud shape: an API key implies TLS with the system CAs; the key never prints', () => {
    const cfg = loadTemporalConnection({
      TEMPORAL_ADDRESS: 'payments.a1b2c.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'payments.a1b2c',
      TEMPORAL_API_KEY: 'tk-very-secret',
    });
    assert.deepEqual(cfg.tls, {});
    const opts = temporalConnection(cfg);
    assert.equal(opts.apiKey, 'tk-very-secret');
    assert.deepEqual(opts.tls, {});
    for (const shown of [JSON.stringify(cfg), inspect(cfg, { depth: 5 }), describeTemporalConnection(cfg)])
      assert.ok(!shown.includes('tk-very-secret'), shown);
    assert.equal(
      describeTemporalConnection(cfg),
      'payments.a1b2c.tmprl.cloud:7233 namespace payments.a1b2c, TLS (system CAs, API key)',
    );
  });

  test('mTLS: CA, certificate and key read at start; server name override', () => {
    const cfg = loadTemporalConnection({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_TLS_CA_FILE: ca,
      TEMPORAL_TLS_CERT_FILE: crt,
      TEMPORAL_TLS_KEY_FILE: key,
      TEMPORAL_TLS_SERVER_NAME: 'frontend.temporal',
    });
    assert.ok(cfg.tls);
    assert.match(String(cfg.tls.serverRootCACertificate), /MIIBca\.pem/);
    assert.match(String(cfg.tls.clientCertPair?.crt), /MIIBclient\.pem/);
    assert.match(String(cfg.tls.clientCertPair?.key), /MIIBclient\.key/);
    assert.equal(cfg.tls.serverNameOverride, 'frontend.temporal');
  });

  test('clear errors for what a user gets wrong', () => {
    assert.throws(() => loadTemporalConnection({ TEMPORAL_TLS_CERT_FILE: crt }), /go together/);
    assert.throws(
      () => loadTemporalConnection({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' }),
      /an API key or a certificate needs TLS/,
    );
    assert.throws(
      () => loadTemporalConnection({ TEMPORAL_TLS_CA_FILE: join(dir, 'missing.pem') }),
      /TEMPORAL_TLS_CA_FILE=.*missing\.pem: cannot read the CA bundle: ENOENT/,
    );
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    assert.throws(() => loadTemporalConnection({ TEMPORAL_TLS_CA_FILE: notPem }), /not a PEM file/);
    assert.throws(() => loadTemporalConnection({ TEMPORAL_ADDRESS: 'https://x' }), /must be host:port/);
    assert.throws(() => loadTemporalConnection({ TEMPORAL_TLS: 'maybe' }), /TEMPORAL_TLS/);
  });
});

describe('redisConnection', () => {
  test('plaintext by default; rediss:// turns TLS on with the host name checked and the CA file', () => {
    assert.deepEqual(redisConnection({}), { url: 'redis://127.0.0.1:6379', options: {} });
    const r = redisConnection({ REDIS_URL: 'rediss://pep:pw@cache.internal:6380/0', REDIS_TLS_CA_FILE: ca });
    assert.equal(r.options.tls?.servername, 'cache.internal');
    assert.match(String(r.options.tls?.ca), /MIIBca\.pem/);
  });

  test('errors name the variable and never the password', () => {
    assert.throws(
      () => redisConnection({ REDIS_URL: 'redis://pep:pw@h:6379', REDIS_TLS_CA_FILE: ca }),
      /REDIS_TLS_CA_FILE is set but REDIS_URL is redis:\/\//,
    );
    assert.throws(
      () => redisConnection({ REDIS_URL: 'http://pep:topsecret@h' }),
      (err: Error) => /REDIS_URL must start with redis:\/\//.test(err.message) && !err.message.includes('topsecret'),
    );
  });
});

describe('checkDatabaseUrl', () => {
  test('accepts libpq TLS parameters whose files exist, refuses the rest without printing the password', () => {
    const url = `postgres://u:topsecret@db:5432/payments?sslmode=verify-full&sslrootcert=${ca}`;
    assert.equal(checkDatabaseUrl(url), url);
    assert.throws(
      () => checkDatabaseUrl(`postgres://u:topsecret@db/p?sslmode=verify-full&sslrootcert=${join(dir, 'nope.pem')}`),
      (err: Error) => /sslrootcert=.*nope\.pem: cannot read it/.test(err.message) && !err.message.includes('topsecret'),
    );
    assert.throws(() => checkDatabaseUrl('postgres://u:topsecret@db/p?sslmode=strict'), /sslmode must be one of/);
    assert.throws(
      () => checkDatabaseUrl('not a url topsecret'),
      (err: Error) => /DATABASE_URL is not a URL/.test(err.message) && !err.message.includes('topsecret'),
    );
  });
});
