/**
 * Superset in the local stack: healthy at SUPERSET_URL, the admin credentials from the environment (or the generated
 * local default) log in and a wrong password does not, the secrets stay out of the files the stack writes, and a
 * generated default is refused with NODE_ENV=production, naming the variable but never a value.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError } from '@pep/contracts/env';
import { supersetServerSettings, supersetSettings } from '../src/index.ts';
import { logFile, serviceStateDir } from '../src/paths.ts';
import { ensureServices } from './support.ts';

async function login(url: string, username: string, password: string): Promise<number> {
  const res = await fetch(`${url}/api/v1/security/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password, provider: 'db', refresh: false }),
    signal: AbortSignal.timeout(30_000),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('superset settings', () => {
  test('production refuses the generated defaults, naming the variables and no value', () => {
    const local = supersetSettings({});
    assert.deepEqual(local.generatedDefaults, ['SUPERSET_ADMIN_PASSWORD', 'SUPERSET_SECRET_KEY']);
    assert.throws(
      () => supersetSettings({ NODE_ENV: 'production', SUPERSET_SECRET_KEY: 'k'.repeat(40) }),
      (err: Error) =>
        err instanceof ConfigError &&
        err.message.includes('SUPERSET_ADMIN_PASSWORD') &&
        !err.message.includes('SUPERSET_SECRET_KEY') &&
        !err.message.includes(local.adminPassword),
    );
    assert.throws(
      () => supersetSettings({ NODE_ENV: 'production' }),
      /SUPERSET_ADMIN_PASSWORD and SUPERSET_SECRET_KEY/,
    );
    const prod = supersetSettings({
      NODE_ENV: 'production',
      SUPERSET_ADMIN_PASSWORD: 'a-real-password',
      SUPERSET_SECRET_KEY: 's'.repeat(48),
      SUPERSET_URL: 'https://bi.example.com/',
    });
    assert.deepEqual(prod.generatedDefaults, []);
    assert.equal(prod.url, 'https://bi.example.com');
    assert.equal(prod.port, 443);
  });

  test('the generated local default is stable for the checkout; a short secret key or a bad URL is refused', () => {
    assert.equal(supersetSettings({}).adminPassword, supersetSettings({}).adminPassword);
    assert.ok(supersetSettings({}).adminPassword.length >= 16);
    assert.throws(() => supersetSettings({ SUPERSET_SECRET_KEY: 'short' }), /at least 32/);
    assert.throws(() => supersetSettings({ SUPERSET_URL: 'ftp://x' }), /SUPERSET_URL must be an http/);
  });

  test('gunicorn workers, threads and the cache timeout: defaults, overrides, bad values refused by name', () => {
    assert.deepEqual(supersetServerSettings({}), {
      workers: 2,
      threads: 4,
      cacheTimeoutS: 300,
      compressedAssetsMb: 64,
      eventLog: 'background',
      schemaCacheS: 300,
      sqliteWal: true,
      sqlitePool: true,
      duckdbPool: true,
      chartAnimation: false,
    });
    assert.deepEqual(
      supersetServerSettings({
        SUPERSET_WORKERS: '1',
        SUPERSET_THREADS: '8',
        SUPERSET_CACHE_TIMEOUT_S: '0',
        SUPERSET_COMPRESSED_ASSETS_MB: '0',
        SUPERSET_EVENT_LOG: 'db',
        SUPERSET_SCHEMA_CACHE_S: '0',
        SUPERSET_SQLITE_WAL: '0',
        SUPERSET_SQLITE_POOL: '0',
        SUPERSET_DUCKDB_POOL: '0',
        SUPERSET_CHART_ANIMATION: '1',
      }),
      {
        workers: 1,
        threads: 8,
        cacheTimeoutS: 0,
        compressedAssetsMb: 0,
        eventLog: 'db',
        schemaCacheS: 0,
        sqliteWal: false,
        sqlitePool: false,
        duckdbPool: false,
        chartAnimation: true,
      },
    );
    assert.throws(
      () => supersetServerSettings({ SUPERSET_EVENT_LOG: 'file' }),
      /SUPERSET_EVENT_LOG must be one of background, db, stdout, got "file"/,
    );
    assert.throws(() => supersetServerSettings({ SUPERSET_SQLITE_WAL: 'yes' }), /SUPERSET_SQLITE_WAL must be one of/);
    assert.throws(
      () => supersetServerSettings({ SUPERSET_CHART_ANIMATION: 'off' }),
      /SUPERSET_CHART_ANIMATION must be one of 0, 1/,
    );
    assert.throws(() => supersetServerSettings({ SUPERSET_WORKERS: '0' }), /SUPERSET_WORKERS must be an integer/);
    assert.throws(() => supersetServerSettings({ SUPERSET_CACHE_TIMEOUT_S: '1.5' }), /SUPERSET_CACHE_TIMEOUT_S/);
    assert.throws(
      () => supersetServerSettings({ SUPERSET_COMPRESSED_ASSETS_MB: '-1' }),
      /SUPERSET_COMPRESSED_ASSETS_MB must be an integer/,
    );
  });
});

describe('superset service', { timeout: 900_000 }, () => {
  test('answers /health, lets the admin in and refuses a wrong password', async () => {
    await ensureServices(['superset']);
    const s = supersetSettings();
    const health = await fetch(`${s.url}/health`);
    assert.equal((await health.text()).trim(), 'OK');
    assert.equal(await login(s.url, s.adminUser, s.adminPassword), 200);
    assert.equal(await login(s.url, s.adminUser, `${s.adminPassword}-wrong`), 401);
  });

  test('keeps the secret key and the admin password out of its config file and its log', () => {
    const s = supersetSettings();
    const config = readFileSync(join(serviceStateDir('superset'), 'superset_config.py'), 'utf8');
    assert.ok(config.includes('SQLALCHEMY_DATABASE_URI'));
    assert.ok(!config.includes(s.secretKey) && !config.includes(s.adminPassword));
    const log = readFileSync(logFile('superset'), 'utf8');
    assert.ok(!log.includes(s.secretKey) && !log.includes(s.adminPassword), 'a secret is in the Superset log');
  });
});
