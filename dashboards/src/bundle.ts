/**
 * The dashboards as code: the export bundle kept in `dashboards/bundle/` (Superset's own YAML format, one file per
 * dataset, chart and dashboard), the zip that is imported into Superset (the bundle plus the databases, which are
 * generated from the environment, never committed), and the normalisation that turns Superset's export back into
 * the bundle's files so that an edit made in the UI and exported again is a small, reviewable diff.
 *
 * Normalising means: databases dropped (code owns them; a dataset on a database code does not know is reported);
 * file names from content instead of local ids; local chart ids in a dashboard renumbered 1..n in layout order (the
 * importer maps them back through the charts' uuids); the derived, machine-local parts of a chart (its saved query
 * context, slice id, datasource id) and of a dashboard (colours assigned at view time) removed.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { parse, stringify } from 'yaml';
import type { DatabaseTarget } from './databases.ts';

export const BUNDLE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'bundle');
/** The asset folders of a bundle; `databases/` is never committed. */
const ASSET_DIRS = ['datasets', 'charts', 'dashboards', 'queries'] as const;
/** Upper bound on one bundle file and on the whole bundle (a dashboard bundle is tens of KiB). */
const MAX_FILE_BYTES = 2 * 1024 * 1024;
const MAX_FILES = 2000;
/** Folder name inside the import zip (Superset expects one top-level folder). */
const ZIP_ROOT = 'pep_dashboards';

/** A bundle: relative path (`charts/events_per_stage.yaml`) → YAML text, sorted by path. */
export type BundleFiles = ReadonlyMap<string, string>;

type Yaml = Record<string, unknown>;

export class BundleError extends Error {
  override readonly name = 'BundleError';
}

export function readBundle(dir: string = BUNDLE_DIR): BundleFiles {
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.yaml')) {
        const text = readFileSync(path, 'utf8');
        if (text.length > MAX_FILE_BYTES) throw new BundleError(`${path} is over ${MAX_FILE_BYTES} bytes`);
        files.set(relative(dir, path).split(sep).join('/'), text);
        if (files.size > MAX_FILES) throw new BundleError(`${dir} has over ${MAX_FILES} files`);
      }
    }
  };
  for (const sub of ASSET_DIRS) if (existsSync(join(dir, sub))) walk(join(dir, sub));
  return new Map([...files].sort(([a], [b]) => a.localeCompare(b)));
}

