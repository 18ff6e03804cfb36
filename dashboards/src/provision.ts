/**
 * Puts the platform's dashboards into Superset: registers the databases from the environment and imports the
 * committed bundle, idempotently. An unchanged bundle with unchanged database settings, whose dashboards are all
 * still there, is not imported again (so an edit made in the UI survives restarts until the bundle itself changes);
 * `force` imports anyway, and an import of the same bundle changes nothing but Superset's audit timestamps.
 * Also the reverse direction: export what Superset holds back into the bundle's files.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SupersetSettings, supersetSettings } from '@pep/stack';
import { STATE_DIR } from '@pep/stack/paths';
import {
  BUNDLE_DIR,
  type BundleFiles,
  bundleDigest,
  dashboardChartUuids,
  importZip,
  layoutTabs,
  type NormalizedExport,
  normalizeExport,
  parseBundle,
  readBundle,
} from './bundle.ts';
import { SupersetClient } from './client.ts';
import { type DatabaseTarget, platformDatabases } from './databases.ts';

const IMPORT_STATE_FILE = join(STATE_DIR, 'superset', 'imported-bundle.json');

export interface DashboardLink {
  readonly slug: string;
  readonly title: string;
  readonly url: string;
  /** Names of its charts, in layout order. */
  readonly charts: readonly string[];
  /** Its tabs (none when the layout has none), each with the names of the charts placed in it. */
  readonly tabs?: readonly DashboardTabLink[];
}

export interface DashboardTabLink {
  /** The TAB node's id in the layout (`TAB-…`): the browser finds the tab by it. */
  readonly id: string;
  readonly title: string;
  readonly charts: readonly string[];
}

export interface ProvisionResult {
  readonly imported: boolean;
  /** Why it imported or not, for the log line. */
  readonly reason: string;
  readonly databases: readonly string[];
  readonly dashboards: readonly DashboardLink[];
  readonly ms: number;
}

export interface ProvisionOptions {
  readonly force?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly bundleDir?: string;
  /** Databases to register instead of the platform's (tests add failing ones). */
  readonly databases?: readonly DatabaseTarget[];
  readonly log?: (message: string) => void;
}

export function connect(settings: SupersetSettings = supersetSettings()): Promise<SupersetClient> {
  return SupersetClient.connect({ url: settings.url, username: settings.adminUser, password: settings.adminPassword });
}

/** The bundle's dashboards with their addresses on `url` and their charts' names. */
export function dashboardLinks(
  files: BundleFiles,
  databases: readonly DatabaseTarget[],
  url: string = supersetSettings().url,
): DashboardLink[] {
  const parsed = parseBundle(files, databases);
  const chartNames = new Map([...parsed.charts.values()].map((c) => [String(c.uuid), String(c.slice_name)]));
  return [...parsed.dashboards.values()].map((d) => {
    const slug = String(d.slug);
    const name = (u: string) => chartNames.get(u) ?? u;
    const tabs = layoutTabs(d).map((t) => ({ id: t.id, title: t.title, charts: t.chartUuids.map(name) }));
    return {
      slug,
      title: String(d.dashboard_title),
      url: `${url}/superset/dashboard/${slug}/`,
      charts: dashboardChartUuids(d).map(name),
      ...(tabs.length > 0 ? { tabs } : {}),
    };
  });
}

/** What the last import put into Superset: the digest of its input and the uuids of its assets by kind. */
interface ImportState {
  readonly digest?: string;
  readonly assets?: Readonly<Record<AssetKind, readonly string[]>>;
}

type AssetKind = 'dashboard' | 'chart' | 'dataset';

function lastImport(): ImportState {
  if (!existsSync(IMPORT_STATE_FILE)) return {};
  try {
    return JSON.parse(readFileSync(IMPORT_STATE_FILE, 'utf8')) as ImportState;
  } catch {
    return {};
  }
}

