/**
 * Adapter from '@pep/core-native' (CoreImpl: the Rust addon or its TypeScript twin, picked by CORE_NATIVE_IMPL)
 * to the transformer's Normalizer interface. A missing or incompatible core is a startup error with the load
 * error as `cause`: the transformer never runs without the real normalizer.
 */
import type { NormalizedBatch, Normalizer, OutputSet, RawBatch } from './normalizer.ts';

type AnyFn = (...args: unknown[]) => unknown;

function asOutputSet(v: unknown, what: string): OutputSet {
  const o = v as Record<string, unknown>;
  for (const k of ['data', 'offsets', 'lengths', 'keys', 'keyOffsets', 'keyLengths', 'sourceIndex']) {
    if (!(o?.[k] instanceof Uint8Array || o?.[k] instanceof Uint32Array)) {
      throw new Error(`core-native ${what}.${k} is not a typed array`);
    }
  }
  return o as unknown as OutputSet;
}

export async function loadNormalizer(): Promise<Normalizer> {
  let mod: Record<string, unknown>;
  try {
    // A computed specifier: the transformer typechecks even while core-native's TypeScript entry is being built.
    const specifier = '@pep/core-native';
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (err) {
    throw new Error('cannot load @pep/core-native (build it: npm run build -w @pep/core-native)', { cause: err });
  }
  const load = (mod.loadCore ?? mod.loadCoreImpl ?? mod.load) as AnyFn | undefined;
  const core = (typeof load === 'function' ? await load() : (mod.core ?? mod.default)) as Record<string, unknown>;
  const normalizeBatch = core?.normalizeBatch as AnyFn | undefined;
  if (typeof normalizeBatch !== 'function') {
    throw new Error(`@pep/core-native exports no normalizeBatch (exports: ${Object.keys(mod).join(', ')})`);
  }
  const impl = String(core.impl ?? core.kind ?? 'unknown');
  return {
    impl,
    normalizeBatch(batch: RawBatch, normalizedAtMs: number): NormalizedBatch {
      const out = normalizeBatch.call(core, batch, normalizedAtMs) as Record<string, unknown>;
      return { events: asOutputSet(out.events, 'events'), dlq: asOutputSet(out.dlq, 'dlq') };
    },
  };
}
