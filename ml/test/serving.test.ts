/**
 * The inference service with models, against the real Redis, MLflow server and onnxruntime-node: rules-v1 answers
 * (flagged) until a champion exists; the champion answers with its version and the feature spec version; concurrent
 * requests are micro-batched; an alias move is picked up without a failed or dropped request; the challenger is
 * shadow-scored. Failures: an unloadable model file, a corrupt artifact, an alias pointing at nothing, MLflow down
 * and Redis down each give a flagged fallback or a reported error, never a crash.
 */
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { after, before, test } from 'node:test';
import { Registry } from '@pep/contracts/metrics';
import { loadCore } from '@pep/core-native';
import { Redis } from 'ioredis';
import { OnlineFeatures } from '../src/features/online.ts';
import { FEATURE_SPEC } from '../src/features/spec.ts';
import { startLocalScoring } from '../src/scoring.ts';
import { startInferenceServer, startScoring } from '../src/server.ts';
import { fraudRequestOf, MlflowRest, sha256, tinyModel } from '../src/serving/dev-registry.ts';
import { ModelSlot } from '../src/serving/models.ts';
import { ModelRegistry } from '../src/serving/registry.ts';
import { Scorer } from '../src/serving/scorer.ts';
import { simulatedEvents } from '../src/sim/events.ts';
import { freshRedis, processorFor, testConfig } from './helpers.ts';

const cfg = testConfig(14, 'serving');
const mlflowUrl = (process.env.MLFLOW_TRACKING_URI ?? 'http://127.0.0.1:5000').replace(/\/+$/, '');
const rest = new MlflowRest(mlflowUrl);
const prefix = `test-serve-${Date.now().toString(36)}-`;
let redis: Redis;
let events: Record<string, unknown>[];
let modelA: Buffer;
let modelB: Buffer;
const cols = (await loadCore()).featureSpec().features.length;
const goodTags = (b: Buffer) => ({ feature_spec_version: FEATURE_SPEC.version, onnx_sha256: sha256(b) });

before(async () => {
  redis = await freshRedis(cfg);
  const raw = await simulatedEvents({ seed: 41, count: 1500, startMs: Date.UTC(2026, 5, 1), stepMs: 30_000 });
  events = raw.map((e) => JSON.parse(e));
  const p = processorFor(redis, cfg, false);
  for (let i = 0; i < events.length; i += 250) await p.applyBatch(events.slice(i, i + 250) as never);
  [modelA, modelB] = await Promise.all([tinyModel(cols, 1), tinyModel(cols, 2)]);
});
after(() => redis.disconnect());

const env = (extra: Record<string, string> = {}) => ({
  ...process.env,
  REDIS_URL: cfg.redisUrl,
  MLFLOW_TRACKING_URI: mlflowUrl,
  ML_REGISTRY_PREFIX: prefix,
  ...extra,
});
const config = { host: '127.0.0.1', port: 0, reloadIntervalMs: 200, maxBatch: 64, maxWaitMs: 2 };
const body = fraudRequestOf;
async function post(port: number, path: string, b: unknown) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(b),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
const waitFor = async (what: string, check: () => boolean | Promise<boolean>, ms = 20_000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
};

