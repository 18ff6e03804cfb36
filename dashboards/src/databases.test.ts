import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { rison } from './client.ts';
import {
  DATABASE_UUIDS,
  databaseEnvironment,
  duckdbTarget,
  MASKED_PASSWORD,
  platformDatabases,
  postgresTarget,
  trinoTarget,
} from './databases.ts';

describe('database targets', () => {
  test('PostgreSQL: psycopg2 URI with the password masked and kept apart, read-only sessions', () => {
    const t = postgresTarget('postgres://payments:p%40ss@db.local:6543/payments');
    assert.equal(t.key, 'operations');
    assert.equal(t.uuid, DATABASE_UUIDS.operations);
    assert.equal(t.password, 'p@ss');
    assert.equal(t.config.sqlalchemy_uri, `postgresql+psycopg2://payments:${MASKED_PASSWORD}@db.local:6543/payments`);
    const extra = t.config.extra as { engine_params: { connect_args: { options: string } } };
    assert.match(extra.engine_params.connect_args.options, /default_transaction_read_only=on/);
    assert.equal(t.config.allow_dml, false);
  });

  test('PostgreSQL: a URL that is not postgres:// is a clear error that does not echo it', () => {
    assert.throws(
      () => postgresTarget('mysql://u:topsecret@h/db'),
      (e: Error) => /postgres:\/\//.test(e.message) && !e.message.includes('topsecret'),
    );
    assert.throws(() => postgresTarget('not a url'), /not a valid postgres/);
  });

  test('DuckDB marts are opened read-only; Trino reads the iceberg catalog', () => {
    const d = duckdbTarget('/data/marts.duckdb');
    assert.equal(d.config.sqlalchemy_uri, 'duckdb:////data/marts.duckdb');
    assert.deepEqual((d.config.extra as { engine_params: unknown }).engine_params, {
      connect_args: { read_only: true },
    });
    assert.equal(d.password, undefined);
    const t = trinoTarget('http://127.0.0.1:8085', 'superset');
    assert.equal(t.config.sqlalchemy_uri, 'trino://superset@127.0.0.1:8085/iceberg');
    assert.equal(t.uuid, DATABASE_UUIDS.trino);
  });

  test('environment: DASHBOARDS_DATABASE_URL wins over DATABASE_URL; defaults are the local stack', () => {
    const d = databaseEnvironment({});
    assert.equal(d.databaseUrl, 'postgres://payments:payments@127.0.0.1:5432/payments');
    assert.equal(d.trinoUrl, 'http://127.0.0.1:8085');
    assert.match(d.martsPath, /dbt\/marts\.duckdb$/);
    const e = databaseEnvironment({ DATABASE_URL: 'postgres://a@h/x', DASHBOARDS_DATABASE_URL: 'postgres://ro@h/x' });
    assert.equal(e.databaseUrl, 'postgres://ro@h/x');
  });
});

describe('Trino is registered only when it runs', () => {
  /** A stand-in for Trino's coordinator answering GET /v1/info (unit test of the code around Trino). */
  async function infoServer(info: unknown): Promise<{ url: string; server: Server }> {
    const server = createServer((req, res) => {
      res.writeHead(req.url === '/v1/info' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(info));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
  }

  test('nothing listening, or a coordinator still starting: PostgreSQL and the marts only', async () => {
    const closed = await infoServer({});
    closed.server.close();
    assert.deepEqual(
      (await platformDatabases({ TRINO_URL: closed.url })).map((d) => d.key),
      ['operations', 'marts'],
    );
    const starting = await infoServer({ starting: true });
    try {
      assert.deepEqual(
        (await platformDatabases({ TRINO_URL: starting.url })).map((d) => d.key),
        ['operations', 'marts'],
      );
    } finally {
      starting.server.close();
    }
  });

  test('a coordinator that has started: Trino too, at TRINO_URL', async () => {
    const up = await infoServer({ starting: false, nodeVersion: { version: '476' } });
    try {
      const dbs = await platformDatabases({ TRINO_URL: up.url, TRINO_USER: 'dash' });
      assert.deepEqual(
        dbs.map((d) => d.key),
        ['operations', 'marts', 'trino'],
      );
      assert.equal(dbs[2]?.config.sqlalchemy_uri, `trino://dash@${new URL(up.url).host}/iceberg`);
    } finally {
      up.server.close();
    }
  });
});

describe('rison', () => {
  test('encodes what the list and export endpoints take', () => {
    assert.equal(rison([1, 2, 3]), '!(1,2,3)');
    assert.equal(
      rison({ columns: ['id', 'uuid'], page: 0, page_size: 100 }),
      '(columns:!(id,uuid),page:0,page_size:100)',
    );
    assert.equal(rison("it's!"), "'it!'s!!'");
    assert.equal(rison(true), '!t');
  });
});
