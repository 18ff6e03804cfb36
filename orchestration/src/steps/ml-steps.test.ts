/**
 * The ml.train and ml.drift steps around their commands (`npm run train`, `npm run drift`), in a repository root whose
 * scripts stand in for them (the real commands run in ml's suites: ml/test/train.test.ts, ml/test/drift.test.ts).
 * What the steps make of the commands' JSON and exit statuses: a blocked promotion halts the graph below ml.train;
 * drift above the alert threshold (exit 3) halts ml.drift with the drifted features as its reason; no alert is a
 * success with the reports as outputs; 75 is retried; anything else fails with the command's output.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { StepFailure, TransientStepError } from '../step.ts';
import { mlDrift, mlTrain } from './analytical.ts';
import { fakeRoot } from './test-support.ts';

const fake = fakeRoot('pep-orch-ml-');
after(() => fake.remove());
const day = { key: '2026-12-01', start: new Date('2026-12-01T00:00:00Z'), end: new Date('2026-12-02T00:00:00Z') };

test('ml.drift: no alert is a success whose outputs are the reports; the command gets the day and --json', async () => {
  const summary = {
    status: 'warn',
    exit_code: 0,
    reports: [{ model: 'fraud', registeredName: 'fraud', modelVersion: 4, status: 'warn', drifted: ['x'] }],
  };
  fake.script('drift', summary, 0);
  const r = await mlDrift.run(fake.context({ 'ml.train': 'v1' }), day as never);
  assert.deepEqual(r.outputs, summary);
  assert.equal(r.halt, undefined);
  assert.equal(await mlDrift.available?.(fake.context({})), null, 'available once the root has a drift script');
  assert.deepEqual(mlDrift.upstream, ['ml.train']);
});

test('ml.drift: an alert (exit 3) halts the run with the drifted features of each alerting model', async () => {
  fake.script(
    'drift',
    {
      status: 'alert',
      exit_code: 3,
      reports: [
        { registeredName: 'fraud', modelVersion: 7, status: 'alert', drifted: ['customer_amount_sum_24h', 'score'] },
        { registeredName: 'churn', modelVersion: 2, status: 'ok', drifted: [] },
      ],
    },
    3,
  );
  const r = await mlDrift.run(fake.context({ 'ml.train': 'v1' }), day as never);
  assert.equal(r.halt?.code, 'DriftAlert');
  assert.equal(r.halt?.reason, 'drift above the alert threshold: fraud v7: customer_amount_sum_24h, score');
  assert.equal(r.outputs.status, 'alert');
});

test('ml.drift: 75 (MLflow or PostgreSQL down) is retried; another failure (no reference) fails with its output', async () => {
  fake.script('drift', { status: 'error', exit_code: 75, reports: [] }, 75);
  await assert.rejects(mlDrift.run(fake.context({}), day as never), (e: unknown) => {
    assert.ok(e instanceof TransientStepError, String(e));
    assert.match(e.message, /npm run drift -- --partition 2026-12-01 --json exited 75/);
    return true;
  });
  fake.script(
    'drift',
    { status: 'error', exit_code: 1, reports: [{ reason: 'fraud v3 has no drift_reference.json' }] },
    1,
  );
  await assert.rejects(mlDrift.run(fake.context({}), day as never), (e: unknown) => {
    assert.ok(e instanceof StepFailure, String(e));
    assert.equal(e.code, 'DriftReportFailed');
    assert.match(e.message, /no drift_reference\.json/);
    return true;
  });
});

test('ml.train: a blocked promotion (decision "blocked") halts the steps below it with the gate reasons', async () => {
  fake.script('train', { model: 'fraud', version: 3, decision: 'blocked', reasons: ['PSI of x is 0.4 > 0.25'] }, 0);
  const r = await mlTrain.run(fake.context({ 'dbt.build': 'v1' }), day as never);
  assert.equal(r.halt?.code, 'PromotionBlocked');
  assert.match(r.halt?.reason ?? '', /fraud: PSI of x is 0\.4 > 0\.25; churn: PSI of x/);
  fake.script('train', { model: 'fraud', version: 4, decision: 'promoted', reasons: [] }, 0);
  const ok = await mlTrain.run(fake.context({ 'dbt.build': 'v1' }), day as never);
  assert.equal(ok.halt, undefined);
  assert.equal((ok.outputs.fraud as { decision: string }).decision, 'promoted');
});
