export type { ServiceName } from './service.ts';
export { kafkaAdminClient, partitionsFor, serverProperties } from './services/kafka.ts';
export { SUPERSET_VENV, type SupersetSettings, supersetBin, supersetSettings } from './services/superset.ts';
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
