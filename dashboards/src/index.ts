export {
  CHROMIUM_ARGS,
  CHROMIUM_PATH,
  type ChartReport,
  type ChartState,
  chartFailures,
  DashboardBrowser,
  type DashboardReport,
  type DashboardTarget,
  type DashboardTargetTab,
  ensureChromium,
  type LoadPhases,
  type TabReport,
} from './browser.ts';
export {
  BUNDLE_DIR,
  type BundleFiles,
  bundleDigest,
  flattenTabs,
  importZip,
  type LayoutTab,
  layoutTabs,
  normalizeExport,
  parseBundle,
  readBundle,
  writeBundle,
} from './bundle.ts';
export { SupersetClient, SupersetError } from './client.ts';
export {
  DATABASE_NAMES,
  DATABASE_UUIDS,
  type DatabaseTarget,
  databaseEnvironment,
  duckdbTarget,
  platformDatabases,
  postgresTarget,
  trinoRunning,
  trinoTarget,
} from './databases.ts';
export { buildMarts, DASHBOARD_MARTS } from './marts.ts';
export {
  connect,
  type DashboardLink,
  type DashboardTabLink,
  dashboardLinks,
  exportDashboards,
  loginHint,
  type ProvisionResult,
  provisionDashboards,
} from './provision.ts';
export { type SimulatedRun, simulatedRun } from './simulated-run.ts';
