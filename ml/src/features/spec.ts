/**
 * The versioned feature spec (`ml/feature_repo/feature_spec.json`), the one definition that Feast's repo
 * (feature_repo/definitions.py), the streaming features consumer (processor.ts) and serving (online.ts) read. It is
 * data, checked here once at load: unknown aggregations, windows or entities stop the process with a clear message.
 * core-native's vectorizer declares the model input over these names (`<entity>_<feature>`); a test keeps them in step.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FEATURE_REPO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'feature_repo');
export const FEATURE_SPEC_PATH = join(FEATURE_REPO_DIR, 'feature_spec.json');

export const AGGREGATIONS = [
  'count',
  'amount_sum',
  'decline_count',
  'decline_rate',
  'dispute_count',
  'dispute_rate',
  'distinct',
  'amount_to_avg_ratio',
  'secs_since_prev_event',
  'secs_since_last_success',
  'consecutive_failures',
  'tenure_days',
] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];
export const ENTITY_NAMES = ['customer', 'merchant', 'payment_method'] as const;
export type EntityName = (typeof ENTITY_NAMES)[number];
const WINDOWED: ReadonlySet<Aggregation> = new Set([
  'count',
  'amount_sum',
  'decline_count',
  'decline_rate',
  'dispute_count',
  'dispute_rate',
  'distinct',
  'amount_to_avg_ratio',
]);

export interface FeatureDefinition {
  readonly name: string;
  readonly agg: Aggregation;
  readonly window?: string;
  /** For `distinct`: which other entity is counted. */
  readonly of?: EntityName;
}
export interface ViewDefinition {
  readonly name: string;
  readonly entity: EntityName;
  readonly ttl_s: number;
  readonly features: readonly FeatureDefinition[];
}
export interface EntityDefinition {
  readonly name: EntityName;
  readonly join_key: string;
  readonly description: string;
}
export interface FeatureSpecFile {
  readonly version: string;
  readonly project: string;
  readonly entities: readonly EntityDefinition[];
  readonly windows_s: Readonly<Record<string, number>>;
  readonly bucket_s: Readonly<Record<string, number>>;
  readonly max_distinct_members: number;
  readonly views: readonly ViewDefinition[];
}

export class FeatureSpecError extends Error {
  override readonly name = 'FeatureSpecError';
}

/** Parses and checks a spec; throws FeatureSpecError naming the first problem. */
export function parseFeatureSpec(json: string): FeatureSpecFile {
  const spec = JSON.parse(json) as FeatureSpecFile;
  const fail = (m: string): never => {
    throw new FeatureSpecError(`feature spec ${spec.version ?? '?'}: ${m}`);
  };
  if (typeof spec.version !== 'string' || !/^pep-features-v\d+$/.test(spec.version))
    fail('version must be pep-features-vN');
  if (spec.project !== 'pep') fail('project must be pep (CONTRACT section 8)');
  const entityNames = spec.entities.map((e) => e.name);
  if (entityNames.join() !== ENTITY_NAMES.join()) fail(`entities must be ${ENTITY_NAMES.join(', ')}`);
  const viewNames = new Set<string>();
  for (const v of spec.views) {
    if (viewNames.has(v.name)) fail(`view ${v.name} is declared twice`);
    viewNames.add(v.name);
    if (!entityNames.includes(v.entity)) fail(`view ${v.name}: unknown entity ${v.entity}`);
    if (!Number.isInteger(v.ttl_s) || v.ttl_s <= 0) fail(`view ${v.name}: ttl_s must be a positive integer`);
    const names = new Set<string>();
    for (const f of v.features) {
      if (!AGGREGATIONS.includes(f.agg)) fail(`${v.name}.${f.name}: unknown aggregation ${f.agg}`);
      if (WINDOWED.has(f.agg)) {
        if (!f.window || !(f.window in spec.windows_s) || !(f.window in spec.bucket_s)) {
          fail(`${v.name}.${f.name}: ${f.agg} needs a window declared in windows_s and bucket_s`);
        }
      }
      if (f.agg === 'distinct' && (!f.of || !entityNames.includes(f.of) || f.of === v.entity)) {
        fail(`${v.name}.${f.name}: distinct needs another entity in "of"`);
      }
      if (names.has(f.name)) fail(`${v.name}.${f.name} is declared twice`);
      names.add(f.name);
    }
  }
  // Feature names are unique per entity (the entity's record merges its views).
  for (const e of entityNames) {
    const all = spec.views.filter((v) => v.entity === e).flatMap((v) => v.features.map((f) => f.name));
    if (new Set(all).size !== all.length) fail(`entity ${e} has a feature name in two views`);
  }
  return Object.freeze(spec);
}

export const FEATURE_SPEC: FeatureSpecFile = parseFeatureSpec(readFileSync(FEATURE_SPEC_PATH, 'utf8'));

export const viewsOf = (spec: FeatureSpecFile, entity: EntityName): readonly ViewDefinition[] =>
  spec.views.filter((v) => v.entity === entity);

export const joinKeyOf = (spec: FeatureSpecFile, entity: EntityName): string =>
  (spec.entities.find((e) => e.name === entity) as EntityDefinition).join_key;
