#!/usr/bin/env node
/**
 * First step of `npm start`, `npm test` and `npm run stack:up` on any machine: checks the toolchain and installs
 * the npm dependencies when they are missing or older than the lock file. Plain Node, no dependencies, so it runs
 * before anything is installed. Services, jars and the Temporal virtualenv are installed by the stack itself.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const say = (m) => quiet || console.error(`bootstrap: ${m}`);

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 3)) {
  console.error(`bootstrap: Node.js >= 20.3 is required (found ${process.versions.node}).`);
  process.exit(1);
}
for (const [tool, hint] of [
  ['cargo', 'the Rust toolchain (https://rustup.rs, or `apt-get install -y cargo`)'],
  ['java', 'Java 17+ (`apt-get install -y openjdk-17-jre-headless`)'],
  ['python3', 'Python 3 with venv (`apt-get install -y python3-venv`)'],
]) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) {
    console.error(`bootstrap: ${tool} is missing: install ${hint}.`);
    process.exit(1);
  }
}

const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
const stale = !existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs;
if (stale) {
  const ci = Boolean(process.env.CI) || !existsSync(join(root, 'node_modules'));
  say(`installing npm dependencies (npm ${ci ? 'ci' : 'install'})`);
  const res = spawnSync('npm', [ci ? 'ci' : 'install', '--no-audit', '--no-fund'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    // onnxruntime-node would otherwise try to download CUDA files, which this network refuses.
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  if (res.status !== 0) {
    console.error('bootstrap: npm install failed (see above).');
    process.exit(res.status ?? 1);
  }
}
