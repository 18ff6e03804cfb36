/**
 * The CRC-32C the Kafka sink puts on every RecordBatch: core-native's Rust one (hardware CRC, ~15× kafka-wire's JS
 * table code, which cost ~1.3 µs of the HTTP core per 1 KiB record) when the addon loads, else the JS one. Same bytes
 * either way (core-native's tests hold them equal). `CORE_NATIVE_IMPL=js` forces the JS one. The standalone executable
 * has no node_modules and always uses the JS one (the import below is left to run time on purpose).
 */

import { type Crc32c, crc32c } from '@pep/kafka-wire/protocol';

export interface LoadedChecksum {
  readonly crc32c: Crc32c;
  readonly impl: 'native' | 'js';
  /** Why the native one is not used (absent when it is). */
  readonly reason?: string;
}

// A variable, not a literal: `bun build --compile` must not try to bundle the addon into the executable.
const CORE_NATIVE = '@pep/core-native';

export async function loadChecksum(env: NodeJS.ProcessEnv = process.env): Promise<LoadedChecksum> {
  const js: LoadedChecksum = { crc32c, impl: 'js' };
  if ((env.CORE_NATIVE_IMPL ?? '').trim().toLowerCase() === 'js') return { ...js, reason: 'CORE_NATIVE_IMPL=js' };
  try {
    const mod = (await import(CORE_NATIVE)) as {
      loadCore(o: { impl: 'native' }): Promise<{ crc32c(bytes: Uint8Array): number }>;
    };
    const core = await mod.loadCore({ impl: 'native' });
    const native: Crc32c = (bytes, start, end) => core.crc32c(bytes.subarray(start, end));
    // Refuse a native function that disagrees with the reference on a known vector.
    const probe = Buffer.from('xx123456789yy');
    if (native(probe, 2, 11) !== 0xe3069283) return { ...js, reason: 'native crc32c gave a wrong check value' };
    return { crc32c: native, impl: 'native' };
  } catch (err) {
    return { ...js, reason: (err as Error).message };
  }
}
