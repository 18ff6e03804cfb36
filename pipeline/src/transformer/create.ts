/**
 * Builds the transformer (wire-transformer.ts on kafka-wire: one core.transformRecordSets call and one transaction per
 * fetch) for a core that offers transformRecordSets (core-native does; the tests' echo core too). The kafkajs
 * transformer that TRANSFORMER_CLIENT=kafkajs used to select is retired; kafkajs serves the control plane only.
 */

import type { Logger } from '@pep/contracts/log';
import type { TransformerConfig } from '../lib/config.ts';
import { wireProducerFactory } from './wire-producer.ts';
import { type RecordCore, type TransformerOptions, WireTransformer } from './wire-transformer.ts';

export type { RecordCore as TransformerCore } from './wire-transformer.ts';
export { WireTransformer } from './wire-transformer.ts';

export function createTransformer(
  cfg: TransformerConfig,
  core: RecordCore,
  log: Logger,
  onFatal: (err: Error) => void = () => undefined,
  opts: TransformerOptions = {},
): WireTransformer {
  return new WireTransformer(cfg, core, log, wireProducerFactory, onFatal, opts);
}