/** Replaces the bundle folder's asset files with `files` (files no longer in the bundle are removed). */
export function writeBundle(files: BundleFiles, dir: string = BUNDLE_DIR): void {
  for (const sub of ASSET_DIRS) rmSync(join(dir, sub), { recursive: true, force: true });
  for (const [path, text] of files) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

function parseYaml(path: string, text: string): Yaml {
  let value: unknown;
  try {
    value = parse(text);
  } catch (err) {
    throw new BundleError(`${path}: not valid YAML: ${(err as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new BundleError(`${path}: not a YAML mapping`);
  return value as Yaml;
}

const toYaml = (value: unknown): string => stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });

/** The parsed assets of a bundle by kind, with checks that every reference resolves. */
export interface ParsedBundle {
  readonly datasets: ReadonlyMap<string, Yaml>;
  readonly charts: ReadonlyMap<string, Yaml>;
  readonly dashboards: ReadonlyMap<string, Yaml>;
}

export function parseBundle(files: BundleFiles, databases: readonly DatabaseTarget[]): ParsedBundle {
  const byKind = { datasets: new Map<string, Yaml>(), charts: new Map<string, Yaml>(), dashboards: new Map() };
  const uuids = new Set<string>();
  for (const [path, text] of files) {
    const kind = path.split('/')[0] as keyof typeof byKind | 'queries';
    const doc = parseYaml(path, text);
    if (typeof doc.uuid !== 'string') throw new BundleError(`${path}: no uuid`);
    if (uuids.has(doc.uuid)) throw new BundleError(`${path}: uuid ${doc.uuid} is used twice`);
    uuids.add(doc.uuid);
    if (kind !== 'queries') byKind[kind].set(path, doc);
  }
  const dbUuids = new Set(databases.map((d) => d.uuid));
  const datasetUuids = new Set([...byKind.datasets.values()].map((d) => d.uuid as string));
  const chartUuids = new Set([...byKind.charts.values()].map((c) => c.uuid as string));
  for (const [path, d] of byKind.datasets) {
    if (!dbUuids.has(d.database_uuid as string)) {
      throw new BundleError(
        `${path}: database ${d.database_uuid} is not one the platform registers (${databases.map((x) => `${x.key} ${x.uuid}`).join(', ')})`,
      );
    }
  }
  for (const [path, c] of byKind.charts) {
    if (!datasetUuids.has(c.dataset_uuid as string))
      throw new BundleError(`${path}: dataset ${c.dataset_uuid} is not in the bundle`);
  }
  for (const [path, d] of byKind.dashboards) {
    for (const uuid of dashboardChartUuids(d)) {
      if (!chartUuids.has(uuid)) throw new BundleError(`${path}: chart ${uuid} is not in the bundle`);
    }
  }
  return byKind;
}

interface PositionNode {
  id?: string;
  type?: string;
  children?: string[];
  meta?: { chartId?: number; uuid?: string; sliceName?: string; sliceNameOverride?: string };
}

/** Chart nodes of a dashboard's layout in display order (depth first from the root). */
export function layoutCharts(dashboard: Yaml): PositionNode[] {
  const position = (dashboard.position ?? {}) as Record<string, PositionNode>;
  const out: PositionNode[] = [];
  const seen = new Set<string>();
  const visit = (id: string) => {
    const node = position[id];
    if (!node || seen.has(id)) return;
    seen.add(id);
    if (node.type === 'CHART') out.push(node);
    for (const child of node.children ?? []) visit(child);
  };
  visit('ROOT_ID');
  return out;
}

/** A tab of a dashboard's layout (a TAB node): its id, its title and the uuids of the charts placed in it. */
export interface LayoutTab {
  readonly id: string;
  readonly title: string;
  readonly chartUuids: readonly string[];
}

/**
 * The dashboard's tabs in display order (depth first), each with the charts whose nearest enclosing tab it is; empty
 * when the layout has no tabs. Superset draws and queries only the charts of the tabs that are shown.
 */
export function layoutTabs(dashboard: Yaml): LayoutTab[] {
  const position = (dashboard.position ?? {}) as Record<string, PositionNode & { meta?: { text?: string } }>;
  const tabs: { id: string; title: string; chartUuids: string[] }[] = [];
  const seen = new Set<string>();
  const visit = (id: string, tab: { chartUuids: string[] } | undefined) => {
    const node = position[id];
    if (!node || seen.has(id)) return;
    seen.add(id);
    let inner = tab;
    if (node.type === 'TAB') {
      const t = { id, title: String(node.meta?.text ?? id), chartUuids: [] as string[] };
      tabs.push(t);
      inner = t;
    }
    if (node.type === 'CHART' && node.meta?.uuid) inner?.chartUuids.push(node.meta.uuid);
    for (const child of node.children ?? []) visit(child, inner);
  };
  visit('ROOT_ID', undefined);
  return tabs;
}

/**
 * The same layout without tabs: the rows (and other blocks) of every tab one after another in the dashboard's grid,
 * in tab order, the tab and tabs nodes dropped. For a baseline that shows every chart at once (the benchmark).
 */
export function flattenTabs(position: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const nodes = position as Record<string, PositionNode & { parents?: string[] }>;
  const blocks: string[] = [];
  const seen = new Set<string>();
  const visit = (id: string) => {
    const node = nodes[id];
    if (!node || seen.has(id)) return;
    seen.add(id);
    if (id === 'ROOT_ID' || id === 'GRID_ID' || node.type === 'TABS' || node.type === 'TAB') {
      for (const child of node.children ?? []) visit(child);
    } else blocks.push(id);
  };
  visit('ROOT_ID');
  const out: Record<string, unknown> = {};
  for (const [id, value] of Object.entries(position)) {
    const node = nodes[id];
    if (node && typeof node === 'object' && (node.type === 'TABS' || node.type === 'TAB')) continue;
    if (node && typeof node === 'object' && Array.isArray(node.parents)) {
      const kept = node.parents.filter((p) => nodes[p]?.type !== 'TABS' && nodes[p]?.type !== 'TAB');
      const parents = kept[0] === 'ROOT_ID' && kept[1] !== 'GRID_ID' ? ['ROOT_ID', 'GRID_ID', ...kept.slice(1)] : kept;
      out[id] = { ...node, parents: id === 'GRID_ID' ? ['ROOT_ID'] : parents };
    } else out[id] = value;
  }
  out.ROOT_ID = { ...(nodes.ROOT_ID ?? { id: 'ROOT_ID', type: 'ROOT' }), children: ['GRID_ID'] };
  out.GRID_ID = { id: 'GRID_ID', type: 'GRID', parents: ['ROOT_ID'], children: blocks };
  return out;
}

export function dashboardChartUuids(dashboard: Yaml): string[] {
  return layoutCharts(dashboard).flatMap((n) => (n.meta?.uuid ? [n.meta.uuid] : []));
}

/** metadata.yaml of an import zip: the "assets" importer overwrites every asset in it. */
const IMPORT_METADATA = "version: 1.0.0\ntype: assets\ntimestamp: '2026-01-01T00:00:00+00:00'\n";

/** The zip Superset imports: the bundle's files plus one generated file per database, and their passwords. */
export function importZip(
  files: BundleFiles,
  databases: readonly DatabaseTarget[],
): { zip: Uint8Array; passwords: Record<string, string> } {
  const entries: Record<string, Uint8Array> = { [`${ZIP_ROOT}/metadata.yaml`]: strToU8(IMPORT_METADATA) };
  const passwords: Record<string, string> = {};
  for (const db of databases) {
    const path = `databases/${db.key}.yaml`;
    entries[`${ZIP_ROOT}/${path}`] = strToU8(toYaml(db.config));
    if (db.password !== undefined) passwords[path] = db.password;
  }
  for (const [path, text] of files) entries[`${ZIP_ROOT}/${path}`] = strToU8(text);
  return { zip: zipSync(entries, { level: 6 }), passwords };
}

/** What the import would change: a digest of the bundle and of the database settings (passwords hashed in). */
export function bundleDigest(files: BundleFiles, databases: readonly DatabaseTarget[]): string {
  const h = createHash('sha256');
  for (const db of databases) h.update(`db\0${toYaml(db.config)}\0${db.password ?? ''}\0`);
  for (const [path, text] of files) h.update(`${path}\0${text}\0`);
  return h.digest('hex');
}

function slugify(text: string): string {
  return (
    text
      .toLowerCase()
      .normalize('NFKD')
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 80) || 'untitled'
  );
}

/** A filter or cross-filter setting: the charts it leaves out, in local chart ids. */
interface Scoped {
  scope?: { excluded?: unknown };
  chartsInScope?: unknown;
}

/** Chart ids inside a dashboard's layout and metadata, renumbered with `map` (old id → new id). */
function remapDashboardIds(dashboard: Yaml, map: ReadonlyMap<number, number>): void {
  const id = (old: unknown) => map.get(Number(old));
  const ids = (list: unknown) =>
    Array.isArray(list) ? list.flatMap((x) => (id(x) === undefined ? [] : [id(x)])) : list;
  const keys = (obj: unknown) =>
    obj && typeof obj === 'object'
      ? Object.fromEntries(
          Object.entries(obj as Record<string, unknown>).flatMap(([k, v]) =>
            id(k) === undefined ? [] : [[String(id(k)), v]],
          ),
        )
      : obj;
  for (const node of layoutCharts(dashboard)) {
    if (node.meta && node.meta.chartId !== undefined) node.meta.chartId = id(node.meta.chartId) ?? node.meta.chartId;
  }
  const m = dashboard.metadata as Record<string, unknown> | undefined;
  if (!m) return;
  if (m.timed_refresh_immune_slices) m.timed_refresh_immune_slices = ids(m.timed_refresh_immune_slices);
  if (m.expanded_slices) m.expanded_slices = keys(m.expanded_slices);
  if (m.filter_scopes) {
    m.filter_scopes = keys(m.filter_scopes);
    for (const columns of Object.values(m.filter_scopes as Record<string, Record<string, { immune?: unknown }>>)) {
      for (const attrs of Object.values(columns)) if (attrs.immune) attrs.immune = ids(attrs.immune);
    }
  }
  if (typeof m.default_filters === 'string') m.default_filters = JSON.stringify(keys(JSON.parse(m.default_filters)));
  for (const f of (m.native_filter_configuration ?? []) as Scoped[]) {
    if (f.scope?.excluded) f.scope.excluded = ids(f.scope.excluded);
    // Derived from the scope by the frontend, in local ids: not portable.
    delete f.chartsInScope;
  }
  const g = m.global_chart_configuration as Scoped | undefined;
  if (g?.scope?.excluded) g.scope.excluded = ids(g.scope.excluded);
  if (g) delete g.chartsInScope;
  if (m.chart_configuration) {
    m.chart_configuration = keys(m.chart_configuration);
    for (const [k, c] of Object.entries(
      m.chart_configuration as Record<string, { id?: number; crossFilters?: Scoped }>,
    )) {
      c.id = Number(k);
      if (c.crossFilters?.scope?.excluded) c.crossFilters.scope.excluded = ids(c.crossFilters.scope.excluded);
      if (c.crossFilters) delete c.crossFilters.chartsInScope;
    }
  }
  // Colours Superset assigns to labels when someone views the dashboard: machine-local, not authored.
  delete m.shared_label_colors;
  delete m.map_label_colors;
  delete m.color_scheme_domain;
}

export interface NormalizedExport {
  readonly files: BundleFiles;
  /** Assets left out because they read a database the platform does not register (with the reason). */
  readonly skipped: readonly string[];
}

/**
 * Superset's asset export (zip) → the bundle's files. Only assets on the platform's databases are kept; dashboards
 * and charts that need a left-out dataset are left out too, and named in `skipped`.
 */
export function normalizeExport(zip: Uint8Array, databases: readonly DatabaseTarget[]): NormalizedExport {
  const raw = unzipSync(zip);
  const docs = new Map<string, Yaml>();
  for (const [name, bytes] of Object.entries(raw)) {
    const path = name.split('/').slice(1).join('/');
    if (!path.endsWith('.yaml') || path === 'metadata.yaml') continue;
    docs.set(path, parseYaml(path, strFromU8(bytes)));
  }
  const dbKey = new Map(databases.map((d) => [d.uuid, d.key]));
  const skipped: string[] = [];
  const out = new Map<string, string>();
  const taken = new Set<string>();
  const place = (path: string, uuid: string): string => {
    const final = taken.has(path) ? path.replace(/\.yaml$/, `_${uuid.slice(0, 8)}.yaml`) : path;
    taken.add(final);
    return final;
  };
  const of = (kind: string) =>
    [...docs]
      .filter(([p]) => p.startsWith(`${kind}/`))
      .sort(([, a], [, b]) => String(a.uuid).localeCompare(String(b.uuid)));

  const keptDatasets = new Set<string>();
  for (const [path, d] of of('datasets')) {
    const key = dbKey.get(d.database_uuid as string);
    if (!key) {
      skipped.push(`${path} (database ${d.database_uuid} is not registered by dashboards/src/databases.ts)`);
      continue;
    }
    keptDatasets.add(d.uuid as string);
    out.set(place(`datasets/${key}/${slugify(String(d.table_name))}.yaml`, d.uuid as string), toYaml(d));
  }
  for (const [path, q] of of('queries')) {
    const key = dbKey.get(q.database_uuid as string);
    if (!key) {
      skipped.push(`${path} (database ${q.database_uuid} is not registered)`);
      continue;
    }
    out.set(place(`queries/${key}/${slugify(String(q.label ?? q.uuid))}.yaml`, q.uuid as string), toYaml(q));
  }
  const keptCharts = new Set<string>();
  for (const [path, c] of of('charts')) {
    if (!keptDatasets.has(c.dataset_uuid as string)) {
      skipped.push(`${path} (its dataset is left out)`);
      continue;
    }
    keptCharts.add(c.uuid as string);
    const params = c.params as Record<string, unknown> | undefined;
    if (params) {
      delete params.slice_id;
      delete params.datasource;
      delete params.dashboards;
    }
    c.query_context = null;
    out.set(place(`charts/${slugify(String(c.slice_name))}.yaml`, c.uuid as string), toYaml(c));
  }
  for (const [path, d] of of('dashboards')) {
    const missing = dashboardChartUuids(d).filter((u) => !keptCharts.has(u));
    if (missing.length > 0) {
      skipped.push(`${path} (charts ${missing.join(', ')} are left out)`);
      continue;
    }
    const map = new Map<number, number>();
    for (const node of layoutCharts(d)) {
      if (node.meta?.chartId !== undefined && !map.has(node.meta.chartId)) map.set(node.meta.chartId, map.size + 1);
    }
    remapDashboardIds(d, map);
    const name = slugify(String(d.slug ?? d.dashboard_title));
    out.set(place(`dashboards/${name}.yaml`, d.uuid as string), toYaml(d));
  }
  return { files: new Map([...out].sort(([a], [b]) => a.localeCompare(b))), skipped };
}
