/**
 * Trino 476 (the newest server tarball on Maven Central; it needs Java 24 or newer), the lakehouse's distributed
 * query engine, with one catalog `iceberg` over the platform's Iceberg SQL catalog (the JDBC catalog's tables in
 * PostgreSQL, catalog name `pep`) and the local warehouse, or, with LAKE_CATALOG_TYPE=rest, over the REST catalog the
 * lake writer uses (`iceberg.catalog.type=rest`). Installed from `io.trino:trino-server:476:tar.gz`
 * (~821 MB download, ~896 MB unpacked, once per machine), run with `bin/launcher run` and a bounded heap
 * (TRINO_HEAP, default 1G), health-checked on GET /v1/info. Not a writer of the bronze tables.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DATABASE_URL, LAKE_CATALOG_NAME, lakeWarehouseDir, SERVICE_DEFAULTS } from '@pep/contracts';
import { loadCatalogChoice, trinoRestCatalogProperties } from '@pep/contracts/lake-catalog';
import { objectStoreConfig, trinoS3Properties } from '@pep/contracts/object-store';
import { ensureMavenArtifact, withInstallLock } from '../install.ts';
import { newestJdk } from '../jdk.ts';
import { CACHE_DIR, STATE_DIR, serviceStateDir } from '../paths.ts';
import { clearStalePidFile, commandArgs, runAsync, startDetached } from '../process.ts';
import type { Logger, Service } from '../service.ts';

export const TRINO_VERSION = '476';
const { host } = SERVICE_DEFAULTS.trino;
const port = Number(process.env.TRINO_PORT ?? SERVICE_DEFAULTS.trino.port);
const HOME = join(CACHE_DIR, `trino-server-${TRINO_VERSION}`);
const STATE = serviceStateDir('trino');
const ETC = join(STATE, 'etc');
const DATA = join(STATE, 'data');
/** The launcher's own pid file under a Trino data directory (`run` writes its pid there, then execs the JVM). */
export function trinoLauncherPidFile(dataDir: string): string {
  return join(dataDir, 'var', 'run', 'launcher.pid');
}

/** Whether `pid` is a Trino on `etcDir`: the launcher or the JVM it became. */
function isTrinoOn(etcDir: string, pid: number): boolean {
  const args = commandArgs(pid);
  return (
    args.includes(`--etc-dir=${etcDir}`) ||
    (args.includes('io.trino.server.TrinoServer') && args.includes(`-Dconfig=${join(etcDir, 'config.properties')}`))
  );
}

/**
 * Before a launcher starts on `dataDir`: removes its pid file when it is stale. Nothing clears that file on exit, and
 * the launcher refuses to start with "already running as <pid>" whenever kill(pid, 0) succeeds, which is also true for
 * a zombie and for an unrelated process that got the pid since. Throws when a Trino on `etcDir` still runs there.
 * Says what it removed, unless the process was simply gone (as after every clean stop: not worth a line).
 */
export function clearStaleTrinoPidFile(dataDir: string, etcDir: string, what: string, log: Logger): void {
  const stale = clearStalePidFile(trinoLauncherPidFile(dataDir), what, (pid) => isTrinoOn(etcDir, pid));
  if (stale && stale.state !== 'gone') {
    const why = { exited: 'exited, not yet reaped', other: 'is not Trino', invalid: 'no pid' }[stale.state];
    log(`removed the launcher's stale pid file (${stale.pid === undefined ? why : `process ${stale.pid} ${why}`})`);
  }
}

/** A JDK of version 24 or newer: TRINO_JAVA_HOME, else the newest under /usr/lib/jvm. */
export function trinoJavaHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TRINO_JAVA_HOME) return env.TRINO_JAVA_HOME;
  const best = newestJdk(24);
  if (!best) {
    throw new Error(
      'Trino 476 needs Java 24 or newer: install a JDK (e.g. Temurin 25 under /usr/lib/jvm) or set TRINO_JAVA_HOME',
    );
  }
  return best.home;
}

