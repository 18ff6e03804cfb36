/**
 * `npm run drift` against the real Redis, Feast, MLflow server, onnxruntime-node and PostgreSQL: a fraud model is
 * trained and promoted on a generated history by the automated trainer `npm start` runs (auto.ts; its drift
 * reference registered with it), then the command compares
 * windows of logged events with it. The training window itself shows no drift (the recent side is computed as serving
 * computes it: any skew, column mix-up or other score would show here); a later day whose amounts are 100 times larger
 * is an alert (exit 3) naming the amount features, stored in ml.drift_reports / ml.drift_features and replaced, not
 * duplicated, by a re-run; too few rows, no champion, MLflow down and bad command lines each get their own answer.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { serviceAddresses } from '@pep/contracts';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { eventTimeMs } from '../src/features/aggregate.ts';
import { MlflowRest } from '../src/serving/dev-registry.ts';
import { ModelRegistry } from '../src/serving/registry.ts';
import { simulatedEvents } from '../src/sim/events.ts';
import { AutoTrainer } from '../src/train/auto.ts';
import { trainModel } from '../src/train/train.ts';
import { freshRedis, processorFor, testConfig } from './helpers.ts';

const cfg = {
  ...testConfig(13, 'drift'),
  mlflowUrl: (process.env.MLFLOW_TRACKING_URI ?? 'http://127.0.0.1:5000').replace(/\/+$/, ''),
};
const prefix = `test-drift-${Date.now().toString(36)}-`;
const CLI = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'src', 'drift', 'cli.ts');
const STEP_MS = 15 * 60_000;
const START_MS = Date.UTC(2026, 3, 1);
let redis: Redis;
let db: pg.Client;
let historyEndMs = 0;
let trainWindow: { from: string; to: string };
const driftDay = { from: '', to: '' };

interface CliResult {
  code: number | null;
  stderr: string;
  json: {
    status: string;
    exit_code: number;
    reports: {
      status: string;
      modelVersion?: number;
      rows?: number;
      maxFeaturePsi?: number;
      scorePsi?: number;
      drifted?: string[];
      report_id?: string | null;
      reason?: string;
      features?: { feature: string; psi: number; level: string }[];
    }[];
  } | null;
}

function drift(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, '--model', 'fraud', '--json', ...args], {
      env: {
        ...process.env,
        ML_STATE_DIR: cfg.stateDir,
        REDIS_URL: cfg.redisUrl,
        MLFLOW_TRACKING_URI: cfg.mlflowUrl,
        ML_REGISTRY_PREFIX: prefix,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.once('error', reject);
    child.once('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      let json: CliResult['json'] = null;
      try {
        json = last.startsWith('{') ? JSON.parse(last) : null;
      } catch {
        json = null;
      }
      resolve({ code, stderr: err, json });
    });
  });
}

async function apply(raw: string[]): Promise<void> {
  const p = processorFor(redis, cfg, true, false);
  for (let i = 0; i < raw.length; i += 500) {
    const chunk = raw.slice(i, i + 500);
    await p.applyBatch(
      chunk.map((e) => JSON.parse(e)),
      chunk,
    );
  }
}

before(async () => {
  redis = await freshRedis(cfg);
  db = new pg.Client({ connectionString: serviceAddresses().databaseUrl });
  await db.connect();
  const history = await simulatedEvents({
    seed: 41,
    count: Number(process.env.ML_DRIFT_TEST_EVENTS ?? 6000),
    startMs: START_MS,
    stepMs: STEP_MS,
    customers: 400,
    fraudRate: 3,
  });
  await apply(history);
  historyEndMs = Math.max(...history.map((e) => eventTimeMs(JSON.parse(e)) || 0));
  // The model has to be served for its drift to be watched: promote it (this history starts empty, so the gate's own
  // PSI check between its windows is loosened here; train.test.ts covers that check).
  process.env.ML_GATE_PSI_MAX = '100';
  process.env.ML_GATE_OUT_OF_RANGE_MAX = '1';
  process.env.ML_GATE_NULL_DELTA_MAX = '1';
  try {
    // Through the trainer `npm start` runs (auto.ts), on the real MLflow: no champion yet, so it trains and gates.
    const trainer = new AutoTrainer({
      registry: new ModelRegistry(cfg.mlflowUrl),
      train: (model) => trainModel(cfg, model, { registeredName: `${prefix}${model}`, log: () => {} }),
      registeredName: (model) => `${prefix}${model}`,
      models: ['fraud'],
      retrainMs: 3_600_000,
    });
    const [outcome] = await trainer.tick();
    assert.equal(outcome?.action, 'trained', outcome?.reason);
    const r = outcome?.result as NonNullable<typeof outcome>['result'] & {};
    // Without a champion the gate compares with rules-v2, what serves (train.test.ts covers that gate). On this small
    // history the model may not beat rules-v2 with confidence: then it is blocked for that reason alone, and made
    // champion by hand, as an operator would, because what this file tests is the drift of a served model.
    if (r.decision === 'blocked') {
      assert.ok(
        r.reasons.length > 0 && r.reasons.every((x) => /ROC AUC gain over rules-v2/.test(x)),
        r.reasons.join('; '),
      );
      await new MlflowRest(cfg.mlflowUrl).setAlias(`${prefix}fraud`, 'champion', String(r.version));
    } else assert.equal(r.decision, 'promoted', r.reasons.join('; '));
    assert.equal(
      (await new ModelRegistry(cfg.mlflowUrl).alias(`${prefix}fraud`, 'champion'))?.version,
      String(r.version),
    );
    assert.equal((await trainer.tick())[0]?.action, 'not_due', 'a fresh champion is not retrained on the next check');
    const meta = JSON.parse(readFileSync(join(r.data_dir, 'meta.json'), 'utf8')) as {
      window: { trainFrom: string; evalFrom: string };
    };
    trainWindow = { from: meta.window.trainFrom, to: meta.window.evalFrom };
  } finally {
    delete process.env.ML_GATE_PSI_MAX;
    delete process.env.ML_GATE_OUT_OF_RANGE_MAX;
    delete process.env.ML_GATE_NULL_DELTA_MAX;
  }
  // A later stretch of traffic in which every amount is 100 times larger.
  const later = await simulatedEvents({
    seed: 42,
    count: 1500,
    startMs: historyEndMs + STEP_MS,
    stepMs: 60_000,
    customers: 400,
    fraudRate: 3,
  });
  const scaled = later.map((e) => {
    const ev = JSON.parse(e);
    if (typeof ev.amount_minor === 'number') ev.amount_minor *= 100;
    return JSON.stringify(ev);
  });
  await apply(scaled);
  const times = scaled.map((e) => eventTimeMs(JSON.parse(e)));
  driftDay.from = new Date(Math.min(...times)).toISOString();
  driftDay.to = new Date(Math.max(...times) + 1).toISOString();
});
after(async () => {
  redis.disconnect();
  await db.end();
});

test('the training window itself: no drift, the served vectors and scores are the training ones (PSI 0)', async () => {
  const r = await drift(['--from', trainWindow.from, '--to', trainWindow.to]);
  assert.equal(r.code, 0, r.stderr);
  const rep = r.json?.reports[0];
  assert.equal(rep?.status, 'ok', r.stderr);
  assert.ok((rep?.rows ?? 0) >= 100, `rows ${rep?.rows}`);
  assert.ok((rep?.maxFeaturePsi ?? 1) < 1e-9, `feature PSI ${rep?.maxFeaturePsi}`);
  assert.ok((rep?.scorePsi ?? 1) < 1e-9, `score PSI ${rep?.scorePsi}`);
  const { rows } = await db.query('SELECT status, rows_compared FROM ml.drift_reports WHERE id = $1', [rep?.report_id]);
  assert.deepEqual(rows, [{ status: 'ok', rows_compared: rep?.rows }]);
});

test('amounts 100 times larger: an alert (exit 3) naming the amount features, stored for the dashboards', async () => {
  const r = await drift(['--from', driftDay.from, '--to', driftDay.to]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /ALERT test-drift-.*fraud v\d+/);
  const rep = r.json?.reports[0];
  assert.equal(rep?.status, 'alert');
  assert.equal(r.json?.status, 'alert');
  const amount = (rep?.features ?? []).filter((f) => /amount/.test(f.feature) && f.level === 'alert');
  assert.ok(amount.length > 0, `no amount feature alerted: ${rep?.drifted?.join(', ')}`);
  const { rows } = await db.query<{ status: string; drifted: string[]; n: string }>(
    `SELECT r.status, r.drifted, (SELECT count(*) FROM ml.drift_features f WHERE f.report_id = r.id) AS n
       FROM ml.drift_reports r WHERE r.registered_name = $1 AND r.window_from = $2`,
    [`${prefix}fraud`, driftDay.from],
  );
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.status, 'alert');
  assert.ok(rows[0]?.drifted.includes(amount[0]?.feature as string));
  assert.equal(Number(rows[0]?.n), (rep?.features ?? []).length, 'one row per feature and the score');

  // The same window again replaces its report.
  const again = await drift(['--from', driftDay.from, '--to', driftDay.to]);
  assert.equal(again.code, 3);
  const count = await db.query('SELECT count(*)::int AS n FROM ml.drift_reports WHERE registered_name = $1', [
    `${prefix}fraud`,
  ]);
  assert.equal(count.rows[0].n, 2, 'one report per window (the training window and this one)');
});

test('too few rows, no champion, MLflow down, a bad command line: each its own answer, nothing stored wrongly', async () => {
  const empty = await drift(['--from', '2020-01-01T00:00:00Z', '--to', '2020-01-02T00:00:00Z']);
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.json?.reports[0]?.status, 'insufficient_data');

  const none = await drift([], { ML_REGISTRY_PREFIX: `${prefix}none-` });
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.json?.reports[0]?.status, 'no_champion');
  assert.equal(none.json?.reports[0]?.report_id, undefined);

  const down = await drift([], { MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' });
  assert.equal(down.code, 75, down.stderr);
  assert.match(down.json?.reports[0]?.reason ?? '', /MLflow at http:\/\/127\.0\.0\.1:9 is unreachable/);

  for (const [args, message] of [
    [['--from', '2026-05-02T00:00:00Z', '--to', '2026-05-01T00:00:00Z'], /is not before --to/],
    [['--partition', '2999-01-01'], /is in the future/],
    [['--partition', 'yesterday'], /must be a day/],
    [['--bogus'], /Unknown option/],
  ] as const) {
    const r = await drift([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