function bundleAssets(parsed: ReturnType<typeof parseBundle>): Record<AssetKind, string[]> {
  const uuids = (m: ReadonlyMap<string, Record<string, unknown>>) => [...m.values()].map((d) => String(d.uuid));
  return { dashboard: uuids(parsed.dashboards), chart: uuids(parsed.charts), dataset: uuids(parsed.datasets) };
}

/**
 * Deletes what an earlier import of the bundle created and the bundle no longer has (a chart removed from the
 * bundle must not linger in Superset). Assets someone made in the UI were never imported, so they are never pruned.
 */
async function prune(
  client: SupersetClient,
  previous: ImportState['assets'],
  now: Record<AssetKind, string[]>,
  log: (m: string) => void,
): Promise<number> {
  if (!previous) return 0;
  let removed = 0;
  // Dependants first: a dashboard before its charts, a chart before its dataset.
  for (const kind of ['dashboard', 'chart', 'dataset'] as const) {
    const gone = new Set((previous[kind] ?? []).filter((u) => !now[kind].includes(u)));
    if (gone.size === 0) continue;
    for (const row of await client.list<{ id: number; uuid: string }>(kind, ['id', 'uuid'])) {
      if (!gone.has(row.uuid)) continue;
      log(`removing ${kind} ${row.uuid} (no longer in the bundle)`);
      await client.request('DELETE', `/api/v1/${kind}/${row.id}`);
      removed++;
    }
  }
  return removed;
}

export async function provisionDashboards(opts: ProvisionOptions = {}): Promise<ProvisionResult> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const settings = supersetSettings(opts.env);
  const databases = opts.databases ?? (await platformDatabases(opts.env));
  const files = readBundle(opts.bundleDir ?? BUNDLE_DIR);
  const parsed = parseBundle(files, databases);
  const links = dashboardLinks(files, databases, settings.url);
  const client = await connect(settings);
  const digest = bundleDigest(files, databases);
  const present = new Set((await client.dashboards()).map((d) => d.uuid));
  const missing = [...parsed.dashboards.values()].filter((d) => !present.has(String(d.uuid)));
  const previous = lastImport();
  let reason: string;
  if (opts.force) reason = 'forced';
  else if (missing.length > 0) reason = `${missing.length} dashboard(s) missing in Superset`;
  else if (previous.digest !== digest) reason = 'bundle or database settings changed';
  else {
    return {
      imported: false,
      reason: 'unchanged since the last import',
      databases: databases.map((d) => d.key),
      dashboards: links,
      ms: Date.now() - started,
    };
  }
  log(`importing ${files.size} assets and ${databases.length} databases into ${settings.url} (${reason})`);
  const { zip, passwords } = importZip(files, databases);
  await client.importAssets(zip, passwords);
  const assets = bundleAssets(parsed);
  await prune(client, previous.assets, assets, log);
  mkdirSync(join(STATE_DIR, 'superset'), { recursive: true });
  const state: ImportState & { imported_at: string } = { digest, assets, imported_at: new Date().toISOString() };
  writeFileSync(IMPORT_STATE_FILE, `${JSON.stringify(state)}\n`);
  return {
    imported: true,
    reason,
    databases: databases.map((d) => d.key),
    dashboards: links,
    ms: Date.now() - started,
  };
}

/** What Superset holds now, as the bundle's files (for `npm run dashboards -- export`). */
export async function exportDashboards(opts: { env?: NodeJS.ProcessEnv } = {}): Promise<NormalizedExport> {
  const settings = supersetSettings(opts.env);
  const client = await connect(settings);
  return normalizeExport(await client.exportAssets(), await platformDatabases(opts.env));
}

/** The address and login to print for a person: the password only when it is the generated local default. */
export function loginHint(settings: SupersetSettings = supersetSettings()): string {
  const password = settings.generatedDefaults.includes('SUPERSET_ADMIN_PASSWORD')
    ? `password ${settings.adminPassword} (generated for this checkout; set SUPERSET_ADMIN_PASSWORD to choose one)`
    : 'password from SUPERSET_ADMIN_PASSWORD';
  return `${settings.url}/ (user ${settings.adminUser}, ${password})`;
}