/** JDBC pieces of the catalog database (LAKE_CATALOG_URL, default the platform's DATABASE_URL). */
export function catalogJdbc(env: NodeJS.ProcessEnv = process.env) {
  const url = new URL(env.LAKE_CATALOG_URL ?? env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
  return {
    url: `jdbc:postgresql://${url.hostname}:${url.port || 5432}${url.pathname}`,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

export function trinoWarehouse(env: NodeJS.ProcessEnv = process.env): string {
  const w = env.LAKE_WAREHOUSE || lakeWarehouseDir(STATE_DIR);
  return w.startsWith('/') ? `file://${w}` : w;
}

/** The files of `<state>/trino/etc` (exported for the test that checks them). */
export function trinoConfigFiles(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const jdbc = catalogJdbc(env);
  const heap = env.TRINO_HEAP ?? '1G';
  const warehouse = trinoWarehouse(env);
  // The catalog the lake writer uses (LAKE_CATALOG_TYPE, contracts/src/lake-catalog.ts): the SQL catalog in
  // PostgreSQL through Trino's JDBC catalog, or the REST catalog.
  const { rest } = loadCatalogChoice(env);
  const catalog = rest
    ? ['connector.name=iceberg', ...Object.entries(trinoRestCatalogProperties(rest)).map(([k, v]) => `${k}=${v}`)]
    : [
        'connector.name=iceberg',
        'iceberg.catalog.type=jdbc',
        `iceberg.jdbc-catalog.catalog-name=${env.LAKE_CATALOG_NAME ?? LAKE_CATALOG_NAME}`,
        'iceberg.jdbc-catalog.driver-class=org.postgresql.Driver',
        `iceberg.jdbc-catalog.connection-url=${jdbc.url}`,
        `iceberg.jdbc-catalog.connection-user=${jdbc.user}`,
        `iceberg.jdbc-catalog.connection-password=${jdbc.password}`,
        `iceberg.jdbc-catalog.default-warehouse-dir=${warehouse}`,
      ];
  if (warehouse.startsWith('file://')) catalog.push('fs.native-local.enabled=true', 'local.location=/');
  else {
    // One reading of the object store's settings for every engine (contracts/src/object-store.ts: AWS_ENDPOINT_URL_S3,
    // AWS_REGION, LAKE_S3_PATH_STYLE, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; the chart sets the same variables).
    for (const [k, v] of Object.entries(trinoS3Properties(objectStoreConfig(env)))) catalog.push(`${k}=${v}`);
  }
  return {
    'node.properties': ['node.environment=pep', 'node.id=pep-local-1', `node.data-dir=${DATA}`].join('\n'),
    'jvm.config': [
      '-server',
      `-Xmx${heap}`,
      '-XX:+UseG1GC',
      '-XX:G1HeapRegionSize=32M',
      '-XX:+ExitOnOutOfMemoryError',
      '-XX:ReservedCodeCacheSize=256M',
      '-Djdk.attach.allowAttachSelf=true',
      '-Dfile.encoding=UTF-8',
    ].join('\n'),
    'config.properties': [
      'coordinator=true',
      'node-scheduler.include-coordinator=true',
      `http-server.http.port=${port}`,
      `discovery.uri=http://${host}:${port}`,
      'query.max-memory=512MB',
      'query.max-memory-per-node=512MB',
    ].join('\n'),
    'log.properties': 'io.trino=WARN\n',
    'catalog/iceberg.properties': catalog.join('\n'),
  };
}

/**
 * The server tarball unpacked once per machine (under an install lock): the stack's Trino and the deploy package's
 * test-scoped coordinators share this one copy. The whole tarball: its plugins share jars through hard links, so one
 * plugin cannot be extracted alone. Returns the server's home.
 */
export async function ensureTrinoServer(log: Logger): Promise<string> {
  if (existsSync(join(HOME, 'bin', 'launcher'))) return HOME;
  const tarball = await ensureMavenArtifact(
    { groupId: 'io.trino', artifactId: 'trino-server', version: TRINO_VERSION, extension: 'tar.gz' },
    log,
  );
  await withInstallLock(HOME, log, async () => {
    if (existsSync(join(HOME, 'bin', 'launcher'))) return;
    const tmp = `${HOME}.unpacking`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    log(`unpacking ${tarball}`);
    await runAsync('tar', ['-xzf', tarball, '-C', tmp, '--strip-components=1'], {
      what: 'unpacking Trino',
      timeoutMs: 20 * 60_000,
    });
    renameSync(tmp, HOME);
  });
  return HOME;
}

/**
 * Whether a Trino server answers a query that needs a worker: `/v1/info` says `starting: false` before the
 * coordinator's node manager has seen its own worker, and a query in that window fails with NO_NODES_AVAILABLE (a
 * test's first query did, on a loaded CI machine). Follows the statement protocol's nextUri to the end.
 */
export async function trinoAnswers(url: string, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const signal = () => AbortSignal.timeout(Math.max(1, deadline - Date.now()));
  const headers = { 'X-Trino-User': 'pep-health' };
  try {
    const info = await fetch(`${url}/v1/info`, { signal: signal() });
    if (!info.ok || ((await info.json()) as { starting?: boolean }).starting !== false) return false;
    let res = await fetch(`${url}/v1/statement`, {
      method: 'POST',
      headers,
      body: "SELECT count(*) FROM system.runtime.nodes WHERE state = 'active'",
      signal: signal(),
    });
    let active = 0;
    for (let pages = 0; pages < 100; pages++) {
      if (!res.ok) return false;
      const page = (await res.json()) as { nextUri?: string; data?: number[][]; error?: unknown };
      if (page.error) return false;
      if (page.data?.[0]?.[0] !== undefined) active = Number(page.data[0][0]);
      if (!page.nextUri) return active > 0;
      res = await fetch(page.nextUri, { headers, signal: signal() });
    }
    return false;
  } catch {
    return false;
  }
}

export const trino: Service = {
  name: 'trino',
  address: `http://${host}:${port}`,
  startTimeoutMs: 600_000,
  dependsOn: ['postgres'],

  async ensureInstalled(log: Logger) {
    trinoJavaHome();
    await ensureTrinoServer(log);
  },

  isHealthy() {
    return trinoAnswers(`http://${host}:${port}`);
  },

  async start(log: Logger) {
    // Only reached when the stack's own pid file names no running Trino: a launcher pid file is stale then, unless a
    // Trino the stack does not know about runs on this folder (an error naming it, rather than "already running").
    clearStaleTrinoPidFile(DATA, ETC, 'Trino', log);
    for (const [file, text] of Object.entries(trinoConfigFiles())) {
      const path = join(ETC, file);
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, `${text}\n`);
    }
    mkdirSync(DATA, { recursive: true });
    const javaHome = trinoJavaHome();
    return startDetached({
      service: 'trino',
      command: join(HOME, 'bin', 'launcher'),
      args: ['run', `--etc-dir=${ETC}`, `--data-dir=${DATA}`],
      env: { ...process.env, JAVA_HOME: javaHome, PATH: `${join(javaHome, 'bin')}:${process.env.PATH ?? ''}` },
    });
  },
};
