/**
 * Shared installers for tools the stack and the analytical packages need from the registries this machine reaches:
 * project-local Python virtualenvs from PyPI and single artifacts from Maven Central, both kept in the machine cache
 * (`PEP_CACHE_DIR`) so that a fresh clone on a warm machine does not download again.
 *
 * Both are safe when several processes install the same thing at once (a lock directory per target) and never leave
 * a half-installed target behind that a later run would take for a complete one (a completion marker for venvs,
 * download to a temporary file and rename for artifacts). Not for npm packages (bootstrap.mjs) or Debian packages
 * (prereq.ts).
 */
import { createHash } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { CACHE_DIR } from './paths.ts';
import { commandExists, run, runAsync } from './process.ts';
import type { Logger } from './service.ts';

/** How long a process waits for another one's install of the same target before it gives up. */
const LOCK_WAIT_MS = 30 * 60_000;
/** A lock older than this is from a process that died mid-install. */
const STALE_LOCK_MS = 45 * 60_000;

/** Runs `install` while holding a lock directory beside `target`; waits while another process holds it. */
export async function withInstallLock<T>(target: string, log: Logger, install: () => Promise<T>): Promise<T> {
  const lock = `${target}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) {
          rmSync(lock, { recursive: true, force: true });
          continue;
        }
      } catch {
        continue;
      }
      if (Date.now() > deadline) throw new Error(`gave up waiting for another install of ${target} (lock ${lock})`);
      if (!announced) log(`waiting for another process installing ${target}`);
      announced = true;
      await sleep(1000);
    }
  }
  try {
    return await install();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface VenvSpec {
  /** Short name of the environment, e.g. `mlflow`; the folder is `<cache>/venvs/<name>-<hash of requirements>`. */
  readonly name: string;
  /** Requirement strings with exact pins (`mlflow==3.17.2`). */
  readonly requirements: readonly string[];
  /** Extra environment for the installer (uv; e.g. `UV_CONSTRAINT`). */
  readonly env?: NodeJS.ProcessEnv;
  /** Upper bound for the install (default 20 minutes). */
  readonly timeoutMs?: number;
}

/** Folder of the virtualenv for `spec` (it may not exist yet). */
export function venvDir(spec: VenvSpec): string {
  const hash = createHash('sha256').update(spec.requirements.join('\n')).digest('hex').slice(0, 12);
  return join(CACHE_DIR, 'venvs', `${spec.name}-${hash}`);
}

/** uv (Astral's installer, from PyPI) resolves, downloads and installs in parallel: the MLflow virtualenv took
 * 1447 s with pip on a cold cache and 50 s with uv on the same machine at the same time. */
export const UV_VERSION = '0.13.8';

/** The completion marker of an install folder. */
const installed = (dir: string) => join(dir, '.pep-complete');

/**
 * Runs `install` into `dir` once per machine: skipped when `dir` holds the completion marker, else under the install
 * lock, into an emptied `dir`, with the marker (holding `contents`) written only after `install` succeeded, so a
 * half-made folder is never taken for a complete one.
 */
async function installOnce(dir: string, contents: string, log: Logger, install: () => Promise<void>): Promise<void> {
  const marker = installed(dir);
  if (existsSync(marker)) return;
  await withInstallLock(dir, log, async () => {
    if (existsSync(marker)) return;
    rmSync(dir, { recursive: true, force: true });
    await install();
    writeFileSync(marker, contents);
  });
}

/** uv itself, once per machine: one wheel into its own virtualenv with pip. Returns the `uv` command. */
async function ensureUv(log: Logger): Promise<string> {
  const dir = join(CACHE_DIR, `uv-${UV_VERSION}`);
  await installOnce(dir, `uv==${UV_VERSION}\n`, log, async () => {
    if (!commandExists('python3')) {
      throw new Error(
        'the Python tools come from PyPI: install Python 3 with venv (`apt-get install -y python3-venv`).',
      );
    }
    log(`installing uv ${UV_VERSION} (the Python package installer) into ${dir} (once per machine)`);
    await runAsync('python3', ['-m', 'venv', dir], { what: 'creating the uv virtualenv (needs python3-venv)' });
    await runAsync(
      join(dir, 'bin', 'pip'),
      ['install', '-q', '--disable-pip-version-check', '--no-input', `uv==${UV_VERSION}`],
      { what: 'pip install uv', timeoutMs: 10 * 60_000 },
    );
  });
  return join(dir, 'bin', 'uv');
}

/**
 * Creates (once per machine) a virtualenv with exactly `spec.requirements` and returns its folder; `<dir>/bin/<tool>`
 * are its commands. A changed requirement list is a new folder, so an upgrade never mixes with an old install.
 * Installed with uv (downloads cached in `<cache>/uv-cache`, bytecode compiled at install so that a tool's first
 * start does not compile it) on the machine's python3; uv never downloads an interpreter.
 */
export async function ensureVenv(spec: VenvSpec, log: Logger): Promise<string> {
  const dir = venvDir(spec);
  if (existsSync(installed(dir))) return dir; // before ensureUv: a complete virtualenv needs no uv
  const uv = await ensureUv(log);
  await installOnce(dir, `${spec.requirements.join('\n')}\n`, log, async () => {
    const started = Date.now();
    log(`installing ${spec.requirements.join(' ')} into ${dir} (once per machine)`);
    const env = {
      ...process.env,
      UV_CACHE_DIR: join(CACHE_DIR, 'uv-cache'),
      UV_PYTHON_DOWNLOADS: 'never',
      UV_NO_PROGRESS: '1',
      ...spec.env,
    };
    await runAsync(uv, ['venv', '-q', '--seed', '--python', 'python3', dir], {
      what: `creating the ${spec.name} virtualenv`,
      env,
    });
    await runAsync(
      uv,
      ['pip', 'install', '-q', '--compile-bytecode', '--python', join(dir, 'bin', 'python'), ...spec.requirements],
      { what: `uv pip install for ${spec.name}`, env, timeoutMs: spec.timeoutMs ?? 20 * 60_000 },
    );
    log(`${spec.name} virtualenv ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  });
  return dir;
}

