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
  importZip,
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

function dashboardLinks(files: BundleFiles, databases: readonly DatabaseTarget[], url: string): DashboardLink[] {
  return [...parseBundle(files, databases).dashboards.values()].map((d) => {
    const slug = String(d.slug);
    return { slug, title: String(d.dashboard_title), url: `${url}/superset/dashboard/${slug}/` };
  });
}

function lastImportedDigest(): string | undefined {
  if (!existsSync(IMPORT_STATE_FILE)) return undefined;
  try {
    return (JSON.parse(readFileSync(IMPORT_STATE_FILE, 'utf8')) as { digest?: string }).digest;
  } catch {
    return undefined;
  }
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
  let reason: string;
  if (opts.force) reason = 'forced';
  else if (missing.length > 0) reason = `${missing.length} dashboard(s) missing in Superset`;
  else if (lastImportedDigest() !== digest) reason = 'bundle or database settings changed';
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
  mkdirSync(join(STATE_DIR, 'superset'), { recursive: true });
  writeFileSync(IMPORT_STATE_FILE, `${JSON.stringify({ digest, imported_at: new Date().toISOString() })}\n`);
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
