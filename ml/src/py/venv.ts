/**
 * The Python side of ml/ (Feast, training, ONNX export): one project-local virtualenv from PyPI with exact pins,
 * installed once per machine by the stack's shared installer (`ensureVenv`). Not the MLflow server's virtualenv
 * (stack/src/services/mlflow.ts) and not the training code itself (ml/python/).
 */
import { join } from 'node:path';
import { ensureVenv, type VenvSpec } from '@pep/stack/install';

/** Pins verified together on the project machine (reference infrastructure.md section 10). */
export const TRAIN_VENV: VenvSpec = Object.freeze({
  name: 'ml-train',
  requirements: Object.freeze([
    'feast[redis]==0.67.0',
    // Feast's DuckDB offline store (ibis): its point-in-time join is exact where the default dask one is not
    // (ml/python/pep_ml/repo.py). duckdb pinned to the lakehouse's version (its extension wheels are 1.5.5).
    'ibis-framework[duckdb]==12.0.0',
    'duckdb==1.5.5',
    'lightgbm==4.7.0',
    'onnxmltools==1.16.0',
    'skl2onnx==1.20.0',
    'onnx==1.23.2',
    'mlflow-skinny==3.17.2',
  ]),
  timeoutMs: 30 * 60_000,
});

/** Installs (once per machine) and returns the path of the training virtualenv's python. */
export async function trainPython(log: (m: string) => void = (m) => console.error(`[ml] ${m}`)): Promise<string> {
  const dir = await ensureVenv(TRAIN_VENV, log);
  return join(dir, 'bin', 'python');
}
