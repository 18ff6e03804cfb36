/**
 * Apache Superset from PyPI (apache-superset 6.1.0 with the three pins it needs here, see the shared reference,
 * section 10) in a project-local virtualenv, with SQLite metadata in the state folder, served by gunicorn on
 * SUPERSET_URL's port. First start: the metadata database is a copy of a template made once per machine
 * (`db upgrade` + `init`, ~45-90 s), then the admin user is created; every `up` checks that the admin credentials
 * log in and resets the password when the environment changed it.
 *
 * Not here: the databases Superset reads and the dashboards; @pep/dashboards registers and imports those.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { supersetUrl } from '@pep/contracts';
import { ConfigError } from '@pep/contracts/env';
import { ensureVenv, type VenvSpec, venvDir, withInstallLock } from '../install.ts';
import { serviceStateDir } from '../paths.ts';
import { runAsync, startDetached } from '../process.ts';
import type { Logger, Service } from '../service.ts';

/** Exact pins; a change here is a new virtualenv folder (install.ts names it by the hash of this list). */
export const SUPERSET_VENV: VenvSpec = {
  name: 'superset',
  requirements: [
    'apache-superset==6.1.0',
    // Superset 6.1.0 imports both without declaring them.
    'rich==15.0.0',
    'cachetools==8.0.2',
    // 2.5.x breaks Superset's metastore cache (key/value store used by dashboards' permalinks and filter state).
    'flask-caching==2.3.1',
    // Drivers of the databases the dashboards read: PostgreSQL (operations), DuckDB (marts), Trino (lakehouse).
    'psycopg2-binary==2.9.13',
    'duckdb==2.0.1',
    'duckdb-engine==0.17.0',
    'trino[sqlalchemy]==0.340.0',
  ],
  timeoutMs: 30 * 60_000,
};

/** Bumped when the template's making changes (another `init` step, another config): a new template file. */
const TEMPLATE_VERSION = 2;
const STATE = serviceStateDir('superset');
const METADATA_DB = join(STATE, 'superset.db');
const CONFIG_FILE = join(STATE, 'superset_config.py');
const LOCAL_CREDENTIALS_FILE = join(STATE, 'local-credentials.json');
const STEP_TIMEOUT_MS = 10 * 60_000;

export const supersetBin = (): string => join(venvDir(SUPERSET_VENV), 'bin', 'superset');
const gunicornBin = (): string => join(venvDir(SUPERSET_VENV), 'bin', 'gunicorn');
const templateFile = (): string => join(venvDir(SUPERSET_VENV), `pep-metadata-template-v${TEMPLATE_VERSION}.db`);

export interface SupersetSettings {
  /** SUPERSET_URL without a trailing slash. */
  readonly url: string;
  readonly port: number;
  readonly adminUser: string;
  readonly adminPassword: string;
  /** Flask's SECRET_KEY: signs sessions and encrypts the stored database passwords. */
  readonly secretKey: string;
  /** Variables whose value is the generated local default (refused with NODE_ENV=production). */
  readonly generatedDefaults: readonly string[];
}

interface LocalCredentials {
  readonly adminPassword: string;
  readonly secretKey: string;
}

/** The generated local defaults of this checkout: made once, kept in the state folder (mode 0600). */
function localCredentials(): LocalCredentials {
  try {
    const saved = JSON.parse(readFileSync(LOCAL_CREDENTIALS_FILE, 'utf8')) as Partial<LocalCredentials>;
    if (typeof saved.adminPassword === 'string' && typeof saved.secretKey === 'string') {
      return { adminPassword: saved.adminPassword, secretKey: saved.secretKey };
    }
  } catch {}
  const fresh: LocalCredentials = {
    adminPassword: randomBytes(12).toString('base64url'),
    secretKey: randomBytes(32).toString('base64url'),
  };
  mkdirSync(STATE, { recursive: true });
  const tmp = `${LOCAL_CREDENTIALS_FILE}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(fresh)}\n`, { mode: 0o600 });
  // Two processes generating at once: the first rename wins, and both then read the same file.
  if (existsSync(LOCAL_CREDENTIALS_FILE)) rmSync(tmp, { force: true });
  else renameSync(tmp, LOCAL_CREDENTIALS_FILE);
  return localCredentials();
}

