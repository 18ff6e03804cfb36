/**
 * The stack's own contract: `stackUp()` is idempotent (a second call is fast and restarts nothing), and
 * `stack:status --json` prints one JSON object with every service healthy at its CONTRACT section 2 address.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SERVICE_DEFAULTS } from '@pep/contracts';
import { DEFAULT_SERVICE_NAMES, SERVICE_NAMES, stackStatus, stackUp } from '../src/index.ts';
import { pidFile, REPO_ROOT } from '../src/paths.ts';

const SECOND_UP_LIMIT_MS = 5000;
const { kafka, temporal, postgres, redis, superset } = SERVICE_DEFAULTS;
const EXPECTED_ADDRESSES = {
  kafka: `${kafka.host}:${kafka.port}`,
  temporal: `${temporal.host}:${temporal.port}`,
  postgres: `postgres://${postgres.user}@${postgres.host}:${postgres.port}/${postgres.database}`,
  redis: `redis://${redis.host}:${redis.port}`,
  superset: `http://${superset.host}:${superset.port}`,
} as const;

function readPidFiles(): Record<string, string | null> {
  return Object.fromEntries(
    SERVICE_NAMES.map((name) => {
      try {
        return [name, readFileSync(pidFile(name), 'utf8').trim()];
      } catch {
        return [name, null];
      }
    }),
  );
}

function runCli(
  command: string,
  args: readonly string[],
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function assertStatusJson(stdout: string): void {
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line of JSON on stdout, got:\n${stdout}`);
  const status = JSON.parse(lines[0] ?? '') as {
    healthy: boolean;
    services: Record<string, { name: string; state: string; address: string }>;
  };
  assert.equal(status.healthy, true);
  // Every service is listed; the default ones are healthy, an optional one (s3, iceberg-rest) healthy or stopped.
  assert.deepEqual(Object.keys(status.services).sort(), [...SERVICE_NAMES].sort());
  for (const name of SERVICE_NAMES) {
    const state = status.services[name]?.state;
    if ((DEFAULT_SERVICE_NAMES as readonly string[]).includes(name)) assert.equal(state, 'healthy', `${name} state`);
    else assert.ok(state === 'healthy' || state === 'stopped', `${name} state ${state}`);
  }
  for (const [name, address] of Object.entries(EXPECTED_ADDRESSES)) {
    assert.equal(status.services[name]?.name, name);
    assert.equal(status.services[name]?.address, address, `${name} address`);
  }
  assert.ok(!stdout.includes(`:${postgres.password}@`), 'the status output must not contain the database password');
}

describe('stack', { timeout: 600_000 }, () => {
  test('a second stackUp() is fast and changes nothing', async (t) => {
    const firstStarted = Date.now();
    const first = await stackUp();
    const firstMs = Date.now() - firstStarted;
    assert.ok(
      first.every((s) => s.state === 'healthy'),
      JSON.stringify(first),
    );
    const pidFilesBefore = readPidFiles();

    const secondStarted = Date.now();
    const second = await stackUp();
    const secondMs = Date.now() - secondStarted;
    t.diagnostic(`first stackUp() ${firstMs} ms, second ${secondMs} ms`);

    assert.ok(secondMs < SECOND_UP_LIMIT_MS, `second stackUp() took ${secondMs} ms (limit ${SECOND_UP_LIMIT_MS} ms)`);
    assert.deepEqual(
      second.map((s) => ({ name: s.name, state: s.state, pid: s.pid, managed: s.managed })),
      first.map((s) => ({ name: s.name, state: s.state, pid: s.pid, managed: s.managed })),
      'same services, same processes',
    );
    assert.deepEqual(readPidFiles(), pidFilesBefore, 'pid files unchanged');
    // stackStatus lists the optional services too; the ones stackUp started keep their processes.
    const now = await stackStatus();
    const started = new Set(first.map((s) => s.name));
    assert.deepEqual(
      now.filter((s) => started.has(s.name)).map((s) => s.pid),
      first.map((s) => s.pid),
    );
  });

  test('`status --json` prints one JSON object with every service healthy at its address', async () => {
    const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
    const { code, stdout, stderr } = await runCli(process.execPath, ['--import', 'tsx', cli, 'status', '--json']);
    assert.equal(code, 0, stderr);
    assertStatusJson(stdout);
  });

  test('`npm run -s stack:status -- --json` from the repo root prints the same single JSON object', async () => {
    // -s: without it npm prints its "> script" banner on stdout, which is not JSON.
    const { code, stdout, stderr } = await runCli('npm', ['run', '-s', 'stack:status', '--', '--json']);
    assert.equal(code, 0, stderr);
    assertStatusJson(stdout);
  });
});
