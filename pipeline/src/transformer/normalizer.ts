/**
 * The transformer's view of core-native: the `normalizeBatch` half of its CoreImpl (one call per chunk, one Buffer
 * plus offsets/lengths with provider and source coordinates per message in; ready-to-produce event and DLQ bytes,
 * keys and source indexes out). Narrowed to what the transformer uses so tests can substitute a simpler normalizer.
 */
import type { CoreImpl, RecordSet } from '@pep/core-native';

export type { BatchResult, RawBatch, RecordSet } from '@pep/core-native';
export { PROVIDER_CODES } from '@pep/core-native';

export type Normalizer =
  | Pick<CoreImpl, 'kind' | 'normalizeBatch'>
  | {
      readonly kind: string;
      normalizeBatch: CoreImpl['normalizeBatch'];
    };

export type OutputSet = RecordSet;
