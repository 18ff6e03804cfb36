/**
 * Our Redis layout is Feast's, both ways, against the real Redis and Feast 0.67's SDK: Feast's
 * get_online_features reads exactly the values the TypeScript processor wrote, and our online reader reads exactly
 * what Feast's write_to_online_store wrote.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { entityIds } from '../src/features/aggregate.ts';
import { OnlineFeatures } from '../src/features/online.ts';
import { ENTITY_NAMES, FEATURE_SPEC } from '../src/features/spec.ts';
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
