export { ensureMavenArtifact, ensureVenv, withInstallLock } from './install.ts';
export { CACHE_DIR, REPO_ROOT, STATE_DIR } from './paths.ts';
export type { ServiceName } from './service.ts';
export { ICEBERG_REST_URI, icebergRestWarehouse } from './services/iceberg-rest.ts';
export {
  kafkaAdminClient,
  kafkaBootstrap,
  kafkaMtlsBootstrap,
  kafkaNodePorts,
  kafkaNodes,
  kafkaSaslSslBootstrap,
  kafkaTool,
  LOCAL_KAFKA_SASL,
  LocalKafkaCluster,
  localSaslSslEnv,
  partitionsFor,
  serverProperties,
} from './services/kafka.ts';
export { LOCAL_REDIS_USER } from './services/redis.ts';
export { localS3Env, S3_ENDPOINT, S3_LOCAL_CREDENTIALS, s3Python } from './services/s3.ts';
export {
  SUPERSET_VENV,
  type SupersetSettings,
  supersetBin,
  supersetServerSettings,
  supersetSettings,
} from './services/superset.ts';
export { TEMPORAL_CLI } from './services/temporal.ts';
export {
  clearStaleTrinoPidFile,
  ensureTrinoServer,
  TRINO_VERSION,
  trinoAnswers,
  trinoConfigFiles,
  trinoJavaHome,
  trinoLauncherPidFile,
} from './services/trino.ts';
export {
  DEFAULT_SERVICE_NAMES,
  killService,
  SERVICE_NAMES,
  type ServiceStatus,
  stackDown,
  stackHealthy,
  stackStatus,
  stackUp,
  startService,
  stopService,
} from './stack.ts';
export { ensureLocalTls, type TlsFiles, tlsFiles } from './tls.ts';
