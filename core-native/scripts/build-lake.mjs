#!/usr/bin/env node
/**
 * Builds the lake addon (crates/lake/napi) in release mode, once per source version per machine.
 *
 * The key is a SHA-256 over every source file of crates/lake (Rust, Cargo.toml, Cargo.lock, build.rs, the napi
 * config), the rustc version and the platform. A finished build is kept in `<cache>/lake-addon/<key>/` (cache =
 * PEP_CACHE_DIR or ~/.cache/payment-event-platform) and copied to core-native/lake-addon/pep-lake.node; a changed
 * source is a new key, so a stale addon is never used. Cargo's own target directory (`<cache>/cargo-lake/target`) is
 * shared by all checkouts on the machine, so a source change recompiles the lake crates only, not the ~400
 * dependencies (the cold build takes minutes). Concurrent builds of one key wait for each other (a lock directory).
 *
 * The typings of the binding are the committed core-native/lake-binding.d.ts (plain cargo does not generate them; the
 * only caller is @pep/lakehouse's writer.ts, which the typecheck covers). `--force` rebuilds even when the key is cached. The addon has S3-compatible warehouse support by default
 * (feature `s3`: opendal, rustls and aws-lc, several more minutes cold); `PEP_LAKE_FEATURES=none` leaves it out.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { cache, crate, lakeFeatures, lakeSourceKey, lakeTarget, root } from './lake-key.mjs';

const out = join(root, 'lake-addon', 'pep-lake.node');
const force = process.argv.includes('--force');
/** Cargo features of the addon, e.g. `s3` for S3-compatible warehouses (part of the cache key). */
const features = lakeFeatures();
const say = (m) => console.error(`build-lake: ${m}`);

const key = lakeSourceKey(features);
const keyDir = join(cache, 'lake-addon', key);
const built = join(keyDir, 'pep-lake.node');

function sameFile(a, b) {
  return existsSync(a) && existsSync(b) && readFileSync(a).equals(readFileSync(b));
}

function lock(dir) {
  const l = `${dir}.lock`;
  mkdirSync(dirname(l), { recursive: true });
  const deadline = Date.now() + 60 * 60_000;
  for (;;) {
    try {
      mkdirSync(l);
      return () => rmSync(l, { recursive: true, force: true });
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      if (Date.now() - statSync(l).mtimeMs > 90 * 60_000) rmSync(l, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`gave up waiting for another build of ${dir}`);
      spawnSync('sleep', ['2']);
    }
  }
}

if (force || !existsSync(built)) {
  const unlock = lock(keyDir);
  try {
    if (force || !existsSync(built)) {
      const started = Date.now();
      const target = lakeTarget;
      say(`building the lake addon ${key} (release; cargo target ${target}); a cold build takes several minutes`);
      // Plain cargo (not `napi build`, which passes --target and so compiles the whole tree a second time in another
      // folder); the typings stay the committed lake-binding.d.ts.
      const res = spawnSync(
        'cargo',
        [
          'build',
          '--release',
          '-p',
          'pep-lake-napi',
          ...(features.length > 0 ? ['--features', features.map((f) => `pep-lake-napi/${f}`).join(',')] : []),
        ],
        { cwd: crate, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, CARGO_TARGET_DIR: target } },
      );
      if (res.status !== 0) {
        say('cargo build of the lake addon failed (see above)');
        // process.exit skips the finally below: release the lock first, or the next build of this key waits 90 min.
        unlock();
        process.exit(res.status ?? 1);
      }
      const lib = join(
        target,
        'release',
        process.platform === 'darwin' ? 'libpep_lake_napi.dylib' : 'libpep_lake_napi.so',
      );
      mkdirSync(keyDir, { recursive: true });
      copyFileSync(lib, `${built}.part`);
      renameSync(`${built}.part`, built);
      say(`built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  } finally {
    unlock();
  }
} else {
  say(`lake addon ${key} is cached (${keyDir})`);
}

mkdirSync(dirname(out), { recursive: true });
if (!sameFile(built, out)) {
  copyFileSync(built, `${out}.part`);
  renameSync(`${out}.part`, out);
}
writeFileSync(join(dirname(out), 'KEY'), `${key}\n`);
