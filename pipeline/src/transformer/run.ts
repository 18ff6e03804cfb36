/**
 * Runs a transformer as a process: metrics server, signal handling (SIGINT/SIGTERM finish the chunk in hand,
 * commit, leave the group; a second signal or the shutdown timeout exits at once, which is safe because nothing
 * uncommitted is visible downstream). Shared by main.ts and the crash tests' child process.
 */
import type { TransformerConfig } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import { exitOnFatal, runConsumerService } from '../lib/service.ts';
import type { Normalizer } from './normalizer.ts';
import { Transformer } from './transformer.ts';

export async function runTransformer(
  cfg: TransformerConfig,
  normalizer: Normalizer,
  log: Logger,
): Promise<Transformer> {
  const transformer = new Transformer(cfg, normalizer, log, exitOnFatal(log));
  await runConsumerService(transformer, cfg, log);
  return transformer;
}
