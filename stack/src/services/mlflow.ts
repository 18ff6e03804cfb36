/**
 * MLflow tracking server and model registry (CONTRACT section 8, `MLFLOW_TRACKING_URI`, default port 5000): mlflow
 * from PyPI in a project-local virtualenv (ensureVenv, once per machine), a SQLite backend store and a local
 * artifact store under the state folder, artifacts served through the server (clients need no file access).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_DEFAULTS } from '@pep/contracts';
import { ensureVenv, type VenvSpec, venvDir } from '../install.ts';
import { serviceStateDir } from '../paths.ts';
import { startDetached } from '../process.ts';
import type { Logger, Service } from '../service.ts';

const { host, port } = SERVICE_DEFAULTS.mlflow;
const STATE = serviceStateDir('mlflow');

export const MLFLOW_VENV: VenvSpec = Object.freeze({
  name: 'mlflow',
  requirements: Object.freeze(['mlflow==3.17.2']),
  timeoutMs: 30 * 60_000,
});

export const mlflow: Service = {
  name: 'mlflow',
  address: `http://${host}:${port}`,
  // First start creates the SQLite schema (migrations): ~12 s on a quiet machine, much more on a loaded one.
  startTimeoutMs: 180_000,

  async ensureInstalled(log: Logger) {
    await ensureVenv(MLFLOW_VENV, log);
  },

  async isHealthy() {
    try {
      const res = await fetch(`http://${host}:${port}/health`, { signal: AbortSignal.timeout(2000) });
      return res.ok && (await res.text()).trim() === 'OK';
    } catch {
      return false;
    }
  },

  async start() {
    mkdirSync(join(STATE, 'artifacts'), { recursive: true });
    return startDetached({
      service: 'mlflow',
      command: join(venvDir(MLFLOW_VENV), 'bin', 'mlflow'),
      args: [
        'server',
        '--backend-store-uri',
        `sqlite:///${join(STATE, 'mlflow.db')}`,
        '--artifacts-destination',
        join(STATE, 'artifacts'),
        '--host',
        host,
        '--port',
        String(port),
        '--workers',
        '1',
      ],
      // Job execution off: MLflow 3's server jobs (GenAI features: prompt optimization, trace rollups) are not used
      // here (tracking and the model registry are), and they cost 8 huey processes, ~2 GB of RSS and ~10 ms of CPU a
      // second polling, on a 2-core box beside the scoring they preempt (measured: stack README).
      env: {
        ...process.env,
        MLFLOW_DISABLE_TELEMETRY: 'true',
        DO_NOT_TRACK: 'true',
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false',
      },
    });
  },
};
