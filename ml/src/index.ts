/**
 * @pep/ml: what other packages (the benchmark) use. The service itself runs from server.ts, the features consumer
 * from features/main.ts, the trainer from train/cli.ts.
 */

export { loadMlConfig, type MlConfig } from './config.ts';
export { entityIds, eventTimeMs } from './features/aggregate.ts';
export { OfflineLog } from './features/offline.ts';
export { OnlineFeatures } from './features/online.ts';
export { FeatureProcessor } from './features/processor.ts';
export {
  compareVectors,
  type FeatureTimesUs,
  historicalRows,
  recordsOf,
  servedFeatureTimes,
} from './features/skew.ts';
export { FEATURE_SPEC } from './features/spec.ts';
export { StateStore } from './features/store.ts';
export { type EntityRecords, vectorEventFields, vectorEventJson, vectorize } from './features/vectorize.ts';
export { feastApply, feastHistorical } from './py/feast.ts';
export { runPython } from './py/run.ts';
export { startInferenceServer, startScoring } from './server.ts';
export { fraudRequestOf, MlflowRest, sha256, tinyModel } from './serving/dev-registry.ts';
export { OnnxClassifier } from './serving/onnx.ts';
export { ModelRegistry, type ModelVersionInfo } from './serving/registry.ts';
export { simulatedEvents } from './sim/events.ts';
export { trainModel } from './train/train.ts';
