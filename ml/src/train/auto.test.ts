/**
 * The automated trainer's decisions (auto.ts), around a registry and a training function that stand in for MLflow and
 * train.ts (the real ones run in test/drift.test.ts, where this trainer trains and promotes the model under test):
 * no champion → train, not enough history → said and tried again, a champion → retrain after the interval only,
 * MLflow down → waited out, stop → no further work.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelVersionInfo } from '../serving/registry.ts';
import { AutoTrainer } from './auto.ts';
import type { ModelName } from './dataset.ts';
import type { TrainResult } from './train.ts';

const result = (model: ModelName, version: number, decision: 'promoted' | 'blocked'): TrainResult => ({
  model,
  version,
  decision,
  reasons: decision === 'blocked' ? ['ROC AUC gain lower bound -0.01 is not above 0'] : [],
  baseline: 'rules-v2 (no champion yet: what serves)',
  model_roc_auc: 0.8,
  rules_roc_auc: 0.5,
  rules_v2_roc_auc: null,
  alert_threshold: null,
  thresholds_seed: null,
  auc_gain_lower_bound: 0.2,
  run_id: 'r',
  data_dir: '/tmp/x',
  seconds: 1,
});

function world() {
  const champions = new Map<string, ModelVersionInfo>();
  const w = {
    clock: 0,
    registryDown: false,
    history: false,
    trained: [] as ModelName[],
    logs: [] as string[],
    champions,
  };
  const trainer = new AutoTrainer({
    registry: {
      alias: async (name: string) => {
        if (w.registryDown) throw new Error('MLflow at http://127.0.0.1:5000 is unreachable');
        return champions.get(name) ?? null;
      },
    },
    train: async (model) => {
      if (!w.history) throw new Error(`${model}: not enough labelled history yet (12 examples, 0 positive)\nmore`);
      w.trained.push(model);
      const version = w.trained.filter((m) => m === model).length;
      const promoted = model === 'fraud';
      if (promoted) champions.set(model, { name: model, version: String(version), source: 's', runId: null, tags: {} });
      return result(model, version, promoted ? 'promoted' : 'blocked');
    },
    retrainMs: 3_600_000,
    now: () => w.clock,
    log: (m, f) => w.logs.push(`${m} ${JSON.stringify(f ?? {})}`),
  });
  return { w, trainer };
}

test('no history yet: each model is tried, the missing history is said, nothing crashes; then both train', async () => {
  const { w, trainer } = world();
  let out = await trainer.tick();
  assert.deepEqual(
    out.map((o) => [o.model, o.action]),
    [
      ['fraud', 'not_trained'],
      ['churn', 'not_trained'],
    ],
  );
  assert.equal(out[0]?.reason, 'fraud: not enough labelled history yet (12 examples, 0 positive)');
  assert.ok(w.logs.some((l) => /not trained yet .*not enough labelled history/.test(l)));
  w.history = true;
  w.clock += 60_000;
  out = await trainer.tick();
  assert.deepEqual(
    out.map((o) => [o.model, o.action, o.result?.decision]),
    [
      ['fraud', 'trained', 'promoted'],
      ['churn', 'trained', 'blocked'],
    ],
  );
});

test('a champion is retrained after the interval only; a model without one is tried on every check', async () => {
  const { w, trainer } = world();
  w.history = true;
  await trainer.tick();
  assert.deepEqual(w.trained, ['fraud', 'churn']);
  w.clock += 60_000;
  let out = await trainer.tick();
  // fraud has a champion: not due; churn was blocked (no champion): trained again.
  assert.deepEqual(
    out.map((o) => [o.model, o.action]),
    [
      ['fraud', 'not_due'],
      ['churn', 'trained'],
    ],
  );
  w.clock += 3_600_001;
  out = await trainer.tick();
  assert.equal(out[0]?.action, 'trained');
  assert.equal(out[0]?.result?.version, 2);
});

test('a champion from an earlier run is not retrained at start, but after the interval', async () => {
  const { w, trainer } = world();
  w.history = true;
  w.champions.set('fraud', { name: 'fraud', version: '9', source: 's', runId: null, tags: {} });
  const out = await trainer.tick();
  assert.equal(out[0]?.action, 'not_due');
  w.clock += 3_600_001;
  assert.equal((await trainer.tick())[0]?.action, 'trained');
});

test('MLflow down is waited out; a stop request ends the loop without starting more work', async () => {
  const { w, trainer } = world();
  w.history = true;
  w.registryDown = true;
  const out = await trainer.tick();
  assert.deepEqual(
    out.map((o) => o.action),
    ['registry_unavailable', 'registry_unavailable'],
  );
  assert.deepEqual(w.trained, []);
  w.registryDown = false;
  let checks = 0;
  const stopAfterFirstModel = () => checks++ >= 1;
  const partial = await trainer.tick(stopAfterFirstModel);
  assert.deepEqual(
    partial.map((o) => o.model),
    ['fraud'],
  );
  let stopped = false;
  const run = trainer.run(60_000, () => stopped);
  stopped = true;
  await run;
  assert.deepEqual(w.trained, ['fraud']);
});