export interface MavenArtifact {
  readonly groupId: string;
  readonly artifactId: string;
  readonly version: string;
  /** File extension: `jar`, `tar.gz`, `zip`. */
  readonly extension: string;
  readonly classifier?: string;
}

function mavenRepo(): string {
  return process.env.PEP_MAVEN_REPO ?? 'https://repo.maven.apache.org/maven2';
}

export function mavenFileName(a: MavenArtifact): string {
  return `${a.artifactId}-${a.version}${a.classifier ? `-${a.classifier}` : ''}.${a.extension}`;
}

export function mavenUrl(a: MavenArtifact): string {
  return `${mavenRepo()}/${a.groupId.replaceAll('.', '/')}/${a.artifactId}/${a.version}/${mavenFileName(a)}`;
}

/**
 * Downloads one Maven Central artifact into `<cache>/maven/` (once per machine), checks it against the repository's
 * SHA-1 file and returns its path. Progress is logged every 10 %, since some artifacts (Trino) are close to 1 GB.
 */
export async function ensureMavenArtifact(a: MavenArtifact, log: Logger): Promise<string> {
  const file = join(CACHE_DIR, 'maven', a.groupId, mavenFileName(a));
  if (existsSync(file)) return file;
  return withInstallLock(file, log, async () => {
    if (existsSync(file)) return file;
    const url = mavenUrl(a);
    const shaRes = await fetch(`${url}.sha1`);
    if (!shaRes.ok) throw new Error(`Maven Central has no ${url}.sha1 (HTTP ${shaRes.status})`);
    const expectedSha1 = (await shaRes.text()).trim().split(/\s+/)[0]?.toLowerCase();
    const res = await fetch(url);
    if (!res.ok || !res.body) throw new Error(`downloading ${url} failed (HTTP ${res.status})`);
    const total = Number(res.headers.get('content-length') ?? 0);
    log(`downloading ${url}${total ? ` (${(total / 2 ** 20).toFixed(0)} MiB)` : ''}`);
    const tmp = `${file}.part`;
    mkdirSync(dirname(file), { recursive: true });
    const hash = createHash('sha1');
    let received = 0;
    let nextReport = 0.1;
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      received += chunk.length;
      if (total && received / total >= nextReport) {
        log(`  ${mavenFileName(a)}: ${Math.floor((received / total) * 100)} %`);
        nextReport += 0.1;
      }
    });
    await pipeline(body, createWriteStream(tmp));
    const actual = hash.digest('hex');
    if (expectedSha1 && actual !== expectedSha1) {
      rmSync(tmp, { force: true });
      throw new Error(`${url}: SHA-1 ${actual} does not match the repository's ${expectedSha1}`);
    }
    renameSync(tmp, file);
    return file;
  });
}

