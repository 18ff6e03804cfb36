/**
 * Optional local S3-compatible object store: moto's server mode (PyPI `moto[server]`, Apache-2.0; MinIO's server is
 * AGPL and is not shipped), in a project-local virtualenv. For tests of the lake on object storage (the writer,
 * pyiceberg, Trino, DuckDB and dbt configured by AWS_ENDPOINT_URL_S3 & co., contracts/src/object-store.ts).
 * Not started by a plain `stack:up`: `stack:up -- --with s3`, or `startService('s3')` from a test.
 *
 * Objects live in the server's memory: a restart of the server empties the store (fine for tests; the
 * bucket is created again at every start). Any access key is accepted.
 */
import { join } from 'node:path';
import { SERVICE_DEFAULTS } from '@pep/contracts';
import { ensureVenv, type VenvSpec, venvDir } from '../install.ts';
import { run, startDetached } from '../process.ts';
import type { Logger, Service } from '../service.ts';

const { host, port, region, bucket } = SERVICE_DEFAULTS.s3;

export const S3_SERVER_VENV: VenvSpec = { name: 's3-server', requirements: ['moto[server]==5.2.5'] };
export const S3_ENDPOINT = `http://${host}:${port}`;
/** Credentials the local store accepts (any pair would do); tests export them as AWS_ACCESS_KEY_ID/SECRET. */
export const S3_LOCAL_CREDENTIALS = Object.freeze({ accessKeyId: 'pep-local', secretAccessKey: 'pep-local-secret' });

/** Environment that points the lake's engines at the local store (contracts/src/object-store.ts reads it). */
export function localS3Env(): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: S3_ENDPOINT,
    AWS_REGION: region,
    LAKE_S3_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: S3_LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_LOCAL_CREDENTIALS.secretAccessKey,
  };
}

/** Python in the server's virtualenv (it has boto3, a dependency of moto): used to provision buckets. */
export function s3Python(): string {
  return join(venvDir(S3_SERVER_VENV), 'bin', 'python');
}

export const s3: Service = {
  name: 's3',
  address: S3_ENDPOINT,
  startTimeoutMs: 60_000,
  optional: true,

  async ensureInstalled(log: Logger) {
    await ensureVenv(S3_SERVER_VENV, log);
  },

  async isHealthy() {
    try {
      const res = await fetch(`${S3_ENDPOINT}/`, { signal: AbortSignal.timeout(2000) });
      return res.ok && (await res.text()).includes('ListAllMyBucketsResult');
    } catch {
      return false;
    }
  },

  async start() {
    return startDetached({
      service: 's3',
      command: join(venvDir(S3_SERVER_VENV), 'bin', 'moto_server'),
      args: ['-H', host, '-p', String(port)],
    });
  },

  async provision(log: Logger) {
    const script = [
      'import boto3, sys',
      `s3 = boto3.client("s3", endpoint_url=${JSON.stringify(S3_ENDPOINT)}, region_name=${JSON.stringify(region)},`,
      `    aws_access_key_id=${JSON.stringify(S3_LOCAL_CREDENTIALS.accessKeyId)},`,
      `    aws_secret_access_key=${JSON.stringify(S3_LOCAL_CREDENTIALS.secretAccessKey)})`,
      `names = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]`,
      `if ${JSON.stringify(bucket)} not in names: s3.create_bucket(Bucket=${JSON.stringify(bucket)}); print("created")`,
    ].join('\n');
    const out = run(s3Python(), ['-c', script], { what: `creating bucket ${bucket}`, timeoutMs: 60_000 });
    if (out.includes('created')) log(`bucket ${bucket} created`);
  },
};
