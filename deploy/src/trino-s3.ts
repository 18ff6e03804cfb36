/**
 * A Trino 476 coordinator for the object-storage tests: `io.trino:trino-server:476` from Maven Central (the stack's
 * unpacked server, `ensureTrinoServer`), with two catalogs on the local S3 store
 * whose properties come from contracts/src/object-store.ts: `iceberg_jdbc` (Iceberg's SQL catalog in PostgreSQL, the
 * platform's JDBC layout) and `iceberg_rest` (the REST catalog). Test-scoped (own port, own state folder, stopped by the
 * test); not the stack's Trino. Needs Java 24+ (the Temurin 25 JDK under /usr/lib/jvm, or TRINO_JAVA_HOME).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_DATABASE_URL } from '@pep/contracts';
import { trinoRestCatalogProperties } from '@pep/contracts/lake-catalog';
import { type ObjectStoreConfig, trinoS3Properties } from '@pep/contracts/object-store';
import { clearStaleTrinoPidFile, ensureTrinoServer, trinoAnswers, trinoJavaHome } from '@pep/stack';
import type { Log } from './chart.ts';
import { REPO_ROOT } from './local-cluster.ts';

export interface TrinoServer {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** The `jdbc` option for the platform's PostgreSQL (DEFAULT_DATABASE_URL) with tables under `warehouse`. */
export function platformJdbc(warehouse: string): { url: string; user: string; password: string; warehouse: string } {
  const db = new URL(DEFAULT_DATABASE_URL);
  return {
    url: `jdbc:postgresql://${db.host}${db.pathname}`,
    user: decodeURIComponent(db.username),
    password: decodeURIComponent(db.password),
    warehouse,
  };
}

export async function startTrinoOnS3(
  opts: {
    port: number;
    store: ObjectStoreConfig;
    jdbc: { url: string; user: string; password: string; warehouse: string };
    restUri: string;
  },
  log: Log,
): Promise<TrinoServer> {
  const s3 = trinoS3Properties(opts.store);
  return startTestTrino(
    {
      port: opts.port,
      catalogs: {
        iceberg_jdbc: {
          'connector.name': 'iceberg',
          'iceberg.catalog.type': 'jdbc',
          'iceberg.jdbc-catalog.catalog-name': 'pep',
          'iceberg.jdbc-catalog.driver-class': 'org.postgresql.Driver',
          'iceberg.jdbc-catalog.connection-url': opts.jdbc.url,
          'iceberg.jdbc-catalog.connection-user': opts.jdbc.user,
          'iceberg.jdbc-catalog.connection-password': opts.jdbc.password,
          'iceberg.jdbc-catalog.default-warehouse-dir': opts.jdbc.warehouse,
          ...s3,
        },
        iceberg_rest: {
          'connector.name': 'iceberg',
          ...trinoRestCatalogProperties({ uri: opts.restUri, warehouse: null, credential: null }),
          ...s3,
        },
      },
    },
    log,
  );
}

/**
 * Whether a query on each catalog gets scheduled. Right after start-up the coordinator can list itself as an active
 * node and still answer a query on a catalog with NO_NODES_AVAILABLE until its node manager has seen the node announce
 * that catalog (a fresh-clone CI run failed its first S3 query this way, 2026-12-07). Any other answer, an error
 * included, counts as schedulable: a misconfigured catalog is the test's to report, not a reason to wait.
 */
async function catalogsSchedulable(url: string, catalogs: readonly string[]): Promise<boolean> {
  const headers = { 'X-Trino-User': 'pep-health' };
  try {
    for (const catalog of catalogs) {
      let res = await fetch(`${url}/v1/statement`, {
        method: 'POST',
        headers,
        body: `SHOW SCHEMAS FROM "${catalog.replaceAll('"', '""')}"`,
        signal: AbortSignal.timeout(10_000),
      });
      for (let pages = 0; ; pages++) {
        if (!res.ok || pages >= 100) return false;
        const page = (await res.json()) as { nextUri?: string; error?: { errorName?: string } };
        if (page.error?.errorName === 'NO_NODES_AVAILABLE') return false;
        if (page.error || !page.nextUri) break;
        res = await fetch(page.nextUri, { headers, signal: AbortSignal.timeout(10_000) });
      }
    }
    return true;
  } catch {
    return false;
  }
}

