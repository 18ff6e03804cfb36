/** LAKE_CATALOG_TYPE and the REST catalog's settings: defaults, the chart's names, and clear errors. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@pep/contracts/env';
import { describeLakeConfig, loadLakeConfig } from './config.ts';

const base = { LAKE_WAREHOUSE: '/tmp/pep-config-test-warehouse' };

describe('lake catalog configuration', () => {
  it('defaults to the SQL catalog, and reads the chart’s `jdbc` as the same thing', () => {
    for (const env of [base, { ...base, LAKE_CATALOG_TYPE: 'jdbc' }, { ...base, LAKE_CATALOG_TYPE: 'sql' }]) {
      const cfg = loadLakeConfig(env);
      assert.equal(cfg.catalogType, 'sql');
      assert.equal(cfg.rest, null);
    }
  });

  it('reads the REST catalog’s URI, warehouse and credential, and never describes the credential', () => {
    const cfg = loadLakeConfig({
      ...base,
      LAKE_CATALOG_TYPE: 'rest',
      LAKE_CATALOG_URI: 'https://polaris.example:8181/api/catalog/',
      LAKE_CATALOG_WAREHOUSE: 'pep',
      LAKE_CATALOG_CREDENTIAL: 'client-id:very-secret',
    });
    assert.equal(cfg.catalogType, 'rest');
    assert.deepEqual(cfg.rest, {
      uri: 'https://polaris.example:8181/api/catalog',
      warehouse: 'pep',
      credential: 'client-id:very-secret',
    });
    const described = JSON.stringify(describeLakeConfig(cfg));
    assert.ok(!described.includes('very-secret'), described);
    assert.match(described, /"catalogCredential":"set"/);
  });

  it('says what is wrong, never quoting the credential', () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ LAKE_CATALOG_TYPE: 'hive' }, /LAKE_CATALOG_TYPE must be one of sql, jdbc, rest/],
      [{ LAKE_CATALOG_TYPE: 'rest' }, /LAKE_CATALOG_TYPE=rest needs LAKE_CATALOG_URI/],
      [{ LAKE_CATALOG_TYPE: 'rest', LAKE_CATALOG_URI: 'thrift://h:9083' }, /http:\/\/ or https:\/\//],
      [{ LAKE_CATALOG_TYPE: 'rest', LAKE_CATALOG_URI: 'not a url' }, /http:\/\/ or https:\/\//],
      [{ LAKE_CATALOG_TYPE: 'rest', LAKE_CATALOG_URI: 'http://u:pw@h:8181' }, /must not carry credentials/],
      [
        { LAKE_CATALOG_TYPE: 'rest', LAKE_CATALOG_URI: 'http://h:8181', LAKE_CATALOG_CREDENTIAL: 'only-a-secret' },
        /<client id>:<secret>/,
      ],
      [{ LAKE_CATALOG_URI: 'http://h:8181' }, /LAKE_CATALOG_URI is only read with LAKE_CATALOG_TYPE=rest/],
      [{ LAKE_CATALOG_TYPE: 'rest', LAKE_CATALOG_URI: 'http://h:8181', LAKE_WAREHOUSE: '' }, /needs LAKE_WAREHOUSE/],
    ];
    for (const [env, message] of bad) {
      assert.throws(
        () => loadLakeConfig({ ...base, ...env }),
        (e: Error) => e instanceof ConfigError && message.test(e.message) && !e.message.includes('only-a-secret'),
        JSON.stringify(env),
      );
    }
  });
});
