/**
 * Managed PostgreSQL, Redis and Temporal over TLS, with the settings of `@pep/contracts/managed`, against the real
 * servers: the stack's PostgreSQL (ssl=on, `localhost` certificate) with `sslmode=verify-full`, the stack's Redis TLS
 * port with an ACL user (`rediss://`), and the Temporal dev server behind a TLS terminator (node:tls, ALPN h2, client
 * certificates required: the dev server has no TLS of its own) reached by the SDK's Connection with TLS, mTLS and an API
 * key. Each also with what a user gets wrong: an untrusted CA, a host name the certificate does not name, a wrong
 * password: a clear error, quickly, never a hang.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { SERVICE_DEFAULTS } from '@pep/contracts';
import { checkDatabaseUrl, loadTemporalConnection, redisConnection, temporalConnection } from '@pep/contracts/managed';
import { Connection } from '@temporalio/client';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ensureLocalTls, LOCAL_REDIS_USER } from '../src/index.ts';
import { ensureServices } from './support.ts';

const tls = ensureLocalTls();
/** Another CA, which signed nothing the servers present: trusting it alone must fail. */
const foreignDir = mkdtempSync(join(tmpdir(), 'pep-foreign-ca-'));
const foreign = ensureLocalTls(foreignDir);
const { user, password, database, port: pgPort } = SERVICE_DEFAULTS.postgres;

after(() => rmSync(foreignDir, { recursive: true, force: true }));

async function elapsed<T>(work: Promise<T>): Promise<{ ms: number; error: Error | null }> {
  const t0 = Date.now();
  try {
    await work;
    return { ms: Date.now() - t0, error: null };
  } catch (err) {
    return { ms: Date.now() - t0, error: err as Error };
  }
}