/**
 * Superset's address and admin credentials from the environment: SUPERSET_URL, SUPERSET_ADMIN_USER (admin),
 * SUPERSET_ADMIN_PASSWORD and SUPERSET_SECRET_KEY (generated per checkout when unset). With NODE_ENV=production a
 * generated default is refused: the error names the variables, never a value.
 */
export function supersetSettings(env: NodeJS.ProcessEnv = process.env): SupersetSettings {
  const url = supersetUrl(env);
  const parsed = new URL(url);
  const port = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
  const adminUser = env.SUPERSET_ADMIN_USER?.trim() || 'admin';
  const givenPassword = env.SUPERSET_ADMIN_PASSWORD?.trim();
  const givenKey = env.SUPERSET_SECRET_KEY?.trim();
  const generatedDefaults = [
    ...(givenPassword ? [] : ['SUPERSET_ADMIN_PASSWORD']),
    ...(givenKey ? [] : ['SUPERSET_SECRET_KEY']),
  ];
  if (env.NODE_ENV === 'production' && generatedDefaults.length > 0) {
    throw new ConfigError(
      `NODE_ENV=production but ${generatedDefaults.join(' and ')} ${generatedDefaults.length > 1 ? 'are' : 'is'} not set: the generated local default is refused in production`,
    );
  }
  if (givenKey !== undefined && givenKey.length > 0 && givenKey.length < 32) {
    throw new ConfigError('SUPERSET_SECRET_KEY must be at least 32 characters');
  }
  const local = generatedDefaults.length > 0 ? localCredentials() : undefined;
  return Object.freeze({
    url,
    port,
    adminUser,
    adminPassword: givenPassword || (local as LocalCredentials).adminPassword,
    secretKey: givenKey || (local as LocalCredentials).secretKey,
    generatedDefaults,
  });
}

