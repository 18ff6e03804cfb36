/**
 * Runs the transformer as a process: metrics server, signal handling
 * (SIGINT/SIGTERM finish the chunk in hand, commit, leave the group; a second signal or the shutdown timeout exits
 * at once, which is safe because nothing uncommitted is visible downstream). Shared by main.ts and the crash tests'
 * child process.
 */

import type { Logger } from '@pep/contracts/log';
import type { TransformerConfig } from '../lib/config.ts';
import { exitOnFatal, runConsumerService } from '../lib/service.ts';
import { createTransformer, type TransformerCore, type WireTransformer } from './create.ts';

export async function runTransformer(
  cfg: TransformerConfig,
  core: TransformerCore,
  log: Logger,
): Promise<WireTransformer> {
  const transformer = createTransformer(cfg, core, log, exitOnFatal(log));
  await runConsumerService(transformer, cfg, log);
  return transformer;
}
