import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { describeKafkaConnection, kafkajsConnection, loadKafkaConnection, Secret } from './kafka-security.ts';

const dir = mkdtempSync(join(tmpdir(), 'kafka-security-'));
const PEM_CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';
const ca = join(dir, 'ca.pem');
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
const notPem = join(dir, 'junk.txt');
writeFileSync(ca, PEM_CERT);
writeFileSync(cert, PEM_CERT);
writeFileSync(key, PEM_KEY);
writeFileSync(notPem, 'hello');

const SCRAM = {
  KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
  KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
  KAFKA_SASL_USERNAME: 'alice',
  KAFKA_SASL_PASSWORD: 'hunter2-secret',
  KAFKA_SSL_CA_FILE: ca,
};

describe('loadKafkaConnection', () => {
  it('defaults to the local broker over PLAINTEXT', () => {
    const c = loadKafkaConnection({});
    assert.deepEqual(c.brokers, ['127.0.0.1:9092']);
    assert.equal(c.protocol, 'PLAINTEXT');
    assert.equal(c.tls, null);
    assert.equal(c.sasl, null);
    assert.deepEqual(kafkajsConnection(c), { brokers: ['127.0.0.1:9092'] });
  });

  it('reads SASL_SSL with SCRAM and a CA file, and maps it to kafkajs', () => {
    const c = loadKafkaConnection({ ...SCRAM, KAFKA_BROKERS: 'b1:9094, b2:9094' });
    assert.equal(c.tls?.ca, PEM_CERT);
    assert.equal(c.tls?.checkHostname, true);
    assert.equal(c.sasl?.mechanism, 'SCRAM-SHA-512');
    const k = kafkajsConnection(c);
    assert.deepEqual(k.brokers, ['b1:9094', 'b2:9094']);
    assert.deepEqual(k.sasl, { mechanism: 'scram-sha-512', username: 'alice', password: 'hunter2-secret' });
    assert.deepEqual(k.ssl, { ca: [PEM_CERT], rejectUnauthorized: true });
  });

  it('mTLS needs both the certificate and the key', () => {
    const c = loadKafkaConnection({
      KAFKA_SECURITY_PROTOCOL: 'SSL',
      KAFKA_SSL_CERT_FILE: cert,
      KAFKA_SSL_KEY_FILE: key,
    });
    assert.equal(c.tls?.cert, PEM_CERT);
    assert.equal(c.tls?.key?.reveal(), PEM_KEY);
    assert.throws(() => loadKafkaConnection({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERT_FILE: cert }), {
      name: 'ConfigError',
      message: /KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together/,
    });
  });

  it('names the variable in every error and never the password', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { KAFKA_SECURITY_PROTOCOL: 'TLS' },
        /KAFKA_SECURITY_PROTOCOL must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL/,
      ],
      [{ ...SCRAM, KAFKA_SASL_MECHANISM: 'GSSAPI' }, /KAFKA_SASL_MECHANISM must be one of/],
      [{ ...SCRAM, KAFKA_SASL_MECHANISM: '' }, /needs KAFKA_SASL_MECHANISM/],
      [{ ...SCRAM, KAFKA_SASL_USERNAME: '' }, /needs KAFKA_SASL_USERNAME/],
      [{ ...SCRAM, KAFKA_SASL_PASSWORD: '' }, /needs KAFKA_SASL_PASSWORD/],
      [
        { ...SCRAM, KAFKA_SSL_CA_FILE: join(dir, 'missing.pem') },
        /KAFKA_SSL_CA_FILE: cannot read .*missing\.pem \(ENOENT\)/,
      ],
      [{ ...SCRAM, KAFKA_SSL_CA_FILE: notPem }, /KAFKA_SSL_CA_FILE: .*junk\.txt holds no PEM certificate/],
      [
        { ...SCRAM, KAFKA_SECURITY_PROTOCOL: 'SSL' },
        /KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD set but KAFKA_SECURITY_PROTOCOL is SSL/,
      ],
      [{ KAFKA_SSL_CA_FILE: ca }, /KAFKA_SSL_CA_FILE set but KAFKA_SECURITY_PROTOCOL is PLAINTEXT/],
      [{ ...SCRAM, KAFKA_SASL_MECHANISM: 'OAUTHBEARER' }, /OAUTHBEARER needs a token provider/],
      [{ KAFKA_BROKERS: 'nohost' }, /KAFKA_BROKERS: "nohost" is not host:port/],
      [{ ...SCRAM, KAFKA_SSL_CHECK_HOSTNAME: 'maybe' }, /KAFKA_SSL_CHECK_HOSTNAME must be true or false/],
    ];
    for (const [env, pattern] of cases) {
      assert.throws(
        () => loadKafkaConnection(env),
        (err: Error) => {
          assert.equal(err.name, 'ConfigError');
          assert.match(err.message, pattern);
          assert.doesNotMatch(err.message, /hunter2/);
          return true;
        },
      );
    }
  });

  it('never prints a secret: describe, JSON and inspect show no password or key', () => {
    const c = loadKafkaConnection({ ...SCRAM, KAFKA_SSL_CERT_FILE: cert, KAFKA_SSL_KEY_FILE: key });
    for (const text of [describeKafkaConnection(c), JSON.stringify(c), inspect(c, { depth: 9 }), String(c.tls?.key)]) {
      assert.doesNotMatch(text, /hunter2|MIIE/);
    }
    assert.match(
      describeKafkaConnection(c),
      /security=SASL_SSL sasl=SCRAM-SHA-512 user=alice ca=.*ca\.pem client-cert=/,
    );
    assert.equal(`${new Secret('x')}`, '[redacted]');
  });

  it('OAUTHBEARER reads the token file at each call', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'tok-1\n');
    const c = loadKafkaConnection({
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'OAUTHBEARER',
      KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: tokenFile,
    });
    assert.equal(c.sasl?.mechanism, 'OAUTHBEARER');
    if (c.sasl?.mechanism !== 'OAUTHBEARER') return;
    assert.equal((await c.sasl.tokenProvider()).value, 'tok-1');
    writeFileSync(tokenFile, 'tok-2');
    assert.equal((await c.sasl.tokenProvider()).value, 'tok-2');
    const k = kafkajsConnection(c);
    assert.equal(k.sasl?.mechanism, 'oauthbearer');
  });

  it('OAUTHBEARER loads a provider module (how MSK IAM plugs in)', async () => {
    const mod = join(dir, 'provider.mjs');
    writeFileSync(mod, 'export async function tokenProvider() { return { value: "signed-by-module" }; }\n');
    const c = loadKafkaConnection({
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'OAUTHBEARER',
      KAFKA_SASL_OAUTHBEARER_PROVIDER: mod,
    });
    if (c.sasl?.mechanism !== 'OAUTHBEARER') throw new Error('expected OAUTHBEARER');
    assert.equal((await c.sasl.tokenProvider()).value, 'signed-by-module');
  });
});
