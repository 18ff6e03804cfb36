export { bronzeNamespace, bronzeSnapshots, catalogSettings, createBronzeTables, PACKAGE_DIR } from './bronze.ts';
export { appendBronze, type BronzeRow, dropHistory, generateHistory } from './history.ts';
export { queryTarget, queryTargetMany, type Row } from './query.ts';
export {
  type DbtRunSummary,
  type DbtTarget,
  dbtPaths,
  EXIT_TEMPFAIL,
  runDbt,
  TARGETS,
  trinoAddress,
  trinoReady,
  UNPUBLISHED_MARTS,
} from './run.ts';
export { DBT_VENV, type DbtToolchain, ensureDbtToolchain } from './venv.ts';