export interface GoToolSpec {
  /** Short name; the binary lands in `<cache>/go-tools/<name>-<version>/<binary>`. */
  readonly name: string;
  /** `go install` package path at an exact version, e.g. `helm.sh/helm/v4/cmd/helm@v4.3.2`. */
  readonly pkg: string;
  readonly binary: string;
  /** Upper bound for the build (default 30 minutes: the first build compiles every dependency). */
  readonly timeoutMs?: number;
}

function goEnv(): NodeJS.ProcessEnv {
  if (!commandExists('go'))
    throw new Error('Go tools are built from the Go module proxy: install Go (golang-go) first.');
  // Modules and build cache stay in Go's own per-user caches, shared with every other Go build on the machine.
  return { ...process.env, GOFLAGS: '-buildvcs=false', CGO_ENABLED: '0' };
}

/**
 * Builds (once per machine) a Go command from the Go module proxy with `go install <pkg>@<version>` and returns the
 * binary's path. The version is part of the folder name, so a new version is a new folder.
 */
export async function ensureGoInstall(spec: GoToolSpec, log: Logger): Promise<string> {
  const version = spec.pkg.slice(spec.pkg.lastIndexOf('@') + 1);
  if (!version || !spec.pkg.includes('@')) throw new Error(`${spec.pkg}: name an exact version (pkg@vX.Y.Z)`);
  const dir = join(CACHE_DIR, 'go-tools', `${spec.name}-${version}`);
  const bin = join(dir, spec.binary);
  if (existsSync(bin)) return bin;
  return withInstallLock(dir, log, async () => {
    if (existsSync(bin)) return bin;
    const started = Date.now();
    log(`building ${spec.pkg} from the Go module proxy (once per machine)`);
    const tmp = `${dir}.part`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    run('go', ['install', spec.pkg], {
      what: `go install ${spec.pkg}`,
      env: { ...goEnv(), GOBIN: tmp },
      timeoutMs: spec.timeoutMs ?? 30 * 60_000,
    });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    log(`${spec.name} ${version} built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return bin;
  });
}

/**
 * Builds (once per machine and source version) a Go command kept in this repository (its own go.mod, dependencies
 * from the Go module proxy) and returns the binary's path; the folder is named by a hash of the module's files.
 */
export async function ensureGoBuild(
  spec: { readonly name: string; readonly moduleDir: string; readonly files: readonly string[] },
  log: Logger,
): Promise<string> {
  const hash = createHash('sha256');
  for (const f of spec.files)
    hash
      .update(f)
      .update('\0')
      .update(readFileSync(join(spec.moduleDir, f)));
  const dir = join(CACHE_DIR, 'go-tools', `${spec.name}-${hash.digest('hex').slice(0, 12)}`);
  const bin = join(dir, spec.name);
  if (existsSync(bin)) return bin;
  return withInstallLock(dir, log, async () => {
    if (existsSync(bin)) return bin;
    const started = Date.now();
    log(`building ${spec.name} from ${spec.moduleDir} (once per machine and version)`);
    mkdirSync(dir, { recursive: true });
    run('go', ['build', '-o', `${bin}.part`, '.'], {
      what: `go build ${spec.name}`,
      cwd: spec.moduleDir,
      env: goEnv(),
      timeoutMs: 30 * 60_000,
    });
    renameSync(`${bin}.part`, bin);
    log(`${spec.name} built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return bin;
  });
}