test('the rules answer, flagged, until a champion exists; then the champion answers, hot-reloaded without a dropped request', async () => {
  const scoring = await startScoring(config, env(), () => {});
  const srv = await startInferenceServer(config, { scoring });
  try {
    const payment = events.find((e) => e.status === 'succeeded' && e.customer_id) as Record<string, unknown>;
    const before = await post(srv.port, '/fraud/score', body(payment));
    assert.equal(before.status, 200);
    assert.equal(before.json.model_version, 'rules-v2', 'rules with the online features');
    assert.equal(before.json.fallback, true);
    assert.equal(before.json.fallback_reason, 'no_model');
    assert.equal(before.json.feature_spec_version, FEATURE_SPEC.version);

    // The version's alert threshold (training's choice) decides its risk level `high`, not the rules' 0.7.
    const v1 = await rest.register(`${prefix}fraud`, modelA, { ...goodTags(modelA), alert_threshold: '0.0001' });
    await rest.setAlias(`${prefix}fraud`, 'champion', v1);
    await scoring.refresh();
    const a = await post(srv.port, '/fraud/score', body(payment));
    assert.equal(a.json.model_version, `fraud@${v1}`, JSON.stringify({ answer: a.json, models: scoring.status() }));
    assert.equal(a.json.fallback, false);
    assert.equal(a.json.features, 'online');
    assert.equal(typeof a.json.fraud_score, 'number');
    assert.equal(a.json.risk_level, (a.json.fraud_score as number) >= 0.0001 ? 'high' : 'low');

    // 16 concurrent callers keep scoring while the alias moves to v2: every request answers 200 from v1 or v2.
    const v2 = await rest.register(`${prefix}fraud`, modelB, goodTags(modelB));
    const seen: string[] = [];
    let failures = 0;
    let stop = false;
    const payments = events.filter((e) => e.status === 'succeeded').slice(0, 200);
    const errors: string[] = [];
    const callers = Array.from({ length: 16 }, async (_, k) => {
      for (let i = k; !stop; i = (i + 16) % payments.length) {
        try {
          const r = await post(srv.port, '/fraud/score', body(payments[i] as Record<string, unknown>));
          if (r.status !== 200 || typeof r.json.fraud_score !== 'number') failures++;
          seen.push(String(r.json.model_version));
        } catch (err) {
          failures++;
          errors.push(String((err as Error).cause ?? err));
        }
      }
    });
    try {
      await waitFor('traffic on v1', () => seen.length > 100, 60_000);
      await rest.setAlias(`${prefix}fraud`, 'champion', v2);
      await waitFor('the switch to v2', () => seen.slice(-20).every((v) => v === `fraud@${v2}`), 60_000);
    } finally {
      stop = true;
      await Promise.all(callers);
    }
    assert.deepEqual(errors.slice(0, 3), []);
    assert.equal(failures, 0);
    assert.ok(seen.includes(`fraud@${v1}`) && seen.includes(`fraud@${v2}`));
    assert.deepEqual(new Set(seen), new Set([`fraud@${v1}`, `fraud@${v2}`]));

    // Concurrent single requests were gathered into micro-batches.
    const metrics = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
    const count = Number(/inference_batch_size_count\{model="fraud"\} (\d+)/.exec(metrics)?.[1]);
    const sum = Number(/inference_batch_size_sum\{model="fraud"\} (\d+)/.exec(metrics)?.[1]);
    assert.ok(sum / count > 1.5, `mean batch ${sum / count}`);

    // The challenger (v1 again) is scored in the shadow on the same rows.
    await rest.setAlias(`${prefix}fraud`, 'challenger', v1);
    await scoring.refresh();
    const batch = await post(srv.port, '/fraud/score/batch', { items: payments.slice(0, 64).map(body) });
    assert.equal((batch.json.results as unknown[]).length, 64);
    const m2 = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
    assert.match(m2, new RegExp(`inference_shadow_abs_diff_count\\{model="fraud",challenger="${v1}"\\} 64`));
  } finally {
    await srv.close();
    await scoring.close();
  }
});

test("an alias check reads each model's aliases in one request; only a moved alias asks for its version", async () => {
  const name = `${prefix}poll-`;
  const v1 = await rest.register(`${name}fraud`, modelA, goodTags(modelA));
  await rest.setAlias(`${name}fraud`, 'champion', v1);
  await rest.setAlias(`${name}fraud`, 'challenger', v1);
  // the registry's small GETs (node:http); artifact downloads go through fetch
  const asked: string[] = [];
  const onRequest = (m: unknown) => {
    const path = (m as { request: { path: string } }).request.path;
    if (path.startsWith('/api/2.0/mlflow/')) asked.push(decodeURIComponent(path.slice('/api/2.0/mlflow/'.length)));
  };
  diagnostics_channel.subscribe('http.client.request.start', onRequest);
  const scoring = await startScoring(
    { ...config, reloadIntervalMs: 3_600_000 },
    env({ ML_REGISTRY_PREFIX: name }),
    () => {},
  );
  try {
    const versions = () => {
      const s = scoring.status() as Record<string, Record<string, { version: string | null; error: string | null }>>;
      return [s.fraud?.champion?.version, s.fraud?.challenger?.version, s.churn?.champion?.error];
    };
    assert.deepEqual(versions().slice(0, 2), [v1, v1]);
    asked.length = 0;
    await scoring.refresh();
    assert.deepEqual(asked.sort(), [
      `registered-models/get?name=${name}churn`,
      `registered-models/get?name=${name}fraud`,
    ]);
    assert.match(String(versions()[2]), /^alias_not_found: .*churn@champion does not exist/);

    const v2 = await rest.register(`${name}fraud`, modelB, goodTags(modelB));
    await rest.setAlias(`${name}fraud`, 'champion', v2);
    asked.length = 0;
    await scoring.refresh();
    assert.deepEqual(asked.sort(), [
      `registered-models/alias?name=${name}fraud&alias=champion`,
      `registered-models/get?name=${name}churn`,
      `registered-models/get?name=${name}fraud`,
    ]);
    assert.deepEqual(versions().slice(0, 2), [v2, v1]);

    // the challenger's alias removed: it stops serving, reported, without a request of its own
    await rest.deleteAlias(`${name}fraud`, 'challenger');
    asked.length = 0;
    await scoring.refresh();
    assert.equal(asked.length, 2);
    const s = scoring.status() as Record<string, Record<string, { version: string | null; error: string | null }>>;
    assert.equal(s.fraud?.challenger?.version, null);
    assert.match(String(s.fraud?.challenger?.error), /^alias_not_found: /);
    assert.equal(s.fraud?.champion?.version, v2);
  } finally {
    diagnostics_channel.unsubscribe('http.client.request.start', onRequest);
    await scoring.close();
  }
});

