import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ConfigError, DEFAULT_SECRETS, describeConfig, loadConfig } from './config.ts';

const prodSecrets = {
  NODE_ENV: 'production',
  STRIPE_WEBHOOK_SECRET: 'whsec_live_x',
  SQUARE_WEBHOOK_SIGNATURE_KEY: 'sq_live',
  ADYEN_HMAC_KEY: 'AABB',
  BRAINTREE_PUBLIC_KEY: 'pub',
  BRAINTREE_PRIVATE_KEY: 'priv',
};

describe('edge config', () => {
  test('local defaults load, frozen, with the contract defaults', () => {
    const c = loadConfig({});
    assert.equal(c.port, 8080);
    assert.deepEqual(c.kafkaBrokers, ['127.0.0.1:9092']);
    assert.equal(c.limits.maxBodyBytes, 512 * 1024);
    assert.equal(c.limits.lingerMs, 1);
    assert.equal(c.limits.maxConcurrentBatches, 2);
    assert.equal(c.usesDefaultSecrets, true);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.limits) && Object.isFrozen(c.stripe));
  });

  test('the committed .env.example holds exactly the built-in default secrets', () => {
    const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const env = Object.fromEntries(
      text
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    for (const [k, v] of Object.entries(DEFAULT_SECRETS)) assert.equal(env[k], v, k);
    assert.equal(loadConfig(env).usesDefaultSecrets, true);
  });

  test('refuses production with any default secret, and names the variable but not the value', () => {
    assert.doesNotThrow(() => loadConfig(prodSecrets));
    for (const name of [
      'STRIPE_WEBHOOK_SECRET',
      'SQUARE_WEBHOOK_SIGNATURE_KEY',
      'ADYEN_HMAC_KEY',
      'BRAINTREE_PRIVATE_KEY',
    ] as const) {
      const env = { ...prodSecrets, [name]: `rotated,${DEFAULT_SECRETS[name]}` };
      assert.throws(
        () => loadConfig(env),
        (e: Error) => {
          assert.ok(e instanceof ConfigError);
          assert.match(e.message, new RegExp(name));
          assert.ok(!e.message.includes(DEFAULT_SECRETS[name]));
          return true;
        },
      );
    }
    assert.throws(() => loadConfig({ ...prodSecrets, EDGE_SINK: 'memory' }), ConfigError);
  });

  test('comma-separated secrets give rotation lists; braintree keys pair by position', () => {
    const c = loadConfig({
      STRIPE_WEBHOOK_SECRET: 'a, b ,c',
      BRAINTREE_PUBLIC_KEY: 'p1,p2',
      BRAINTREE_PRIVATE_KEY: 'k1,k2',
    });
    assert.deepEqual(c.stripe.secrets.map(String), ['a', 'b', 'c']);
    assert.deepEqual(
      c.braintree.keyPairs.map((p) => p.publicKey),
      ['p1', 'p2'],
    );
    assert.throws(() => loadConfig({ BRAINTREE_PUBLIC_KEY: 'p1,p2', BRAINTREE_PRIVATE_KEY: 'k1' }), /same number/);
  });

  test('bad values stop the start with a clear message', () => {
    const bad: Record<string, string>[] = [
      { EDGE_PORT: '70000' },
      { EDGE_LINGER_MS: '-1' },
      { EDGE_MAX_BODY_BYTES: 'lots' },
      { ADYEN_HMAC_KEY: 'xyz' },
      { KAFKA_BROKERS: 'nohostport' },
      { SQUARE_NOTIFICATION_URL: 'not a url' },
      { LOG_LEVEL: 'chatty' },
      { STRIPE_WEBHOOK_SECRET: ' , ' },
      // Bun would cut a request waiting for Kafka before the produce timeout answers it 503.
      { EDGE_IDLE_TIMEOUT_S: '10' },
      { EDGE_IDLE_TIMEOUT_S: '2', EDGE_PRODUCE_TIMEOUT_MS: '2000' },
    ];
    for (const env of bad) assert.throws(() => loadConfig(env), ConfigError, JSON.stringify(env));
  });

  test('the idle timeout outlasts the produce timeout by default', () => {
    assert.equal(loadConfig({}).limits.idleTimeoutS, 15);
    assert.equal(loadConfig({ EDGE_PRODUCE_TIMEOUT_MS: '60000' }).limits.idleTimeoutS, 65);
    assert.equal(loadConfig({ EDGE_PRODUCE_TIMEOUT_MS: '500', EDGE_IDLE_TIMEOUT_S: '1' }).limits.idleTimeoutS, 1);
  });

  test('describeConfig never contains a secret', () => {
    const text = JSON.stringify(describeConfig(loadConfig({})));
    for (const v of Object.values(DEFAULT_SECRETS).filter((s) => !s.startsWith('test_public')))
      assert.ok(!text.includes(v), v);
  });
});
