#!/usr/bin/env node
/**
 * Rust checks of the lake workspace (crates/lake, kept out of the root cargo workspace; see crates/lake/Cargo.toml):
 * rustfmt, then `cargo test --release` in the machine-wide lake target directory, so the tests reuse the dependency
 * artifacts of the addon's release build instead of compiling the iceberg tree again in debug.
 *
 * `--clippy` runs `cargo clippy --release --all-targets -- -D warnings` instead of the tests (npm test's "clippy
 * (lake)" step, `npm run lint:rust:lake`). Its verdict is cached per source key (lake-key.mjs: sources, rustc,
 * platform, features) in `<cache>/lake-clippy/<key>.ok`, so an unchanged workspace is not checked again (the check
 * build of the whole tree takes minutes cold; cargo's own no-op is ~1 s, the cached verdict ~0.1 s). `--force`
 * checks even when cached. The features are the addon's (`PEP_LAKE_FEATURES`, default `s3`; its own key).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cache, crate, lakeFeatures, lakeSourceKey, lakeTarget } from './lake-key.mjs';

const env = { ...process.env, CARGO_TARGET_DIR: lakeTarget };
const clippy = process.argv.includes('--clippy');
const features = lakeFeatures();
const featureArgs = features.length > 0 ? ['--features', features.map((f) => `pep-lake-napi/${f}`).join(',')] : [];
const say = (m) => console.error(`test-lake: ${m}`);

function cargo(args) {
  say(`cargo ${args.join(' ')}`);
  const res = spawnSync('cargo', args, { cwd: crate, env, stdio: 'inherit' });
  if (res.status !== 0) process.exit(res.status ?? 1);
}

cargo(['fmt', '--all', '--check']);
if (!clippy) {
  cargo(['test', '--release', '-p', 'pep-lake']);
} else {
  const verdict = join(cache, 'lake-clippy', `${lakeSourceKey(features)}.ok`);
  if (existsSync(verdict) && !process.argv.includes('--force')) {
    say(`clippy is clean for this source (cached verdict ${verdict})`);
  } else {
    const started = Date.now();
    cargo(['clippy', '--release', '--workspace', '--all-targets', ...featureArgs, '--', '-D', 'warnings']);
    mkdirSync(join(cache, 'lake-clippy'), { recursive: true });
    writeFileSync(verdict, `${new Date().toISOString()}\n`);
    say(`clippy clean in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
}