function slotFor(registryUrl: string, name: string) {
  return new ModelSlot('fraud', 'champion', name, new ModelRegistry(registryUrl, 1000), cols, FEATURE_SPEC.version);
}

test('an unloadable model file, a corrupt artifact and an alias to nothing are reported and never served', async () => {
  const name = `${prefix}failing`;
  const good = await rest.register(name, modelA, goodTags(modelA));
  const garbage = Buffer.from('this is not an onnx model');
  const unloadable = await rest.register(name, garbage, {
    feature_spec_version: FEATURE_SPEC.version,
    onnx_sha256: sha256(garbage),
  });
  const corrupt = await rest.register(name, modelB, {
    feature_spec_version: FEATURE_SPEC.version,
    onnx_sha256: sha256(modelA),
  });
  const slot = slotFor(mlflowUrl, name);

  await rest.setAlias(name, 'champion', good);
  await slot.refresh();
  assert.equal(slot.status().version, good);

  await rest.setAlias(name, 'champion', unloadable);
  await slot.refresh();
  assert.match(slot.status().error ?? '', /^model_load_failed/);
  assert.equal(slot.status().version, good, 'the loaded model stays');

  await rest.setAlias(name, 'champion', corrupt);
  await slot.refresh();
  assert.match(slot.status().error ?? '', /^artifact_checksum_mismatch/);
  assert.equal(slot.status().version, good);

  await rest.deleteAlias(name, 'champion');
  await slot.refresh();
  assert.match(slot.status().error ?? '', /^alias_not_found/);
  assert.equal(slot.status().version, null, 'an alias to nothing unloads: answers fall back, flagged');
  await slot.close();
});