describe('PostgreSQL with sslmode=verify-full', { timeout: 120_000 }, () => {
  before(() => ensureServices(['postgres']));
  const url = (host: string, ca: string) =>
    `postgres://${user}:${password}@${host}:${pgPort}/${database}?sslmode=verify-full&sslrootcert=${ca}`;

  async function query(connectionString: string): Promise<{ ssl: boolean; version: string | null }> {
    const client = new pg.Client({
      connectionString: checkDatabaseUrl(connectionString),
      connectionTimeoutMillis: 5000,
    });
    await client.connect();
    try {
      const r = await client.query('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      return r.rows[0];
    } finally {
      await client.end();
    }
  }

  test('connects over TLS with the CA and the host name checked', async () => {
    const row = await query(url('localhost', tls.ca));
    assert.equal(row.ssl, true);
    assert.match(String(row.version), /^TLSv1\.[23]$/);
  });

  test('an untrusted CA and a host name the certificate does not name are refused quickly', async () => {
    const untrusted = await elapsed(query(url('localhost', foreign.ca)));
    assert.match(String(untrusted.error?.message), /self[- ]signed|unable to verify|certificate/i);
    assert.ok(untrusted.ms < 5000, `${untrusted.ms} ms`);
    const wrongHost = await elapsed(query(url('127.0.0.1', tls.ca)));
    assert.match(String(wrongHost.error?.message), /does not match|altnames|IP: 127\.0\.0\.1/i);
    assert.ok(wrongHost.ms < 5000, `${wrongHost.ms} ms`);
  });

  test('a missing sslrootcert or an unknown sslmode is a configuration error naming DATABASE_URL, without the password', () => {
    assert.throws(
      () => checkDatabaseUrl(url('localhost', '/nonexistent/ca.pem')),
      (err: Error) =>
        /DATABASE_URL sslrootcert=\/nonexistent\/ca\.pem: cannot read it/.test(err.message) &&
        !err.message.includes(password),
    );
    assert.throws(() => checkDatabaseUrl(`postgres://u:secret@h/db?sslmode=verify-fulll`), /sslmode must be one of/);
  });
});

describe('Redis over TLS with an ACL user', { timeout: 120_000 }, () => {
  before(() => ensureServices(['redis']));
  const { tlsPort } = SERVICE_DEFAULTS.redis;
  const env = (host: string, ca: string, pass: string = LOCAL_REDIS_USER.password) => ({
    REDIS_URL: `rediss://${LOCAL_REDIS_USER.username}:${pass}@${host}:${tlsPort}/0`,
    REDIS_TLS_CA_FILE: ca,
  });

  async function whoami(e: Record<string, string>): Promise<string> {
    const { url, options } = redisConnection(e);
    const redis = new Redis(url, {
      ...options,
      lazyConnect: true,
      connectTimeout: 5000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    // A refused AUTH reaches the 'error' event (what the services log); connect() itself only says the connection closed.
    let cause: Error | null = null;
    redis.on('error', (err: Error) => {
      cause = err;
    });
    try {
      await redis.connect();
      return String(await redis.call('ACL', 'WHOAMI'));
    } catch (err) {
      throw cause ?? err;
    } finally {
      redis.disconnect();
    }
  }

  test('connects over TLS as the ACL user', async () => {
    assert.equal(await whoami(env('localhost', tls.ca)), LOCAL_REDIS_USER.username);
  });

  test('a wrong password, an untrusted CA and a wrong host name are refused quickly', async () => {
    const wrongPass = await elapsed(whoami(env('localhost', tls.ca, 'not-the-password')));
    assert.match(String(wrongPass.error?.message), /WRONGPASS/);
    const untrusted = await elapsed(whoami(env('localhost', foreign.ca)));
    assert.match(String(untrusted.error?.message), /self[- ]signed|unable to verify|certificate/i);
    const wrongHost = await elapsed(whoami(env('127.0.0.1', tls.ca)));
    assert.match(String(wrongHost.error?.message), /does not match|altnames|IP: 127\.0\.0\.1/i);
    for (const r of [wrongPass, untrusted, wrongHost]) assert.ok(r.ms < 5000, `${r.ms} ms`);
  });

  test('REDIS_TLS_CA_FILE with a plaintext redis:// URL is a configuration error', () => {
    assert.throws(
      () => redisConnection({ REDIS_URL: 'redis://localhost:6379', REDIS_TLS_CA_FILE: tls.ca }),
      /REDIS_TLS_CA_FILE is set but REDIS_URL is redis:\/\//,
    );
  });
});

describe('Temporal over TLS and mTLS (the SDK client through a TLS terminator)', { timeout: 120_000 }, () => {
  let terminator: TlsServer;
  let address = '';
  /** Client certificates the terminator saw (mTLS): the CN of each. */
  const peers: string[] = [];

  before(async () => {
    await ensureServices(['temporal']);
    const { host, port } = SERVICE_DEFAULTS.temporal;
    terminator = createTlsServer(
      {
        cert: readFileSync(tls.serverCert),
        key: readFileSync(tls.serverKey),
        ca: readFileSync(tls.ca),
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
      },
      (socket) => {
        const cn = socket.getPeerCertificate()?.subject?.CN;
        if (cn) peers.push(String(cn));
        const upstream = netConnect(port, host);
        socket.pipe(upstream).pipe(socket);
        const end = () => {
          socket.destroy();
          upstream.destroy();
        };
        socket.on('error', end);
        upstream.on('error', end);
      },
    );
    await new Promise<void>((r) => terminator.listen(0, '127.0.0.1', r));
    const a = terminator.address();
    address = `localhost:${typeof a === 'object' && a ? a.port : 0}`;
  });

  after(() => terminator?.close());

  const env = (extra: Record<string, string>) => ({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TLS_CA_FILE: tls.ca,
    TEMPORAL_TLS_CERT_FILE: tls.clientCert,
    TEMPORAL_TLS_KEY_FILE: tls.clientKey,
    ...extra,
  });

  /** `connectTimeout`: generous for the connection that must work (a loaded machine), short for the refused ones. */
  async function systemInfo(e: Record<string, string>, connectTimeout = '3 seconds'): Promise<string> {
    const cfg = loadTemporalConnection(e);
    const connection = await Connection.connect({ ...temporalConnection(cfg), connectTimeout });
    try {
      const info = await connection.workflowService.getSystemInfo({});
      return String(info.serverVersion);
    } finally {
      await connection.close();
    }
  }

  test('mTLS with the CA, the client certificate and an API key reaches the server', async () => {
    peers.length = 0;
    const version = await systemInfo(env({ TEMPORAL_API_KEY: 'local-test-key' }), '30 seconds');
    assert.match(version, /^\d+\.\d+/);
    assert.ok(peers.includes('pep-client'), `the terminator saw the client certificate (${peers.join(', ')})`);
  });

  test('an untrusted CA, a wrong host name and a missing client certificate fail quickly', async () => {
    const untrusted = await elapsed(systemInfo(env({ TEMPORAL_TLS_CA_FILE: foreign.ca })));
    const wrongHost = await elapsed(systemInfo(env({ TEMPORAL_ADDRESS: address.replace('localhost', '127.0.0.1') })));
    const noCert = await elapsed(
      systemInfo({ TEMPORAL_ADDRESS: address, TEMPORAL_TLS: 'true', TEMPORAL_TLS_CA_FILE: tls.ca }),
    );
    for (const [what, r] of Object.entries({ untrusted, wrongHost, noCert })) {
      assert.ok(r.error, `${what}: refused`);
      console.log(`# ${what}: ${r.ms} ms: ${r.error.message.split('\n')[0]}`);
      assert.ok(r.ms < 10_000, `${what}: ${r.ms} ms`);
    }
  });
});
