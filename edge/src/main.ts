/**
 * Entry point of the edge process (`bun src/main.ts`, `node --import tsx src/main.ts`, or the compiled executable).
 * Exits 2 on a configuration error (message on stderr, no secrets) and when Kafka refuses the configured credentials
 * or certificate at start-up, 0 after a graceful SIGTERM/SIGINT shutdown.
 */

import { createLogger } from '@pep/contracts/log';
import { exitWithParent } from '@pep/contracts/parent';
import { ConfigError, loadConfig } from './config.ts';
import { startEdge } from './server.ts';

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`edge: configuration error: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
const log = createLogger(config.logLevel, { service: 'edge' });
if (config.usesDefaultSecrets)
  log.warn('using the committed local default secrets (fine locally, refused in production)');
let started: Awaited<ReturnType<typeof startEdge>> | undefined;
const edge = await startEdge(config, log, (err) => {
  process.stderr.write(`edge: Kafka refused the connection: ${err.message}\n`);
  (started?.stop() ?? Promise.resolve()).finally(() => process.exit(2));
});
started = edge;

let signals = 0;
const onSignal = (signal: string) => {
  signals++;
  if (signals > 1) {
    log.warn('second signal: exiting without waiting for the drain', { signal });
    process.exit(1);
  }
  edge.stop().then(
    () => process.exit(0),
    (err: Error) => {
      log.error('shutdown failed', { error: err });
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGINT', () => onSignal('SIGINT'));
// Started by a launcher (npm start, the security Platform): stop with it, also when it is SIGKILLed.
exitWithParent({ onParentGone: () => log.warn('launcher gone: stopping edge') });