/** Superset's configuration module: everything comes from the environment the stack starts it with. */
const CONFIG_PY = `# Written by the local stack (stack/src/services/superset.ts) at every start; edit that file, not this one.
import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.environ["PEP_SUPERSET_METADATA_DB"]
# One local user and a browser test that logs in several times a minute; the default is 5 per second.
AUTH_RATE_LIMIT = "20 per second"
# Charts query the databases directly (no Celery workers on one machine).
FEATURE_FLAGS = {"GLOBAL_ASYNC_QUERIES": False}
# Chart data and Superset's metadata (dashboard, charts, datasets endpoints) cached on disk, shared by the gunicorn
# workers, for PEP_SUPERSET_CACHE_TIMEOUT seconds (SUPERSET_CACHE_TIMEOUT_S; 0 turns caching off). Errors are not cached.
_CACHE_TIMEOUT = int(os.environ.get("PEP_SUPERSET_CACHE_TIMEOUT", "300"))
if _CACHE_TIMEOUT > 0:
    CACHE_CONFIG = {
        "CACHE_TYPE": "FileSystemCache",
        "CACHE_DIR": os.environ["PEP_SUPERSET_CACHE_DIR"] + "/metadata",
        "CACHE_DEFAULT_TIMEOUT": _CACHE_TIMEOUT,
        "CACHE_THRESHOLD": 2000,
    }
    DATA_CACHE_CONFIG = {
        "CACHE_TYPE": "FileSystemCache",
        "CACHE_DIR": os.environ["PEP_SUPERSET_CACHE_DIR"] + "/data",
        "CACHE_DEFAULT_TIMEOUT": _CACHE_TIMEOUT,
        "CACHE_THRESHOLD": 2000,
    }
# Superset compresses every response (Flask-Compress, brotli) as it sends it: its JavaScript (~10 MB per dashboard
# page, hashed file names) was compressed again for every browser that fetched it, seconds of CPU per first visit on
# a busy 2-core machine. The compressed static files are kept per worker process (bounded by
# PEP_SUPERSET_COMPRESSED_ASSETS_MB); every other response (user-specific pages and API answers) is never cached.
class _StaticCompressionCache:
    def __init__(self, max_bytes):
        import collections, threading
        self._items = collections.OrderedDict()
        self._bytes = 0
        self._max = max_bytes
        self._lock = threading.Lock()

    @staticmethod
    def _static(key):
        return key.split(";", 1)[-1].startswith("static:")

    def get(self, key):
        if not self._static(key):
            return None
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def set(self, key, value):
        if not self._static(key) or len(value) > self._max:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = value
            self._bytes += len(value)
            while self._bytes > self._max:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)


def _compression_cache_key(request):
    # Only Flask's static endpoint (files named by their content hash) is cacheable; the rest gets a key the cache
    # ignores.
    return "static:" + request.path if request.endpoint == "static" else "dynamic"


_COMPRESSED_ASSETS_BYTES = int(os.environ.get("PEP_SUPERSET_COMPRESSED_ASSETS_MB", "64")) * 1024 * 1024
if _COMPRESSED_ASSETS_BYTES > 0:
    _STATIC_COMPRESSION_CACHE = _StaticCompressionCache(_COMPRESSED_ASSETS_BYTES)
    COMPRESS_CACHE_BACKEND = lambda: _STATIC_COMPRESSION_CACHE  # noqa: E731
    COMPRESS_CACHE_KEY = _compression_cache_key
# The metadata database (SQLite) in WAL mode with synchronous=NORMAL: a commit no longer waits for an fsync, and
# readers (every request's permission checks) no longer wait behind a writer. busy_timeout bounds how long a writer
# waits for another (gunicorn runs several workers on the one file). Only the metadata file gets these pragmas.
import sqlite3 as _sqlite3
from sqlalchemy import event as _sa_event
from sqlalchemy.engine import Engine as _SaEngine

_METADATA_DB = os.path.realpath(os.environ["PEP_SUPERSET_METADATA_DB"])


_SQLITE_WAL = os.environ.get("PEP_SUPERSET_SQLITE_WAL", "1") == "1"


@_sa_event.listens_for(_SaEngine, "connect")
def _metadata_sqlite_pragmas(dbapi_connection, _record):
    if not isinstance(dbapi_connection, _sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        files = [row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main"]
        if not files or os.path.realpath(files[0]) != _METADATA_DB:
            return
        cursor.execute("PRAGMA busy_timeout = 10000")
        # The journal mode is kept in the file: changed only when it differs (changing it takes a lock).
        mode = "wal" if _SQLITE_WAL else "delete"
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != mode:
            cursor.execute(f"PRAGMA journal_mode = {mode}")
        if _SQLITE_WAL:
            cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


# SQLAlchemy 1.4 (Superset's) opens and closes a SQLite file connection for every use (NullPool): a connect, the
# pragmas above and Superset's own per request. A pool per worker keeps them open (SQLAlchemy 2's default for SQLite
# files); a pooled connection is used by one thread at a time. SUPERSET_SQLITE_POOL=0: Superset's default.
if os.environ.get("PEP_SUPERSET_SQLITE_POOL", "1") == "1":
    from sqlalchemy.pool import QueuePool as _QueuePool

    SQLALCHEMY_ENGINE_OPTIONS = {
        "poolclass": _QueuePool,
        "pool_size": int(os.environ.get("PEP_SUPERSET_THREADS", "4")) + 1,
        "max_overflow": 10,
        "connect_args": {"check_same_thread": False},
    }


# Superset's event log (the "logs" table behind its recent-activity views) is written by the request that caused it:
# 3-4 rows and a SQLite commit per chart request, inside the request's time. "background" (the default) hands the rows
# to one thread per worker that writes them in batches (a bounded queue: rows beyond it are dropped and counted in the
# log, never the request); "db" is Superset's own synchronous logger; "stdout" prints them (no recent activity).
from superset.utils.log import DBEventLogger as _DBEventLogger, StdOutEventLogger as _StdOutEventLogger


class _BackgroundDBEventLogger(_DBEventLogger):
    _MAX_QUEUED = 10000
    _BATCH = 500

    def __init__(self):
        import queue, threading
        super().__init__()
        self._queue = queue.Queue(self._MAX_QUEUED)
        self._lock = threading.Lock()
        self._thread = None
        self._app = None
        self._dropped = 0

    def log(self, user_id, action, *args, **kwargs):
        import queue, threading, flask
        if self._thread is None or self._thread.pid != os.getpid():
            with self._lock:
                if self._thread is None or self._thread.pid != os.getpid():
                    self._app = flask.current_app._get_current_object()
                    thread = threading.Thread(target=self._run, name="pep-event-log", daemon=True)
                    thread.pid = os.getpid()
                    thread.start()
                    self._thread = thread
        try:
            self._queue.put_nowait((user_id, action, args, kwargs))
        except queue.Full:
            self._dropped += 1
            if self._dropped % 1000 == 1:
                import logging
                logging.warning("event log queue full (%d rows): %d rows dropped so far", self._MAX_QUEUED, self._dropped)

    def _run(self):
        import logging, queue
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                with self._app.app_context():
                    for user_id, action, args, kwargs in batch:
                        _DBEventLogger.log(self, user_id, action, *args, **kwargs)
            except Exception:  # never let the writer die: the next batch tries again
                logging.exception("background event log: a batch of %d rows failed", len(batch))


_EVENT_LOG = os.environ.get("PEP_SUPERSET_EVENT_LOG", "background")
if _EVENT_LOG == "background":
    EVENT_LOGGER = _BackgroundDBEventLogger()
elif _EVENT_LOG == "stdout":
    EVENT_LOGGER = _StdOutEventLogger()


# A chart on a virtual dataset asks its database for the default schema twice per request (the cache key's and the
# query's row-level-security step, superset/models/helpers.py and connectors/sqla/models.py), each through a new
# connection (Superset uses no pool for the databases it reads): three connections per chart, two of them only for a
# name that changes when the database's settings do. Each worker remembers it for PEP_SUPERSET_SCHEMA_CACHE_S seconds
# per database, its settings and the catalog (not for databases that impersonate the user: their answer is per user).
_SCHEMA_CACHE_S = int(os.environ.get("PEP_SUPERSET_SCHEMA_CACHE_S", "300"))


def _install_schema_cache():
    import threading, time
    from superset.models.core import Database

    ask = Database.get_default_schema
    known = {}
    lock = threading.Lock()

    def get_default_schema(self, catalog):
        if self.impersonate_user:
            return ask(self, catalog)
        key = (self.id, self.sqlalchemy_uri, self.extra, catalog)
        now = time.monotonic()
        with lock:
            hit = known.get(key)
        if hit is not None and now - hit[0] < _SCHEMA_CACHE_S:
            return hit[1]
        value = ask(self, catalog)
        with lock:
            if len(known) > 1000:
                known.clear()
            known[key] = (now, value)
        return value

    Database.get_default_schema = get_default_schema


# DuckDB files opened read-only (the dbt marts): Superset makes a new engine per query (NullPool), so every chart
# request paid duckdb-engine's new dialect (it asks DuckDB for its keywords) and a new DuckDB database instance for the
# file. Each worker keeps one engine per such database with a pool of warm connections instead (PEP_SUPERSET_DUCKDB_POOL).
# dbt publishes the marts by renaming a new file over the old one, and DuckDB hands a new connect to a path that one of
# the process's connections still holds open the OLD file's instance (its instance cache is keyed by the path), so:
# each pooled connection is an in-memory DuckDB that ATTACHes the file read-only (a new instance per connection, never
# a cached one), records the file's identity (device, inode, size, mtime) taken before it attached, and is replaced at
# checkout when the file's identity changed. The chart data cache key carries the same identity (_install_duckdb_cache_key),
# so a published build is never answered from the old file or the old cache entries.
_DUCKDB_POOL = os.environ.get("PEP_SUPERSET_DUCKDB_POOL", "1") == "1"


def _duckdb_file(url):
    """The absolute path of a DuckDB file URL (None: not a plain local DuckDB file)."""
    if not url.drivername.startswith("duckdb") or url.query:
        return None
    db = url.database or ""
    if db in ("", ":memory:") or db.startswith(("md:", "motherduck:")) or ":" in db.split("/", 1)[0]:
        return None
    return os.path.abspath(db)


def _duckdb_file_identity(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _install_duckdb_pool():
    import json, threading
    import superset.models.core as core
    from sqlalchemy import event
    from sqlalchemy.exc import DisconnectionError
    from sqlalchemy.pool import NullPool, QueuePool

    create = core.create_engine
    engines = {}
    lock = threading.Lock()
    size = int(os.environ.get("PEP_SUPERSET_THREADS", "4"))

    def warm_engine(url, path, kwargs):
        args = dict(kwargs)
        args.pop("poolclass", None)
        connect_args = {k: v for k, v in (args.pop("connect_args", None) or {}).items() if k != "read_only"}
        engine = create(
            url.set(database=":memory:"),
            poolclass=QueuePool,
            pool_size=size,
            max_overflow=size,
            connect_args=connect_args,
            **args,
        )
        quoted = path.replace("'", "''")
        alias = os.path.splitext(os.path.basename(path))[0].replace('"', '""') or "file"

        @event.listens_for(engine, "connect")
        def attach(dbapi_connection, record):
            # The identity before the ATTACH: a file renamed in between is seen as changed at the next checkout.
            record.info["pep_duckdb_file"] = _duckdb_file_identity(path)
            dbapi_connection.execute(f"""ATTACH '{quoted}' AS "{alias}" (READ_ONLY)""")
            dbapi_connection.execute(f'USE "{alias}"')

        @event.listens_for(engine, "checkout")
        def same_file(dbapi_connection, record, proxy):
            now = _duckdb_file_identity(path)
            if now is None or record.info.get("pep_duckdb_file") != now:
                raise DisconnectionError(f"{path} changed since this connection attached it")

        return engine

    def create_engine(url, **kwargs):
        path = _duckdb_file(url)
        connect_args = kwargs.get("connect_args") or {}
        if path is None or connect_args.get("read_only") is not True or kwargs.get("poolclass") not in (None, NullPool):
            return create(url, **kwargs)
        rest = {k: v for k, v in kwargs.items() if k != "poolclass"}
        key = (os.getpid(), path, json.dumps(rest, sort_keys=True, default=repr))
        with lock:
            engine = engines.get(key)
            if engine is None:
                if len(engines) > 100:
                    for old in engines.values():
                        old.dispose()
                    engines.clear()
                engine = engines[key] = warm_engine(url, path, kwargs)
        return engine

    core.create_engine = create_engine


# Superset's chart data cache key names the dataset, its query and its last change in Superset, not the data: a dbt
# build published after an answer was cached would be hidden behind it for the cache timeout. For datasets on a DuckDB
# file the key also carries the file's identity (dbt publishes by renaming a new file over the old one), so a published
# build is a new key at once; old entries expire unread.
def _install_duckdb_cache_key():
    from sqlalchemy.engine.url import make_url
    from superset.connectors.sqla.models import SqlaTable

    extra_keys = SqlaTable.get_extra_cache_keys

    def get_extra_cache_keys(self, query_obj):
        keys = extra_keys(self, query_obj)
        try:
            path = _duckdb_file(make_url(self.database.sqlalchemy_uri))
        except Exception:
            path = None
        if path is not None:
            keys = [*keys, f"duckdb-file:{path}:{_duckdb_file_identity(path)}"]
        return keys

    SqlaTable.get_extra_cache_keys = get_extra_cache_keys


# A new worker's first chart requests imported the database drivers and built sqlglot's DuckDB dialect on the request
# (measured at load ~17: duckdb 0.26 s, duckdb_engine 0.21 s, the first DuckDB parse 0.17 s; the first forced dashboard
# after a start answered its charts in 3-3.7 s, the next in 0.6-1 s). One thread per worker does it once at start
# (PEP_SUPERSET_WARM_UP=0: on the first request, as Superset does).
def _warm_up():
    import logging, threading

    def run():
        try:
            import duckdb, duckdb_engine, psycopg2  # noqa: F401
            from superset.commands.chart.data.get_data_command import ChartDataCommand  # noqa: F401
            from superset.sql.parse import SQLScript

            for engine in ("duckdb", "postgresql"):
                SQLScript("SELECT a, SUM(b) AS s FROM (SELECT 1 AS a, 2 AS b) AS q WHERE a = 1 GROUP BY a LIMIT 10", engine=engine)
        except Exception:  # a warm-up only: the first request does whatever is left
            logging.exception("superset warm-up failed")

    threading.Thread(target=run, name="pep-warm-up", daemon=True).start()


def FLASK_APP_MUTATOR(app):
    if _SCHEMA_CACHE_S > 0:
        _install_schema_cache()
    if _DUCKDB_POOL:
        _install_duckdb_pool()
    _install_duckdb_cache_key()
    if os.environ.get("PEP_SUPERSET_WARM_UP", "1") == "1":
        _warm_up()


# ECharts draws every chart with an entry animation (bars growing, lines revealed left to right: ~1 s of frames per
# chart on the browser's main thread after its first frame), which delays the charts still to draw on a dashboard
# (Revenue: the pivot table and the paged table settled last behind a 1,580-bar animation). PEP_SUPERSET_CHART_ANIMATION
# (SUPERSET_CHART_ANIMATION, default 0) turns it off for every ECharts chart through the theme's
# echartsOptionsOverrides token: each chart is drawn once, complete, when it appears. Superset's own base themes are
# kept (this module is read at the end of superset.config, which holds them).
if os.environ.get("PEP_SUPERSET_CHART_ANIMATION", "0") != "1":
    import sys as _sys

    def _without_chart_animation(theme):
        if theme is None:
            return None
        token = dict(theme.get("token") or {})
        token["echartsOptionsOverrides"] = {**(token.get("echartsOptionsOverrides") or {}), "animation": False}
        return {**theme, "token": token}

    THEME_DEFAULT = _without_chart_animation(_sys.modules["superset.config"].THEME_DEFAULT)
    THEME_DARK = _without_chart_animation(_sys.modules["superset.config"].THEME_DARK)

# Bounds: rows a chart or SQL Lab may fetch, seconds a request may take.
ROW_LIMIT = 50000
SQL_MAX_ROW = 100000
SUPERSET_WEBSERVER_TIMEOUT = 120
# The metadata database lives on SQLite in the state folder: no example data, no telemetry.
SUPERSET_LOAD_EXAMPLES = False
`;

