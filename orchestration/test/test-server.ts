/**
 * Temporal's time-skipping test server for the tests, from Maven Central: `io.temporal:temporal-test-server` and its
 * dependencies resolved by Maven into the machine cache (once, under an install lock), started through a small shell
 * wrapper that TestWorkflowEnvironment.createTimeSkipping runs as `<path> <port> [args]`. The SDK's default is to
 * download a native build of the same server from a host this network does not reach.
 */

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CACHE_DIR, withInstallLock } from '@pep/stack';

export const TEST_SERVER_VERSION = '1.38.0';
const POM = fileURLToPath(new URL('./test-server/pom.xml', import.meta.url));
const DIR = join(CACHE_DIR, `temporal-test-server-${TEST_SERVER_VERSION}`);
const LIB = join(DIR, 'lib');
const WRAPPER = join(DIR, 'temporal-test-server');

/** Path of an executable that starts the Java test server; installs it on first use (about 40 MB of jars). */
export async function ensureTimeSkippingServer(log: (m: string) => void = () => {}): Promise<string> {
  if (existsSync(WRAPPER)) return WRAPPER;
  return withInstallLock(DIR, log, async () => {
    if (existsSync(WRAPPER)) return WRAPPER;
    log(`resolving io.temporal:temporal-test-server:${TEST_SERVER_VERSION} from Maven Central into ${LIB}`);
    mkdirSync(LIB, { recursive: true });
    execFileSync(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        POM,
        `-Dtemporal.version=${TEST_SERVER_VERSION}`,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${LIB}`,
        '-DincludeScope=runtime',
      ],
      { stdio: ['ignore', 'inherit', 'inherit'], timeout: 15 * 60_000 },
    );
    if (!readdirSync(LIB).some((f) => f.startsWith('temporal-test-server-'))) {
      throw new Error(`Maven finished but ${LIB} has no temporal-test-server jar`);
    }
    writeFileSync(
      WRAPPER,
      `#!/bin/sh\nexec java -Xmx256m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "${LIB}/*" io.temporal.testserver.TestServer "$@"\n`,
    );
    chmodSync(WRAPPER, 0o755);
    return WRAPPER;
  });
}
