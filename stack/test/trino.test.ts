import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SERVICE_DEFAULTS } from '@pep/contracts';
import { stackUp } from '../src/index.ts';
import { catalogJdbc, trino, trinoConfigFiles, trinoWarehouse } from '../src/services/trino.ts';

describe('trino', () => {
  it('is configured for the lake: JDBC catalog pep on the platform PostgreSQL, local files, bounded heap', () => {
    const files = trinoConfigFiles({ ...process.env, LAKE_WAREHOUSE: '/tmp/wh', TRINO_HEAP: '768M' });
    const catalog = files['catalog/iceberg.properties'] as string;
    assert.match(catalog, /^iceberg\.catalog\.type=jdbc$/m);
    assert.match(catalog, /^iceberg\.jdbc-catalog\.catalog-name=pep$/m);
    assert.match(catalog, /^iceberg\.jdbc-catalog\.connection-url=jdbc:postgresql:\/\/127\.0\.0\.1:5432\/payments$/m);
    assert.match(catalog, /^iceberg\.jdbc-catalog\.default-warehouse-dir=file:\/\/\/tmp\/wh$/m);
    assert.match(catalog, /^fs\.native-local\.enabled=true$/m);
    assert.match(files['jvm.config'] as string, /^-Xmx768M$/m);
    assert.match(
      files['config.properties'] as string,
      new RegExp(`^http-server.http.port=${SERVICE_DEFAULTS.trino.port}$`, 'm'),
    );
    assert.equal(catalogJdbc({ LAKE_CATALOG_URL: 'postgres://u:p%40ss@db:6543/cat' }).password, 'p@ss');
    assert.equal(trinoWarehouse({ LAKE_WAREHOUSE: 's3://bucket/lake' }), 's3://bucket/lake');
    const s3 = trinoConfigFiles({ LAKE_WAREHOUSE: 's3://b/l', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000' })[
      'catalog/iceberg.properties'
    ];
    assert.match(s3 as string, /^s3\.endpoint=http:\/\/127\.0\.0\.1:9000$/m);
  });

  it('follows the lake writer to a REST catalog (LAKE_CATALOG_TYPE=rest); the credential stays in the environment', () => {
    const env = {
      LAKE_CATALOG_TYPE: 'rest',
      LAKE_CATALOG_URI: 'https://catalog.example:8181/api/',
      LAKE_CATALOG_WAREHOUSE: 'lake',
      LAKE_CATALOG_CREDENTIAL: 'pep-client:s3cr3t',
      LAKE_WAREHOUSE: 's3://b/l',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
    };
    const catalog = trinoConfigFiles(env)['catalog/iceberg.properties'] as string;
    assert.match(catalog, /^iceberg\.catalog\.type=rest$/m);
    assert.match(catalog, /^iceberg\.rest-catalog\.uri=https:\/\/catalog\.example:8181\/api$/m);
    assert.match(catalog, /^iceberg\.rest-catalog\.warehouse=lake$/m);
    assert.match(catalog, /^iceberg\.rest-catalog\.security=OAUTH2$/m);
    assert.match(catalog, /^iceberg\.rest-catalog\.oauth2\.credential=\$\{ENV:LAKE_CATALOG_CREDENTIAL\}$/m);
    assert.match(catalog, /^s3\.endpoint=http:\/\/127\.0\.0\.1:9000$/m);
    assert.doesNotMatch(catalog, /jdbc|s3cr3t/);
    const open = trinoConfigFiles({ ...env, LAKE_CATALOG_CREDENTIAL: '' })['catalog/iceberg.properties'] as string;
    assert.doesNotMatch(open, /security|oauth2/);
  });

  it('is healthy after stack:up (GET /v1/info, starting=false)', async () => {
    await stackUp({ only: ['trino'] });
    assert.equal(await trino.isHealthy(), true);
  });
});
