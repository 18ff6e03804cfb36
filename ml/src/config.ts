/**
 * Configuration of ml/ validated once into a frozen object (defaults, then environment). Every variable is
 * documented in ml/README.md.
 */
import { join, resolve } from 'node:path';
import { serviceAddresses } from '@pep/contracts';
import { REPO_ROOT, STATE_DIR } from '@pep/stack/paths';

export interface MlConfig {
  /** Where ml/ keeps its local state: Feast registry, offline feature log, model cache. */
  readonly stateDir: string;
  /** Folder of the offline feature log (Parquet per entity). */
  readonly offlineDir: string;
  readonly redisUrl: string;
  readonly mlflowUrl: string;
}

export function loadMlConfig(env: NodeJS.ProcessEnv = process.env): MlConfig {
  const stateDir = resolve(env.ML_STATE_DIR ?? join(STATE_DIR, 'ml'));
  return Object.freeze({
    stateDir,
    offlineDir: resolve(env.FEATURES_OFFLINE_DIR ?? join(stateDir, 'offline')),
    redisUrl: serviceAddresses(env).redisUrl,
    mlflowUrl: (env.MLFLOW_TRACKING_URI ?? 'http://127.0.0.1:5000').replace(/\/+$/, ''),
  });
}

export { REPO_ROOT };
