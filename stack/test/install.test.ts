/**
 * The shared installers: a Maven artifact is checked against its SHA-1 and never left half-written, concurrent
 * installs of one target run once. Served by a local HTTP server standing in for the repository (the code around
 * the download is under test, not Maven Central). A virtualenv is installed for real (uv, one small package from PyPI).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

const payload = Buffer.alloc(300_000, 7);
const sha1 = createHash('sha1').update(payload).digest('hex');
let requests = 0;
const server = createServer((req, res) => {
  requests++;
  if (req.url?.endsWith('/good/1.0/good-1.0.jar')) return void res.end(payload);
  if (req.url?.endsWith('/good/1.0/good-1.0.jar.sha1')) return void res.end(`${sha1}  good-1.0.jar\n`);
  if (req.url?.endsWith('/bad/1.0/bad-1.0.jar')) return void res.end(payload);
  if (req.url?.endsWith('/bad/1.0/bad-1.0.jar.sha1')) return void res.end('0'.repeat(40));
  res.statusCode = 404;
  res.end();
});

let install: typeof import('../src/install.ts');
/** The machine cache this run was started with (the test points PEP_CACHE_DIR at a temporary folder). */
const machineCacheDir = process.env.PEP_CACHE_DIR ?? join(homedir(), '.cache', 'payment-event-platform');
const cache = mkdtempSync(join(tmpdir(), 'pep-install-'));

before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.env.PEP_MAVEN_REPO = `http://127.0.0.1:${(server.address() as AddressInfo).port}/repo`;
  process.env.PEP_CACHE_DIR = cache;
  install = await import('../src/install.ts');
});
after(() => server.close());

const log = () => {};

test('downloads a Maven artifact once, verified by its SHA-1, even when asked concurrently', async () => {
  const a = { groupId: 'org.example', artifactId: 'good', version: '1.0', extension: 'jar' };
  const [p1, p2, p3] = await Promise.all([1, 2, 3].map(() => install.ensureMavenArtifact(a, log)));
  assert.equal(p1, p2);
  assert.equal(p2, p3);
  assert.ok(p1?.startsWith(cache));
  assert.deepEqual(readFileSync(p1 as string), payload);
  assert.equal(requests, 2, 'one .sha1 and one artifact request for three concurrent callers');
  await install.ensureMavenArtifact(a, log);
  assert.equal(requests, 2, 'a cached artifact is not downloaded again');
});

test('refuses an artifact whose SHA-1 does not match and leaves nothing behind', async () => {
  const a = { groupId: 'org.example', artifactId: 'bad', version: '1.0', extension: 'jar' };
  await assert.rejects(install.ensureMavenArtifact(a, log), /SHA-1 .* does not match/);
  const dir = join(cache, 'maven', 'org.example');
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('bad')),
    [],
  );
});

test('a missing artifact is a clear error naming its address', async () => {
  const a = { groupId: 'org.example', artifactId: 'absent', version: '9', extension: 'tar.gz' };
  await assert.rejects(
    install.ensureMavenArtifact(a, log),
    /no http:\/\/127\.0\.0\.1:\d+\/repo\/org\/example\/absent\/9\/absent-9\.tar\.gz\.sha1/,
  );
  assert.equal(existsSync(join(cache, 'maven', 'org.example', 'absent-9.tar.gz')), false);
});

test('a virtualenv folder is named by its requirements, so a changed pin is a new environment', () => {
  const a = install.venvDir({ name: 'tool', requirements: ['x==1'] });
  const b = install.venvDir({ name: 'tool', requirements: ['x==2'] });
  assert.notEqual(a, b);
  assert.match(a, /venvs\/tool-[0-9a-f]{12}$/);
});

test('a virtualenv is installed once with uv, even when asked concurrently, and its packages import', async () => {
  // The machine's uv (stack:up installed it) instead of a second download of it; the package itself comes from PyPI.
  const machineUv = join(machineCacheDir, `uv-${install.UV_VERSION}`);
  if (existsSync(join(machineUv, '.pep-complete'))) symlinkSync(machineUv, join(cache, `uv-${install.UV_VERSION}`));
  const spec = { name: 'tiny', requirements: ['six==1.17.0'] };
  const lines: string[] = [];
  const [a, b] = await Promise.all([
    install.ensureVenv(spec, (m) => lines.push(m)),
    install.ensureVenv(spec, (m) => lines.push(m)),
  ]);
  assert.equal(a, b);
  assert.equal(lines.filter((l) => l.startsWith('installing six')).length, 1, lines.join('\n'));
  assert.ok(existsSync(join(a, '.pep-complete')));
  const res = spawnSync(join(a, 'bin', 'python'), ['-c', 'import six; print(six.__version__)'], { encoding: 'utf8' });
  assert.equal(res.stdout.trim(), '1.17.0', res.stderr);
});