/** The state folders of a test-scoped Trino named `name` (startTestTrino). */
export function testTrinoDirs(name: string): { etc: string; data: string } {
  return { etc: join(REPO_ROOT, '.stack', name, 'etc'), data: join(REPO_ROOT, '.stack', name, 'data') };
}

/**
 * A test-scoped Trino coordinator with the given catalogs (file name → the `catalog/<name>.properties` text or
 * properties) and environment (a catalog may read `${ENV:…}` from it); state under `.stack/<name>`.
 */
export async function startTestTrino(
  opts: {
    port: number;
    catalogs: Record<string, Record<string, string> | string>;
    env?: NodeJS.ProcessEnv;
    name?: string;
  },
  log: Log,
): Promise<TrinoServer> {
  const server = await ensureTrinoServer(log);
  const name = opts.name ?? 'trino-s3-test';
  const { etc, data } = testTrinoDirs(name);
  rmSync(etc, { recursive: true, force: true });
  mkdirSync(join(etc, 'catalog'), { recursive: true });
  mkdirSync(data, { recursive: true });
  const props = (o: Record<string, string>) =>
    `${Object.entries(o)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`;
  writeFileSync(
    join(etc, 'node.properties'),
    props({ 'node.environment': 'test', 'node.id': name, 'node.data-dir': data }),
  );
  writeFileSync(
    join(etc, 'jvm.config'),
    [
      '-server',
      '-Xmx768M',
      '-XX:+UseG1GC',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djdk.attach.allowAttachSelf=true',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(etc, 'config.properties'),
    props({
      coordinator: 'true',
      'node-scheduler.include-coordinator': 'true',
      'http-server.http.port': String(opts.port),
      'discovery.uri': `http://127.0.0.1:${opts.port}`,
      'query.max-memory': '384MB',
      'query.max-memory-per-node': '384MB',
    }),
  );
  for (const [catalog, content] of Object.entries(opts.catalogs)) {
    writeFileSync(
      join(etc, 'catalog', `${catalog}.properties`),
      typeof content === 'string' ? `${content}\n` : props(content),
    );
  }
  // the data folder outlives a run: a run killed before its stop left the launcher's pid file
  clearStaleTrinoPidFile(data, etc, `Trino (${name})`, (m) => log(`${name}: ${m}`));
  const home = trinoJavaHome();
  const logFile = join(REPO_ROOT, '.stack', 'logs', `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(join(server, 'bin', 'launcher'), ['run', `--etc-dir=${etc}`, `--data-dir=${data}`], {
    stdio: ['ignore', fd, fd],
    env: { ...(opts.env ?? process.env), JAVA_HOME: home, PATH: `${join(home, 'bin')}:${process.env.PATH}` },
  });
  const url = `http://127.0.0.1:${opts.port}`;
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`trino exited (${child.exitCode}); see ${logFile}`);
    if ((await trinoAnswers(url)) && (await catalogsSchedulable(url, Object.keys(opts.catalogs)))) {
      return {
        url,
        child,
        stop: async () => {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          // ref: false: once Trino exited, the bound must not hold the test's process for 30 s more
          if (
            (await Promise.race([exited.then(() => 'exited'), sleep(30_000, 'timeout', { ref: false })])) === 'timeout'
          )
            child.kill('SIGKILL');
        },
      };
    }
    await sleep(1000);
  }
  child.kill('SIGKILL');
  throw new Error(`trino did not start within 300 s; see ${logFile}`);
}
