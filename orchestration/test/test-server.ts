/**
 * Temporal's time-skipping test server for the tests, from Maven Central: `io.temporal:temporal-test-server` and its
 * dependencies resolved by Maven into the machine cache (once, under an install lock), started through a small shell
 * wrapper that TestWorkflowEnvironment.createTimeSkipping runs as `<path> <port> [args]`. The SDK's default is to
 * download a native build of the same server from a host this network does not reach.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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

export interface TimeSkippingServer {
  readonly address: string;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts the test server with time skipping enabled (timers fire as soon as nothing else is pending) and waits up to
 * `timeoutMs` for it to listen. Started here rather than by createTimeSkipping, whose start-up limit of 5 s a JVM on
 * a busy 2-core machine does not always meet (measured 9 s at a load average of 36).
 */
export async function startTimeSkippingServer(port: number, timeoutMs = 120_000): Promise<TimeSkippingServer> {
  const path = await ensureTimeSkippingServer((m) => console.log(m));
  const child: ChildProcess = spawn(path, [String(port), '--enable-time-skipping'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + timeoutMs;
  while (!(await portOpen(port))) {
    if (child.exitCode !== null) throw new Error(`the test server exited (${child.exitCode}): ${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the test server did not listen on ${port} within ${timeoutMs} ms: ${stderr}`);
    }
    await sleep(250);
  }
  return {
    address: `127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
