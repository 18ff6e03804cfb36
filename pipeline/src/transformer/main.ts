/**
 * Entry point of the transformer (`npx tsx pipeline/src/transformer/main.ts`): loads core-native (native addon or
 * TypeScript twin per CORE_NATIVE_IMPL) and runs the consume-transform-produce loop (wire-transformer.ts on kafka-wire).
 */

import { createLogger } from '@pep/contracts/log';
import { loadTransformerConfig } from '../lib/config.ts';
import { loadNormalizer } from './core.ts';
import { runTransformer } from './run.ts';

const cfg = loadTransformerConfig();
const log = createLogger(cfg.logLevel, { service: 'transformer' });

loadNormalizer()
  .then((normalizer) => runTransformer(cfg, normalizer, log))
  .catch((err: unknown) => {
    log.error('transformer failed to start', { err });
    process.exit(1);
  });
