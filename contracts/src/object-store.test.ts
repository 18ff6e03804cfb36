import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from './env.ts';
import {
  dbtDuckdbS3Settings,
  describeObjectStore,
  duckdbS3Secret,
  icebergS3Properties,
  objectStoreConfig,
  trinoS3Properties,
} from './object-store.ts';

const local = {
  AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000/',
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'pep',
  AWS_SECRET_ACCESS_KEY: "se'cret",
};

test('an S3-compatible endpoint: path-style by default, every engine gets the same store', () => {
  const c = objectStoreConfig(local);
  assert.equal(c.endpoint, 'http://127.0.0.1:9000');
  assert.equal(c.pathStyle, true);
  assert.deepEqual(icebergS3Properties(c), {
    's3.region': 'eu-west-1',
    'client.region': 'eu-west-1',
    's3.path-style-access': 'true',
    's3.endpoint': 'http://127.0.0.1:9000',
    's3.access-key-id': 'pep',
    's3.secret-access-key': "se'cret",
  });
  assert.equal(trinoS3Properties(c)['s3.aws-secret-key'], "se'cret");
  assert.equal(
    duckdbS3Secret(c),
    "CREATE OR REPLACE SECRET pep_lake (TYPE s3, REGION 'eu-west-1', KEY_ID 'pep', SECRET 'se''cret', ENDPOINT '127.0.0.1:9000', USE_SSL false, URL_STYLE 'path')",
  );
  assert.deepEqual(dbtDuckdbS3Settings(c), {
    s3_region: 'eu-west-1',
    s3_url_style: 'path',
    s3_endpoint: '127.0.0.1:9000',
    s3_use_ssl: false,
    s3_access_key_id: 'pep',
    s3_secret_access_key: "se'cret",
  });
  assert.doesNotMatch(JSON.stringify(describeObjectStore(c)), /se'cret/);
});

test('AWS itself with an IAM role: no endpoint, virtual-hosted, the default credential chain', () => {
  const c = objectStoreConfig({ AWS_REGION: 'us-west-2' });
  assert.equal(c.endpoint, null);
  assert.equal(c.pathStyle, false);
  assert.equal(icebergS3Properties(c)['s3.endpoint'], undefined);
  assert.match(duckdbS3Secret(c), /PROVIDER credential_chain/);
  assert.match(duckdbS3Secret(c), /URL_STYLE 'vhost'/);
});

test('bad configuration is a clear error', () => {
  assert.throws(() => objectStoreConfig({ AWS_ENDPOINT_URL_S3: 'ftp://x' }), ConfigError);
  assert.throws(
    () => objectStoreConfig({ AWS_ENDPOINT_URL_S3: 'not a url' }),
    /AWS_ENDPOINT_URL_S3 must be an http\(s\) URL/,
  );
  assert.throws(() => objectStoreConfig({ AWS_ACCESS_KEY_ID: 'a' }), /must be set together/);
  assert.throws(() => objectStoreConfig({ LAKE_S3_PATH_STYLE: 'maybe' }), /LAKE_S3_PATH_STYLE/);
  assert.throws(() => duckdbS3Secret(objectStoreConfig({}), 'x; DROP'), ConfigError);
});
