/**
 * Loader of the lake addon (crates/lake, an Iceberg writer: Arrow IPC in, Parquet + fast append out), built apart
 * from the hot-path core addon because its release build takes minutes: `npm run build:lake -w @pep/core-native`
 * (run by `npm run build:lake -w @pep/lakehouse` and `npm test`) builds it once per source version into the machine cache
 * and copies it to `core-native/lake-addon/pep-lake.node`. The typed wrapper for users is @pep/lakehouse's writer.
 * Not a TypeScript twin: there is no JS implementation of the Iceberg writer.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LakeConnection, RawRows } from '../lake-binding.js';

export type { LakeConnection, RawRows as RawRowsBinding } from '../lake-binding.js';

export const LAKE_ADDON_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'lake-addon', 'pep-lake.node');

export class LakeAddonLoadError extends Error {
  readonly code = 'LAKE_ADDON_LOAD_FAILED';
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'LakeAddonLoadError';
  }
}

export interface LakeAddon {
  LakeConnection: new (optionsJson: string) => LakeConnection;
  /** The lake sink's raw-bytes row path (crates/lake/src/rawrows.rs); `columnsJson`: `[{name, type, required}]`. */
  RawRows: new (
    columnsJson: string,
  ) => RawRows;
}

let loaded: LakeAddon | undefined;

export function loadLakeAddon(): LakeAddon {
  if (loaded) return loaded;
  if (!existsSync(LAKE_ADDON_PATH)) {
    throw new LakeAddonLoadError(
      `the lake addon is not built (${LAKE_ADDON_PATH} is missing): run \`npm run build:lake -w @pep/lakehouse\``,
    );
  }
  try {
    loaded = createRequire(import.meta.url)(LAKE_ADDON_PATH) as LakeAddon;
  } catch (cause) {
    throw new LakeAddonLoadError(`the lake addon at ${LAKE_ADDON_PATH} could not be loaded`, { cause });
  }
  return loaded;
}
