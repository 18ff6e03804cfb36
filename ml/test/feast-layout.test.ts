/**
 * Our Redis layout is Feast's, both ways, against the real Redis and Feast 0.67's SDK: Feast's
 * get_online_features reads exactly the values the TypeScript processor wrote, and our online reader reads exactly
 * what Feast's write_to_online_store wrote, also over rows we wrote before (our packed copy is then stale and unused).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { entityIds } from '../src/features/aggregate.ts';
import { redisKey } from '../src/features/feast-layout.ts';
import { OnlineFeatures } from '../src/features/online.ts';
import { ENTITY_NAMES, FEATURE_SPEC, joinKeyOf } from '../src/features/spec.ts';
import { type FeastWriteRow, feastApply, feastOnlineRead, feastOnlineWrite } from '../src/py/feast.ts';
import { simulatedEvents } from '../src/sim/events.ts';
import { freshRedis, parse, processorFor, testConfig } from './helpers.ts';

const cfg = testConfig(8, 'layout');
let redis: Redis;
before(async () => {
  redis = await freshRedis(cfg);
  await feastApply(cfg);
});
after(() => redis.disconnect());

test("Feast's SDK reads what the TypeScript consumer wrote, value for value", async () => {
  const events = parse(
    await simulatedEvents({ seed: 11, count: 1500, startMs: Date.UTC(2026, 0, 5), stepMs: 20_000, customers: 120 }),
  );
  const processor = processorFor(redis, cfg, false);
  for (let i = 0; i < events.length; i += 100) await processor.applyBatch(events.slice(i, i + 100));
  const online = new OnlineFeatures(redis, FEATURE_SPEC);
  let compared = 0;
  for (const entity of ENTITY_NAMES) {
    const withId = events.filter((e) => entityIds(e)[entity] !== null);
    const ids = [...new Set(withId.map((e) => entityIds(e)[entity] as string))].slice(0, 25);
    assert.ok(ids.length >= 5, `${entity}: too few ids in the simulated events`);
    const ours = await online.read(
      ids.map((id) => withId.find((e) => entityIds(e)[entity] === id)),
      { ignoreTtl: true },
    );
    const feast = await feastOnlineRead(cfg, entity, ids);
    ids.forEach((id, k) => {
      const mine = ours[k]?.[entity].record;
      assert.ok(mine, `${entity} ${id}: no row of ours`);
      for (const [f, v] of Object.entries(feast[id] as Record<string, number | null>)) {
        assert.equal(v, mine[f], `${entity} ${id} ${f}: Feast read ${v}, we wrote ${mine[f]}`);
        compared++;
      }
    });
  }
  assert.ok(compared > 500, `only ${compared} values compared`);
});

test('our online reader reads what Feast wrote, value for value', async () => {
  const ts = Date.UTC(2026, 1, 1, 12);
  // A row time with microseconds (row versions are µs apart: processor.ts): Feast keeps them, we read them.
  const tsUs = ts * 1000 + 123;
  const rows: FeastWriteRow[] = ENTITY_NAMES.flatMap((entity) =>
    [1, 2, 3].map((n) => ({
      entity,
      id: `feast-${entity}-${n}`,
      ts_us: tsUs,
      values: Object.fromEntries(
        FEATURE_SPEC.views
          .filter((v) => v.entity === entity)
          .flatMap((v) => v.features.map((f, i) => [f.name, n * 1000 + i + 0.25])),
      ),
    })),
  );
  await feastOnlineWrite(cfg, rows);
  const online = new OnlineFeatures(redis, FEATURE_SPEC);
  for (const r of rows) {
    const ev = {
      event_id: 'x',
      event_type: 'payment.succeeded',
      status: 'succeeded',
      customer_id: r.entity === 'customer' ? r.id : null,
      merchant_id: r.entity === 'merchant' ? r.id : null,
      card_brand: r.entity === 'payment_method' ? (r.id.split(':')[0] as string) : null,
      card_last_four: r.entity === 'payment_method' ? 'x' : null,
      amount_minor: 1,
      currency: 'USD',
      provider_created_at: new Date(ts).toISOString(),
    };
    if (r.entity === 'payment_method') {
      // The payment-method id is '<brand>:<last4>'; write-side ids here have no colon, so look them up directly.
      const [got] = await online.readIds([{ entity: 'payment_method', id: r.id }], ts);
      assert.deepEqual(got?.record, r.values);
      assert.equal(got?.asOfUs, tsUs);
      continue;
    }
    const [got] = await online.read([ev]);
    assert.deepEqual(got?.[r.entity].record, r.values);
    assert.equal(got?.[r.entity].asOfUs, tsUs);
  }
});

test("our packed copy serves our rows; after Feast's SDK writes over them, or a copy is damaged, Feast's fields do", async () => {
  await redis.flushdb();
  const events = parse(
    await simulatedEvents({ seed: 12, count: 600, startMs: Date.UTC(2026, 2, 5), stepMs: 20_000, customers: 40 }),
  );
  const processor = processorFor(redis, cfg, false);
  for (let i = 0; i < events.length; i += 100) await processor.applyBatch(events.slice(i, i + 100));
  const ids = [...new Set(events.map((e) => entityIds(e).customer).filter((x): x is string => x !== null))].slice(0, 8);
  assert.equal(ids.length, 8);
  const list = ids.map((id) => ({ entity: 'customer' as const, id }));
  const online = new OnlineFeatures(redis, FEATURE_SPEC);
  const before = await online.readIds(list, null);
  assert.deepEqual(online.stats, { packed: 8, fields: 0 }, 'our own rows are read from the packed copy');
  // The same rows through Feast's fields only: what the copy served is exactly what Feast's fields hold.
  const key = (id: string) => redisKey(joinKeyOf(FEATURE_SPEC, 'customer'), id, FEATURE_SPEC.project);
  const packedOf = async (id: string) =>
    ((await redis.hkeysBuffer(key(id))).map(String) as string[]).filter((f) => f.startsWith('_pep_packed:'));
  assert.equal((await packedOf(ids[0] as string)).length, 1, 'one packed copy per HASH');
  for (const id of ids.slice(4)) await redis.hdel(key(id), ...(await packedOf(id)));
  const fromFields = await online.readIds(list.slice(4), null);
  assert.deepEqual(online.stats, { packed: 8, fields: 4 });
  assert.deepEqual(
    fromFields.map((f) => f.record),
    before.slice(4).map((f) => f.record),
  );
  // Feast's SDK writes over two of them (new time, new values): those two are read from Feast's fields.
  const tsUs = Date.UTC(2026, 5, 1) * 1000 + 7;
  const values = (n: number) =>
    Object.fromEntries(
      FEATURE_SPEC.views
        .filter((v) => v.entity === 'customer')
        .flatMap((v) => v.features.map((f, i) => [f.name, n * 100 + i + 0.5])),
    );
  await feastOnlineWrite(cfg, [
    { entity: 'customer', id: ids[0] as string, ts_us: tsUs, values: values(1) },
    { entity: 'customer', id: ids[1] as string, ts_us: tsUs, values: values(2) },
  ]);
  // And a damaged copy (any bytes) on a third: read from the fields, never a crash, never the damaged bytes.
  const [field] = await packedOf(ids[2] as string);
  await redis.hset(key(ids[2] as string), field as string, Buffer.from([0, 9, 1, 2, 3]));
  const after = await online.readIds(list.slice(0, 4), null);
  assert.deepEqual(online.stats, { packed: 9, fields: 7 });
  assert.deepEqual(after[0]?.record, values(1));
  assert.equal(after[0]?.asOfUs, tsUs);
  assert.deepEqual(after[1]?.record, values(2));
  assert.deepEqual(after[2], before[2]);
  assert.deepEqual(after[3], before[3]);
});
