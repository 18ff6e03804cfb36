/**
 * Helpers for the serving tests and the ml benchmark (never used by the service): a real (small) LightGBM → ONNX
 * model from the project's trainer on a synthetic matrix, and registration through MLflow's REST API (artifact
 * upload, model version, tags, alias) so that a test can point an alias at a good model, a corrupt artifact or an
 * unloadable file.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPython } from '../py/run.ts';

/** Trains a model on rows where the label follows feature 0; returns its ONNX bytes. */
export async function tinyModel(cols: number, seed: number): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'pep-ml-tiny-'));
  const rows = 600;
  const x = new Float32Array(rows * cols);
  const y: number[] = [];
  let r = seed;
  const rnd = () => {
    r = (r * 1103515245 + 12345) % 2 ** 31;
    return r / 2 ** 31;
  };
  for (let i = 0; i < rows; i++) {
    for (let c = 0; c < cols; c++) x[i * cols + c] = rnd() * 10;
    y.push((x[i * cols] as number) + rnd() * 4 > 8 ? 1 : 0);
  }
  writeFileSync(join(dir, 'x.f32'), Buffer.from(x.buffer));
  writeFileSync(
    join(dir, 'meta.json'),
    JSON.stringify({
      model: 'fraud',
      rows,
      cols,
      y,
      split: y.map((_, i) => (i < 400 ? 0 : 1)),
      rules: y.map(() => 0.5),
      featureNames: Array.from({ length: cols }, (_, i) => `f${i}`),
      specVersion: 'test',
      window: { trainFrom: '', evalFrom: '', evalTo: '' },
    }),
  );
  await runPython('pep_ml.train', ['fit', '--data', dir]);
  return readFileSync(join(dir, 'model.onnx'));
}

export class MlflowRest {
  constructor(readonly base: string) {}

  private async call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`MLflow ${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : {};
  }

  /** Uploads `bytes` as a run's model.onnx and registers a version of `name` with the given tags; returns it. */
  async register(name: string, bytes: Buffer, tags: Record<string, string>): Promise<string> {
    const run = (await this.call('POST', '/api/2.0/mlflow/runs/create', {
      experiment_id: '0',
      run_name: `registered-${name}`,
      start_time: Date.now(),
    })) as { run: { info: { run_id: string; artifact_uri: string } } };
    const { run_id: runId, artifact_uri: artifactUri } = run.run.info;
    const m = /^mlflow-artifacts:\/(.*)$/.exec(artifactUri);
    if (!m) throw new Error(`unexpected artifact uri ${artifactUri}`);
    const up = await fetch(`${this.base}/api/2.0/mlflow-artifacts/artifacts/${m[1]}/model/model.onnx`, {
      method: 'PUT',
      body: bytes,
    });
    if (!up.ok) throw new Error(`artifact upload failed: ${up.status}`);
    await this.call('POST', '/api/2.0/mlflow/registered-models/create', { name }).catch((err: Error) => {
      if (!/RESOURCE_ALREADY_EXISTS/.test(err.message)) throw err;
    });
    const mv = (await this.call('POST', '/api/2.0/mlflow/model-versions/create', {
      name,
      source: `${artifactUri}/model`,
      run_id: runId,
      tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
    })) as { model_version: { version: string } };
    return mv.model_version.version;
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    await this.call('POST', '/api/2.0/mlflow/registered-models/alias', { name, alias, version });
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.call('DELETE', '/api/2.0/mlflow/registered-models/alias', { name, alias });
  }
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A `POST /fraud/score` body for a normalized event (its flat fields and the event itself), as the workflow sends. */
export const fraudRequestOf = (e: Record<string, unknown>) => ({
  event_id: e.event_id,
  amount_minor: e.amount_minor,
  currency: e.currency,
  customer_id: e.customer_id,
  merchant_id: e.merchant_id,
  event: e,
});
