import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadLakeConfig } from './config.ts';
import { DUCKDB_REST_CATALOG, duckdbRestAttach } from './duckdb.ts';

const rest = {
  LAKE_CATALOG_TYPE: 'rest',
  LAKE_CATALOG_URI: 'https://catalog.example/api/catalog/',
  LAKE_WAREHOUSE: 's3://bucket/lake',
};

describe('DuckDB on the REST catalog (LAKE_CATALOG_TYPE=rest)', () => {
  test('attaches the catalog the writer uses, with an OAuth2 secret when a credential is set', () => {
    const sql = duckdbRestAttach(
      loadLakeConfig({ ...rest, LAKE_CATALOG_WAREHOUSE: "wh'1", LAKE_CATALOG_CREDENTIAL: "pep-client:s3'cret" }),
    );
    assert.equal(sql.length, 2);
    assert.equal(
      sql[0],
      `CREATE OR REPLACE SECRET ${DUCKDB_REST_CATALOG}_auth (TYPE iceberg, CLIENT_ID 'pep-client', ` +
        `CLIENT_SECRET 's3''cret', OAUTH2_SERVER_URI 'https://catalog.example/api/catalog/v1/oauth/tokens', ` +
        `OAUTH2_SCOPE 'catalog')`,
    );
    assert.equal(
      sql[1],
      `ATTACH 'wh''1' AS "${DUCKDB_REST_CATALOG}" (TYPE iceberg, ENDPOINT 'https://catalog.example/api/catalog', ` +
        `SECRET ${DUCKDB_REST_CATALOG}_auth)`,
    );
  });

  test('without a credential the catalog is attached without authorization; the SQL catalog has no ATTACH', () => {
    assert.deepEqual(duckdbRestAttach(loadLakeConfig(rest)), [
      `ATTACH '' AS "${DUCKDB_REST_CATALOG}" (TYPE iceberg, ENDPOINT 'https://catalog.example/api/catalog', AUTHORIZATION_TYPE 'none')`,
    ]);
    assert.throws(() => duckdbRestAttach(loadLakeConfig({ LAKE_WAREHOUSE: '/tmp' })), /not a REST catalog/);
  });
});