/**
 * SUPERSET_WORKERS (default 2): gunicorn worker processes, each with SUPERSET_THREADS (default 4) threads;
 * SUPERSET_CACHE_TIMEOUT_S (300): chart data and metadata cache; SUPERSET_COMPRESSED_ASSETS_MB (64): compressed static
 * files kept per worker (0: compressed at every request); SUPERSET_EVENT_LOG (background | db | stdout): who writes
 * Superset's event log rows; SUPERSET_SCHEMA_CACHE_S (300): how long a worker remembers a database's default schema;
 * SUPERSET_SQLITE_WAL (1 | 0): the metadata database in WAL mode with synchronous=NORMAL; SUPERSET_SQLITE_POOL (1 | 0):
 * its connections pooled per worker; SUPERSET_DUCKDB_POOL (1 | 0): warm engines for the DuckDB files read read-only;
 * SUPERSET_CHART_ANIMATION (0 | 1): ECharts' entry animations (off by default: each chart drawn once, complete).
 */
export function supersetServerSettings(env: NodeJS.ProcessEnv = process.env): {
  workers: number;
  threads: number;
  cacheTimeoutS: number;
  compressedAssetsMb: number;
  eventLog: 'background' | 'db' | 'stdout';
  schemaCacheS: number;
  sqliteWal: boolean;
  sqlitePool: boolean;
  duckdbPool: boolean;
  chartAnimation: boolean;
} {
  const int = (name: string, value: string | undefined, fallback: number, min: number, max: number): number => {
    const raw = value?.trim();
    if (!raw) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
  const oneOf = <T extends string>(name: string, value: string | undefined, allowed: readonly [T, ...T[]]): T => {
    const raw = value?.trim();
    if (!raw) return allowed[0];
    if (!(allowed as readonly string[]).includes(raw)) {
      throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
    }
    return raw as T;
  };
  return {
    workers: int('SUPERSET_WORKERS', env.SUPERSET_WORKERS, 2, 1, 16),
    threads: int('SUPERSET_THREADS', env.SUPERSET_THREADS, 4, 1, 32),
    cacheTimeoutS: int('SUPERSET_CACHE_TIMEOUT_S', env.SUPERSET_CACHE_TIMEOUT_S, 300, 0, 86_400),
    compressedAssetsMb: int('SUPERSET_COMPRESSED_ASSETS_MB', env.SUPERSET_COMPRESSED_ASSETS_MB, 64, 0, 1024),
    eventLog: oneOf('SUPERSET_EVENT_LOG', env.SUPERSET_EVENT_LOG, ['background', 'db', 'stdout'] as const),
    schemaCacheS: int('SUPERSET_SCHEMA_CACHE_S', env.SUPERSET_SCHEMA_CACHE_S, 300, 0, 86_400),
    sqliteWal: oneOf('SUPERSET_SQLITE_WAL', env.SUPERSET_SQLITE_WAL, ['1', '0'] as const) === '1',
    sqlitePool: oneOf('SUPERSET_SQLITE_POOL', env.SUPERSET_SQLITE_POOL, ['1', '0'] as const) === '1',
    duckdbPool: oneOf('SUPERSET_DUCKDB_POOL', env.SUPERSET_DUCKDB_POOL, ['1', '0'] as const) === '1',
    chartAnimation: oneOf('SUPERSET_CHART_ANIMATION', env.SUPERSET_CHART_ANIMATION, ['0', '1'] as const) === '1',
  };
}

function supersetEnv(metadataDb: string, secretKey: string): NodeJS.ProcessEnv {
  const server = supersetServerSettings();
  return {
    ...process.env,
    PEP_SUPERSET_CACHE_TIMEOUT: String(server.cacheTimeoutS),
    PEP_SUPERSET_COMPRESSED_ASSETS_MB: String(server.compressedAssetsMb),
    PEP_SUPERSET_CACHE_DIR: join(STATE, 'cache'),
    PEP_SUPERSET_EVENT_LOG: server.eventLog,
    PEP_SUPERSET_SCHEMA_CACHE_S: String(server.schemaCacheS),
    PEP_SUPERSET_SQLITE_WAL: server.sqliteWal ? '1' : '0',
    PEP_SUPERSET_SQLITE_POOL: server.sqlitePool ? '1' : '0',
    PEP_SUPERSET_DUCKDB_POOL: server.duckdbPool ? '1' : '0',
    PEP_SUPERSET_CHART_ANIMATION: server.chartAnimation ? '1' : '0',
    PEP_SUPERSET_THREADS: String(server.threads),
    SUPERSET_CONFIG_PATH: CONFIG_FILE,
    PEP_SUPERSET_METADATA_DB: metadataDb,
    SUPERSET_SECRET_KEY: secretKey,
    FLASK_APP: 'superset',
    // Superset's CLI prints colour codes and a banner; keep the logs plain.
    NO_COLOR: '1',
    PYTHONUNBUFFERED: '1',
  };
}

/** `db upgrade` + `init` into a template metadata database, once per machine (the slow part of a first start). */
async function ensureTemplate(log: Logger): Promise<string> {
  const template = templateFile();
  if (existsSync(template)) return template;
  return withInstallLock(template, log, async () => {
    if (existsSync(template)) return template;
    const started = Date.now();
    const tmp = `${template}.part`;
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
    // Rollback-journal mode, not WAL: the template is one self-contained file. In WAL mode `superset init`'s writes
    // could stay in `<file>-wal` when the CLI exits without a checkpoint, and renaming the main file left them
    // behind: a template with 173 of the Admin role's permissions, whose admin logs in but gets 403 on every API
    // call (seen on a fresh machine; template v1).
    const env = { ...supersetEnv(tmp, randomBytes(32).toString('base64url')), PEP_SUPERSET_SQLITE_WAL: '0' };
    log('creating the metadata template (superset db upgrade + init, once per machine)');
    await runAsync(supersetBin(), ['db', 'upgrade'], { env, what: 'superset db upgrade', timeoutMs: STEP_TIMEOUT_MS });
    await runAsync(supersetBin(), ['init'], { env, what: 'superset init', timeoutMs: STEP_TIMEOUT_MS });
    if (existsSync(`${tmp}-wal`)) throw new Error(`superset init left ${tmp}-wal: the template would be incomplete`);
    renameSync(tmp, template);
    log(`metadata template ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return template;
  });
}

async function supersetCli(args: readonly string[], what: string, settings: SupersetSettings): Promise<string> {
  return runAsync(supersetBin(), args, {
    env: supersetEnv(METADATA_DB, settings.secretKey),
    what,
    timeoutMs: STEP_TIMEOUT_MS,
  });
}

/**
 * Whether the admin credentials log in through the REST API and may use it (the same calls @pep/dashboards makes
 * first: login, then the CSRF token): 'ok', 'login' (refused), or 'api' (logged in, but the API answers 403: the
 * metadata database lacks the Admin role's permissions).
 */
async function adminAccess(settings: SupersetSettings): Promise<'ok' | 'login' | 'api'> {
  const res = await fetch(`${settings.url}/api/v1/security/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      username: settings.adminUser,
      password: settings.adminPassword,
      provider: 'db',
      refresh: false,
    }),
    signal: AbortSignal.timeout(15_000),
  });
  if (!res.ok) {
    await res.arrayBuffer();
    return 'login';
  }
  const { access_token: token } = (await res.json()) as { access_token?: string };
  const csrf = await fetch(`${settings.url}/api/v1/security/csrf_token/`, {
    headers: { authorization: `Bearer ${token ?? ''}` },
    signal: AbortSignal.timeout(15_000),
  });
  await csrf.arrayBuffer();
  return csrf.ok ? 'ok' : 'api';
}

