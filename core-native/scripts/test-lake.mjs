#!/usr/bin/env node
/**
 * Rust checks of the lake workspace (crates/lake, kept out of the root cargo workspace; see crates/lake/Cargo.toml):
 * rustfmt, then `cargo test --release` in the machine-wide lake target directory, so the tests reuse the dependency
 * artifacts of the addon's release build instead of compiling the iceberg tree again in debug. `--clippy` runs
 * `cargo clippy --release --all-targets -D warnings` instead of the tests (a check build of the whole tree: minutes
 * when cold; run by `npm run lint:rust:lake`, not by `npm test`).
 */
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const crate = join(dirname(fileURLToPath(import.meta.url)), '..', 'crates', 'lake');
const cache = process.env.PEP_CACHE_DIR ?? join(homedir(), '.cache', 'payment-event-platform');
const env = { ...process.env, CARGO_TARGET_DIR: join(cache, 'cargo-lake', 'target') };
const steps = [['fmt', '--all', '--check']];
if (process.argv.includes('--clippy')) steps.push(['clippy', '--release', '--all-targets', '--', '-D', 'warnings']);
else steps.push(['test', '--release', '-p', 'pep-lake']);
for (const args of steps) {
  console.error(`test-lake: cargo ${args.join(' ')}`);
  const res = spawnSync('cargo', args, { cwd: crate, env, stdio: 'inherit' });
  if (res.status !== 0) process.exit(res.status ?? 1);
}
