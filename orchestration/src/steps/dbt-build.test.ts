/**
 * The dbt.build step around its command: `npm run dbt -- build --vars {"partition_day": …}` in a repository root whose
 * `dbt` script stands in for dbt (the real build runs in dbt's own suites). What the step makes of the command's JSON
 * summary and exit status: the output version is the set of bronze snapshots read, 75 is retried, anything else fails.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { StepFailure, TransientStepError } from '../step.ts';
import { dbtBuild, dbtCheck } from './analytical.ts';
import { fakeRoot } from './test-support.ts';

const fake = fakeRoot('pep-orch-dbt-');
after(() => fake.remove());
const fakeDbt = (summary: object, code: number) => fake.script('dbt', summary, code);
const context = () => fake.context({ 'lake.compact': 'v1' });

const day = { key: '2026-12-01', start: new Date('2026-12-01T00:00:00Z'), end: new Date('2026-12-02T00:00:00Z') };

test('a successful build: its summary is the output, the bronze snapshots it read are the output version', async () => {
  fakeDbt(
    {
      status: 'success',
      partition_day: '2026-12-01',
      bronze: {
        payment_events: { snapshot_id: '9007199254740993123', total_records: 10 },
        webhook_events: { snapshot_id: null, missing: true },
      },
    },
    0,
  );
  const r = await dbtBuild.run(context(), day as never);
  assert.equal(r.outputs.status, 'success');
  assert.equal(r.outputVersion, JSON.stringify({ payment_events: '9007199254740993123', webhook_events: null }));
  assert.deepEqual(r.consumed, {
    bronze_snapshots: { payment_events: '9007199254740993123', webhook_events: null },
  });
  // the same snapshots give the same version whatever the timings: ml.train does not run again for nothing
  const again = await dbtBuild.run(context(), day as never);
  assert.equal(again.outputVersion, r.outputVersion);
});

test('exit 75 (catalog or Trino not answering) is retried; a failed model or test fails the run with the summary', async () => {
  fakeDbt({ status: 'failed', exit_code: 75, error: 'Trino is not answering' }, 75);
  await assert.rejects(dbtBuild.run(context(), day as never), (e: unknown) => {
    assert.ok(e instanceof TransientStepError, String(e));
    assert.match(e.message, /exited 75/);
    return true;
  });
  fakeDbt({ status: 'failed', exit_code: 1, failures: [{ unique_id: 'test.pep.money' }] }, 1);
  await assert.rejects(dbtBuild.run(context(), day as never), (e: unknown) => {
    assert.ok(e instanceof StepFailure, String(e));
    assert.match(e.message, /npm run dbt -- build --vars \{"partition_day":"2026-12-01"\} exited 1/);
    return true;
  });
});

test('dbt.check: the daily full check is a build with full_checks (every test over every row); a failed test fails it', async () => {
  fakeDbt({ status: 'success', partition_day: '2026-12-01', results: { success: 40, pass: 180 } }, 0);
  const r = await dbtCheck.run(fake.context({}), day as never);
  assert.equal(r.outputs.status, 'success');
  assert.deepEqual(dbtCheck.upstream, []);
  fakeDbt({ status: 'failed', exit_code: 1, failures: [{ unique_id: 'test.pep.unique_fct_payments_payment_key' }] }, 1);
  await assert.rejects(dbtCheck.run(fake.context({}), day as never), (e: unknown) => {
    assert.ok(e instanceof StepFailure, String(e));
    assert.equal(e.code, 'DbtCheckFailed');
    assert.match(e.message, /npm run dbt -- build --vars \{"partition_day":"2026-12-01","full_checks":true\} exited 1/);
    return true;
  });
});
