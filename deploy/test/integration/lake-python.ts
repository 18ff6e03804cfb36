/**
 * The integration tests' Python side (lake_s3.py beside this file: pyiceberg, boto3, DuckDB from the lake clients'
 * virtualenvs): one command per process with a JSON request; its last stdout line is the JSON answer.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { ObjectStoreConfig } from '@pep/contracts/object-store';

export const LAKE_S3_HELPER = join(import.meta.dirname, 'lake_s3.py');

/** Runs `command` with `python`; throws with its stderr when it gives no JSON, and with the answer's `error`. */
export function lakePython<T>(python: string, command: string, request: unknown, env: NodeJS.ProcessEnv): T {
  const res = spawnSync(python, [LAKE_S3_HELPER, command, JSON.stringify(request)], {
    encoding: 'utf8',
    env,
    timeout: 180_000,
  });
  const out = (res.stdout ?? '').trim().split('\n').pop() ?? '';
  let parsed: { error?: string } & T;
  try {
    parsed = JSON.parse(out);
  } catch {
    throw new Error(`${command}: no JSON answer (exit ${res.status}): ${res.stderr?.slice(-2000)}`);
  }
  if (parsed.error) throw new Error(`${command}: ${parsed.error}`);
  return parsed;
}

/** The boto3 client settings lake_s3.py's `list` takes, for a store. */
export function s3ClientOf(store: ObjectStoreConfig): Record<string, string | null> {
  return {
    endpoint_url: store.endpoint,
    region_name: store.region,
    aws_access_key_id: store.accessKeyId,
    aws_secret_access_key: store.secretAccessKey,
  };
}