test('MLflow down: the registry error is reported and answers fall back to the rules, flagged', async () => {
  const slot = slotFor('http://127.0.0.1:9', `${prefix}fraud`);
  await slot.refresh();
  assert.match(slot.status().error ?? '', /^registry_unreachable/);
  const scoring = await startScoring(config, env({ MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' }), () => {});
  const srv = await startInferenceServer(config, { scoring });
  try {
    const r = await post(srv.port, '/fraud/score', body(events[0] as Record<string, unknown>));
    assert.equal(r.status, 200);
    assert.equal(r.json.model_version, 'rules-v2', 'rules with the online features');
    assert.equal(r.json.fallback_reason, 'no_model');
    const health = (await (await fetch(`http://127.0.0.1:${srv.port}/health`)).json()) as {
      models: { fraud: { champion: { error: string } } };
    };
    assert.match(health.models.fraud.champion.error, /registry_unreachable/);
  } finally {
    await srv.close();
    await scoring.close();
  }
});

test('Redis down: scoring continues without features and every answer says so', async () => {
  const name = `${prefix}redisdown`;
  const v = await rest.register(name, modelA, goodTags(modelA));
  await rest.setAlias(name, 'champion', v);
  const champion = slotFor(mlflowUrl, name);
  await champion.refresh();
  const dead = new Redis('redis://127.0.0.1:9', {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  dead.on('error', () => {});
  const core = await loadCore();
  const challenger = slotFor(mlflowUrl, `${prefix}none`);
  const scorer = new Scorer(
    core,
    new OnlineFeatures(dead, FEATURE_SPEC),
    FEATURE_SPEC,
    { fraud: { champion, challenger }, churn: { champion, challenger } },
    new Registry(),
  );
  const reqs = events
    .slice(0, 10)
    .map((e) => ({ model: 'fraud' as const, event: e as never, eventJson: JSON.stringify(e) }));
  const answers = await scorer.scoreMany(reqs);
  for (const a of answers) {
    assert.equal(a.features, 'unavailable');
    assert.equal(a.model_version, `fraud@${v}`);
    assert.equal(typeof a.score, 'number');
  }
  await champion.close();
  dead.disconnect();
});

test("in-process scoring (@pep/ml/scoring) gives the service's answers without HTTP; a bad item is a clear error", async () => {
  const name = `${prefix}local-`;
  const v = await rest.register(`${name}fraud`, modelA, goodTags(modelA));
  await rest.setAlias(`${name}fraud`, 'champion', v);
  const e = env({ ML_REGISTRY_PREFIX: name });
  const local = await startLocalScoring(e, () => {});
  const scoring = await startScoring(config, e, () => {});
  const srv = await startInferenceServer(config, { scoring });
  try {
    const items = events
      .filter((x) => String(x.event_type).startsWith('payment.'))
      .slice(0, 64)
      .map(body);
    const inProcess = await local.scoreFraud(items);
    const viaHttp = await post(srv.port, '/fraud/score/batch', { items });
    assert.equal(inProcess.length, 64);
    assert.ok(inProcess.every((a) => a.model_version === `fraud@${v}` && a.features === 'online'));
    assert.deepEqual(JSON.parse(JSON.stringify(inProcess)), viaHttp.json.results);
    await assert.rejects(
      local.scoreFraud([items[0], { event_id: 'x', amount_minor: 'ten' }]),
      /items\[1\]: amount_minor/,
    );
    assert.equal((local.status() as { fraud: { champion: { version: string } } }).fraud.champion.version, v);
  } finally {
    await srv.close();
    await scoring.close();
    await local.close();
  }
});

test('the features as numbers (the default) give the answers of the features as JSON records, fallbacks included', async () => {
  const name = `${prefix}records`;
  const v = await rest.register(name, modelA, goodTags(modelA));
  await rest.setAlias(name, 'champion', v);
  const champion = slotFor(mlflowUrl, name);
  await champion.refresh();
  const challenger = slotFor(mlflowUrl, `${prefix}none`);
  const core = await loadCore();
  const dead = new Redis('redis://127.0.0.1:9', {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  dead.on('error', () => {});
  const scorerOf = (r: Redis, recordsAs: 'numbers' | 'json') =>
    new Scorer(
      core,
      new OnlineFeatures(r, FEATURE_SPEC),
      FEATURE_SPEC,
      { fraud: { champion, challenger }, churn: { champion, challenger } },
      new Registry(),
      { recordsAs },
    );
  const payments = events.filter((x) => String(x.event_type).startsWith('payment.'));
  const req = (e: Record<string, unknown>, eventJson: string | null = JSON.stringify(e)) => ({
    model: 'fraud' as const,
    event: e as never,
    eventJson,
  });
  // A full batch (repeated entities), then one with an event without a time (incomplete), one the vectorizer cannot
  // read (unknown currency: the batch call fails, rows are tried one by one) and one without an event.
  const noTime = { ...payments[3], provider_created_at: null } as Record<string, unknown>;
  const badCurrency = { ...payments[4], currency: 'XYZ' } as Record<string, unknown>;
  // Entities Redis has no row of: no features, and not stale (no row is older than the event).
  const unknown = {
    ...payments[6],
    customer_id: 'cus_never_seen',
    merchant_id: 'mer_never_seen',
    card_last_four: '0009',
  } as Record<string, unknown>;
  const batches = [
    payments.slice(0, 64).map((e) => req(e)),
    [
      ...payments.slice(100, 110).map((e) => req(e)),
      req(noTime),
      req(badCurrency),
      req(payments[5] as Record<string, unknown>, null),
      req(unknown),
    ],
  ];
  try {
    for (const r of [redis, dead]) {
      const numbers = scorerOf(r, 'numbers');
      const json = scorerOf(r, 'json');
      for (const batch of batches) {
        const a = await numbers.scoreMany(batch);
        const b = await json.scoreMany(batch);
        assert.deepEqual(a, b);
        assert.equal(a.length, batch.length);
      }
    }
    // Not vacuous: the first batch is scored online with varied scores; the second has each fallback.
    const a = await scorerOf(redis, 'numbers').scoreMany(batches[0] as never);
    assert.ok(a.every((x) => x.features !== 'unavailable' && typeof x.score === 'number'));
    assert.ok(new Set(a.map((x) => x.score)).size > 5, 'scores vary');
    const b = await scorerOf(redis, 'numbers').scoreMany(batches[1] as never);
    assert.deepEqual(
      b.slice(10, 13).map((x) => x.fallback_reason),
      ['event_incomplete', 'event_unreadable', 'event_incomplete'],
    );
    assert.equal(b[13]?.features, 'online', 'unknown entities are not stale');
    assert.equal(typeof b[13]?.score, 'number');
    assert.ok(b[11]?.records?.customer, 'a fallback carries its records');
  } finally {
    await champion.close();
    dead.disconnect();
  }
});
