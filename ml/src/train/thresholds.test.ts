import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../config.ts';
import { readThresholds, THRESHOLDS_HEADER, thresholdsSeedPath, writeThreshold } from './thresholds.ts';

const committed = join(REPO_ROOT, 'dbt', 'seeds', 'fraud_model_thresholds.csv');

test("the committed dbt seed holds the rules' threshold (src/rules.ts FRAUD_ALERT_THRESHOLD) for both rule sets", async () => {
  const { FRAUD_ALERT_THRESHOLD } = await import('../rules.ts');
  const rows = readThresholds(committed);
  assert.equal(rows.get('rules-v1'), FRAUD_ALERT_THRESHOLD);
  assert.equal(rows.get('rules-v2'), FRAUD_ALERT_THRESHOLD);
});

test('a version is added, replaced on re-registration, and the rules rows are kept', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'pep-thr-')), 'fraud_model_thresholds.csv');
  writeFileSync(file, readFileSync(committed));
  writeThreshold(file, 'fraud@3', 0.1834);
  writeThreshold(file, 'fraud@4', 0.25);
  writeThreshold(file, 'fraud@3', 0.2);
  assert.equal(
    readFileSync(file, 'utf8'),
    `${THRESHOLDS_HEADER}\nrules-v1,0.7\nrules-v2,0.7\nfraud@4,0.25\nfraud@3,0.2\n`,
  );
  // A missing file starts with the header.
  const fresh = join(mkdtempSync(join(tmpdir(), 'pep-thr-')), 'x.csv');
  writeThreshold(fresh, 'fraud@1', 0.5);
  assert.deepEqual([...readThresholds(fresh)], [['fraud@1', 0.5]]);
});

test('bad input: a clear error, the file untouched', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'pep-thr-')), 'bad.csv');
  writeFileSync(file, `${THRESHOLDS_HEADER}\nfraud@1,1.5\n`);
  assert.throws(
    () => writeThreshold(file, 'fraud@2', 0.3),
    /bad\.csv:2: not "<model version>,<threshold in \(0, 1\]>"/,
  );
  assert.equal(readFileSync(file, 'utf8'), `${THRESHOLDS_HEADER}\nfraud@1,1.5\n`);
  writeFileSync(file, 'version,threshold\n');
  assert.throws(() => readThresholds(file), /first line must be/);
  for (const t of [0, -0.1, 1.01, Number.NaN])
    assert.throws(() => writeThreshold(file, 'fraud@2', t), /not in \(0, 1\]/);
  assert.throws(() => writeThreshold(file, 'fraud,2', 0.3), /cannot be a seed row/);
});

test('where training writes: the env path, off, else the repo seed only for the served registry name', () => {
  assert.equal(thresholdsSeedPath('fraud', 'fraud', {}), committed);
  assert.equal(thresholdsSeedPath('bench-x-fraud', 'fraud', {}), null);
  assert.equal(thresholdsSeedPath('test-fraud', 'fraud', { ML_DBT_THRESHOLDS_SEED: '/tmp/t.csv' }), '/tmp/t.csv');
  assert.equal(thresholdsSeedPath('fraud', 'fraud', { ML_DBT_THRESHOLDS_SEED: 'off' }), null);
});
