export { ensureMavenArtifact, ensureVenv, withInstallLock } from './install.ts';
export { CACHE_DIR, REPO_ROOT, STATE_DIR } from './paths.ts';
export type { ServiceName } from './service.ts';
export { kafkaAdminClient, partitionsFor, serverProperties } from './services/kafka.ts';
export { TEMPORAL_CLI } from './services/temporal.ts';
export {
  killService,
  SERVICE_NAMES,
  type ServiceStatus,
  stackDown,
  stackStatus,
  stackUp,
  startService,
  stopService,
} from './stack.ts';