function apiRefused(settings: SupersetSettings): Error {
  return new Error(
    `the Superset admin ${settings.adminUser} logs in but its API calls are refused (403): the metadata database ${METADATA_DB} lacks the Admin role's permissions; stop Superset, delete that file and start again (it is made anew from the template)`,
  );
}

export const superset: Service = {
  name: 'superset',
  get address() {
    return supersetUrl();
  },
  // A cold first start makes the metadata template (up to ~90 s on a busy 2-core machine) before serving.
  startTimeoutMs: 300_000,

  async ensureInstalled(log: Logger) {
    await ensureVenv(SUPERSET_VENV, log);
  },

  async isHealthy() {
    try {
      const res = await fetch(`${supersetUrl()}/health`, { signal: AbortSignal.timeout(2000) });
      return res.ok && (await res.text()).trim() === 'OK';
    } catch {
      return false;
    }
  },

  async start(log: Logger) {
    const settings = supersetSettings();
    mkdirSync(STATE, { recursive: true });
    writeFileSync(CONFIG_FILE, CONFIG_PY);
    chmodSync(CONFIG_FILE, 0o644);
    if (!existsSync(METADATA_DB)) {
      const template = await ensureTemplate(log);
      for (const f of [`${METADATA_DB}-wal`, `${METADATA_DB}-shm`]) rmSync(f, { force: true });
      copyFileSync(template, `${METADATA_DB}.part`);
      renameSync(`${METADATA_DB}.part`, METADATA_DB);
      log(`metadata database ${METADATA_DB} (from the template)`);
    } else {
      // A metadata database from an older Superset: bring its schema up to date (a no-op when it is).
      await supersetCli(['db', 'upgrade'], 'superset db upgrade', settings);
    }
    // gunicorn (Superset's production server) rather than `superset run` (Flask's development server, one process):
    // two workers use both cores for chart queries and Superset's own Python work (measured in bench/dashboards).
    const server = supersetServerSettings();
    return startDetached({
      service: 'superset',
      command: gunicornBin(),
      args: [
        '--bind',
        `127.0.0.1:${settings.port}`,
        '--workers',
        String(server.workers),
        '--worker-class',
        'gthread',
        '--threads',
        String(server.threads),
        '--timeout',
        '120',
        '--graceful-timeout',
        '10',
        // Longer than a client's idle keep-alive (undici's is 4 s): with gunicorn's 2 s default the server closed idle
        // connections just as Node's fetch reused them ("fetch failed" in the provision test right after stack:up).
        '--keep-alive',
        '75',
        // gunicorn 27's control socket defaults to ~/.gunicorn/gunicorn.ctl, shared by every checkout on the machine.
        '--no-control-socket',
        '--limit-request-line',
        '0',
        '--access-logfile',
        '-',
        // gunicorn's combined format plus the server time of each request (ms): where a dashboard load's time goes.
        '--access-logformat',
        '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms',
        'superset.app:create_app()',
      ],
      env: supersetEnv(METADATA_DB, settings.secretKey),
      cwd: STATE,
    });
  },

  async provision(log: Logger) {
    const settings = supersetSettings();
    const access = await adminAccess(settings);
    if (access === 'ok') return;
    if (access === 'api') throw apiRefused(settings);
    log(`creating or updating the admin user ${settings.adminUser}`);
    const out = await supersetCli(
      [
        'fab',
        'create-admin',
        '--username',
        settings.adminUser,
        '--firstname',
        'Platform',
        '--lastname',
        'Admin',
        '--email',
        `${settings.adminUser}@localhost`,
        '--password',
        settings.adminPassword,
      ],
      'superset fab create-admin',
      settings,
    );
    // An existing user keeps its old password: the environment's password is the one that counts.
    if (/already exists/i.test(out)) {
      await supersetCli(
        ['fab', 'reset-password', '--username', settings.adminUser, '--password', settings.adminPassword],
        'superset fab reset-password',
        settings,
      );
    }
    const after = await adminAccess(settings);
    if (after === 'login') {
      throw new Error(`the Superset admin ${settings.adminUser} cannot log in after create-admin/reset-password`);
    }
    if (after === 'api') throw apiRefused(settings);
  },
};
