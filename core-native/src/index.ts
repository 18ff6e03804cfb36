/**
 * @pep/core-native: the hot path (parse, validate, normalize, vectorize) behind one interface,
 * `CoreImpl`, with two implementations that produce byte-identical output: the Rust addon
 * ('native') and the TypeScript twin ('js').
 *
 * Pick one with `loadCore()`: option `impl`, else env `CORE_NATIVE_IMPL` = native | js | auto
 * (default auto). `native` fails loudly (CoreLoadError, the addon's load error as `cause`);
 * `auto` falls back to the twin and keeps the load error in `nativeLoadError()`.
 */
import { createJsCore } from './js.ts';
import { createNativeCore, loadNativeBinding } from './native.ts';
import type { CoreConfig, CoreImpl } from './types.ts';

export { crc32c, murmur2, partitionForKey } from '@pep/kafka-wire/protocol';
export * from './batch.ts';
export { createJsCore } from './js.ts';
export { BATCH_REPORT_CODES } from './records.ts';
export * from './types.ts';

export type ImplChoice = 'native' | 'js' | 'auto';

export class CoreLoadError extends Error {
  readonly code = 'CORE_NATIVE_LOAD_FAILED';
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'CoreLoadError';
  }
}

let lastNativeError: unknown;

/** The error from the last failed attempt to load the addon (undefined if none). */
export const nativeLoadError = (): unknown => lastNativeError;

export function implChoice(env: NodeJS.ProcessEnv = process.env): ImplChoice {
  const v = (env.CORE_NATIVE_IMPL ?? 'auto').trim().toLowerCase();
  if (v === 'native' || v === 'js' || v === 'auto') return v;
  throw new Error(`CORE_NATIVE_IMPL must be native, js or auto, got ${JSON.stringify(env.CORE_NATIVE_IMPL)}`);
}

export async function loadCore(options: { impl?: ImplChoice; config?: CoreConfig } = {}): Promise<CoreImpl> {
  const choice = options.impl ?? implChoice();
  if (choice === 'js') return createJsCore(options.config);
  let binding: Awaited<ReturnType<typeof loadNativeBinding>>;
  try {
    binding = await loadNativeBinding();
  } catch (cause) {
    lastNativeError = cause;
    if (choice === 'native') {
      throw new CoreLoadError(
        'the native addon could not be loaded (build it with `npm run build -w @pep/core-native`)',
        {
          cause,
        },
      );
    }
    return createJsCore(options.config);
  }
  // Outside the try: a bad configuration is the caller's error, not a load failure.
  return createNativeCore(binding, options.config);
}
