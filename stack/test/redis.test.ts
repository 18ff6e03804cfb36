/**
 * Redis smoke test: the ioredis client the online feature store will use — SET/GET with a TTL, a pipeline and a
 * Lua EVAL. Every key lives under one unique namespace and is deleted at the end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { serviceAddresses } from '@pep/contracts';
import { Redis } from 'ioredis';
import { ensureServices, uniqueName } from './support.ts';

describe('redis', { timeout: 60_000 }, () => {
  const ns = `test:${uniqueName('stack-redis')}`;
  let redis: Redis;

  before(async () => {
    await ensureServices(['redis']);
    redis = new Redis(serviceAddresses().redisUrl, {
      connectTimeout: 5000,
      commandTimeout: 5000,
      maxRetriesPerRequest: 2,
      lazyConnect: true,
    });
    await redis.connect();
  });

  after(async () => {
    if (!redis) return;
    // SCAN, not KEYS: never block a shared server; the namespace holds only this run's keys.
    const keys: string[] = [];
    for await (const batch of redis.scanStream({ match: `${ns}:*`, count: 100 })) keys.push(...(batch as string[]));
    if (keys.length > 0) await redis.del(...keys);
    const left = keys.length > 0 ? await redis.exists(...keys) : 0;
    redis.disconnect();
    assert.equal(left, 0, 'test keys left behind');
  });

  test('SET with a TTL, GET, and the key expires', async () => {
    const key = `${ns}:ttl`;
    assert.equal(await redis.set(key, 'value-1', 'PX', 1500), 'OK');
    assert.equal(await redis.get(key), 'value-1');
    const ttlMs = await redis.pttl(key);
    assert.ok(ttlMs > 0 && ttlMs <= 1500, `PTTL ${ttlMs} ms outside (0, 1500]`);
    await new Promise((r) => setTimeout(r, 1700));
    assert.equal(await redis.get(key), null);
  });

  test('a pipeline runs its commands in order and returns each result', async () => {
    const hash = `${ns}:features:cust_1`;
    const counter = `${ns}:counter`;
    const results = await redis
      .pipeline()
      .hset(hash, { txn_count_24h: '3', amount_sum_24h_minor: '4500' })
      .hincrby(hash, 'txn_count_24h', 2)
      .incrby(counter, 10)
      .incrby(counter, 5)
      .hgetall(hash)
      .exec();
    assert.ok(results);
    for (const [err] of results) assert.equal(err, null);
    assert.deepEqual(
      results.map(([, value]) => value),
      [2, 5, 10, 15, { txn_count_24h: '5', amount_sum_24h_minor: '4500' }],
    );
  });

  test('a Lua EVAL updates atomically and returns its value', async () => {
    // Add to a windowed sum and set its expiry in one step: the shape of a feature update.
    const script = `
      local v = redis.call('INCRBY', KEYS[1], ARGV[1])
      redis.call('PEXPIRE', KEYS[1], ARGV[2])
      return v`;
    const key = `${ns}:lua`;
    assert.equal(await redis.eval(script, 1, key, 700, 60_000), 700);
    assert.equal(await redis.eval(script, 1, key, 300, 60_000), 1000);
    const ttlMs = await redis.pttl(key);
    assert.ok(ttlMs > 50_000 && ttlMs <= 60_000, `PTTL ${ttlMs} ms`);
    await assert.rejects(redis.eval("return redis.call('NOSUCHCOMMAND')", 0), /Unknown Redis command|unknown command/i);
  });
});
