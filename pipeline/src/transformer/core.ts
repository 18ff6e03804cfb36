/**
 * Loads core-native for the transformer: the Rust addon or the TypeScript twin, picked by CORE_NATIVE_IMPL
 * (native | js | auto). `native` fails loudly when the addon is missing; `auto` falls back to the twin, and the
 * transformer logs which one runs.
 */
import { type CoreImpl, loadCore } from '@pep/core-native';

export async function loadNormalizer(): Promise<CoreImpl> {
  return loadCore();
}
