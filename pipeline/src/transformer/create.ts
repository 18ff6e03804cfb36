/**
 * Picks the transformer implementation by TRANSFORMER_CLIENT: `wire` (wire-transformer.ts on kafka-wire: one
 * core.transformRecordSets call and one transaction per fetch) or `kafkajs` (transformer.ts). Both expose the same
 * metrics, start() and stop(). The core must offer transformRecordSets for `wire` (core-native does; the tests'
 * echo core too).
 */
import { ConfigError, type TransformerConfig } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import type { Normalizer } from './normalizer.ts';
import { Transformer } from './transformer.ts';
import { wireProducerFactory } from './wire-producer.ts';
import { type RecordCore, WireTransformer } from './wire-transformer.ts';

/** A core usable by either implementation: normalizeBatch (kafkajs) and, for wire, transformRecordSets. */
export type TransformerCore = Normalizer & Partial<Omit<RecordCore, 'kind'>>;

export type AnyTransformer = Transformer | WireTransformer;

export function createTransformer(
  cfg: TransformerConfig,
  core: TransformerCore,
  log: Logger,
  onFatal: (err: Error) => void = () => undefined,
): AnyTransformer {
  if (cfg.client === 'kafkajs') return new Transformer(cfg, core, log, onFatal);
  if (typeof core.transformRecordSets !== 'function')
    throw new ConfigError(
      `TRANSFORMER_CLIENT=wire needs a core with transformRecordSets (core '${core.kind}' has none)`,
    );
  return new WireTransformer(cfg, core as RecordCore, log, wireProducerFactory, onFatal);
}
