/**
 * `@pep/ml/scoring`: fraud scoring in the caller's process, for a caller that would otherwise send a 64-event
 * `/fraud/score/batch` over HTTP (the workflows' scoring activity). The same parts as the inference service, shared,
 * not copied: online features read from Redis in Feast's layout by the same reader and decoder (one Lua call per
 * micro-batch), core-native's vectorizer, the champion and challenger from MLflow in onnxruntime-node with hot reload
 * when an alias moves (checked every ML_RELOAD_INTERVAL_MS), rules-v1 with the event's features when there is no
 * champion, and the same answers (`scoreFraudItems`, the endpoint's own code). What it saves is the HTTP request and
 * answer: encoding, parsing and writing ~60 KB each way per call (bench/ml: `score64_in_process_*`).
 * Bounded like the service: at most MAX_BATCH_ITEMS items per call, INFERENCE_MAX_BATCH rows per ORT run, a bounded
 * queue (overflow answers rules-v1, flagged `overloaded`). Bad input: a RequestError naming the item.
 * onnxruntime-node runs under Node (not Bun).
 */
import type { Registry } from '@pep/contracts/metrics';
import { RequestError, scoreFraudItems } from './app.ts';
import { loadConfig, type ScoringHandle, startScoring } from './server.ts';
import type { StageTimes } from './serving/scorer.ts';

export type { StageTimes } from './serving/scorer.ts';

/** True for the error `scoreFraud` throws on a bad item (the service's 422): retrying the same items cannot help. */
export const isInvalidRequest = (err: unknown): boolean => err instanceof RequestError;

export interface LocalScoring {
  /** Fraud answers for `items` (each the body of `/fraud/score`: flat fields plus `event`), in order. */
  scoreFraud(items: readonly unknown[]): ReturnType<typeof scoreFraudItems>;
  /** Per model and alias: the loaded version, the last error, the last check (the service's `/health` models). */
  status(): Record<string, unknown>;
  /** Checks every alias now. */
  refresh(): Promise<void>;
  /**
   * The scorer's Prometheus metrics (the service's `/metrics`: `inference_*`, the process gauges), for the caller to
   * serve: they are in this process now, not on the service's port (the workflows worker's `/metrics`).
   */
  readonly registry: Registry;
  /** Summed wall time per stage of the calls so far (the benchmark's per-stage breakdown; see StageTimes). */
  stages(): StageTimes;
  close(): Promise<void>;
}

/** Loads the models (REDIS_URL, MLFLOW_TRACKING_URI, ML_REGISTRY_PREFIX, INFERENCE_MAX_BATCH, ... as the service). */
export async function startLocalScoring(
  env: NodeJS.ProcessEnv = process.env,
  log?: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<LocalScoring> {
  const scoring: ScoringHandle = await startScoring(loadConfig(env), env, log);
  return {
    scoreFraud: (items) => scoreFraudItems(scoring, items),
    status: () => scoring.status(),
    refresh: () => scoring.refresh(),
    registry: scoring.registry,
    stages: () => ({ ...scoring.scorer.stages }),
    close: () => scoring.close(),
  };
}
