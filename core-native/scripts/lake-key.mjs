/**
 * The source key of the lake workspace (crates/lake): a SHA-256 over every source file (Rust, Cargo.toml, Cargo.lock,
 * build.rs, the napi config), the rustc version, the platform and the cargo features. A changed source is a new key.
 * Used by build-lake.mjs (the cached addon) and test-lake.mjs (the cached clippy verdict).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const crate = join(root, 'crates', 'lake');
export const cache = process.env.PEP_CACHE_DIR ?? join(homedir(), '.cache', 'payment-event-platform');
/** Cargo's target directory for the lake workspace, shared by every checkout on the machine. */
export const lakeTarget = join(cache, 'cargo-lake', 'target');

/**
 * Cargo features of the addon (part of the key). Default `s3`: S3-compatible warehouses are part of the product (the
 * chart's deployments write to object storage). `PEP_LAKE_FEATURES=` (empty) or `none` builds the local-file-only
 * addon (no opendal, rustls, aws-lc: a few minutes less cold).
 */
export function lakeFeatures(env = process.env) {
  const raw = env.PEP_LAKE_FEATURES ?? 's3';
  return raw
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f && f !== 'none')
    .sort();
}

function sources(dir) {
  const files = [];
  for (const name of readdirSync(dir)) {
    if (name === 'target' || name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files.push(...sources(p));
    else if (/\.(rs|toml|lock|json)$/.test(name)) files.push(p);
  }
  return files.sort();
}

/** 20 hex digits naming this exact source, toolchain, platform and feature set. */
export function lakeSourceKey(features = []) {
  const hash = createHash('sha256');
  hash.update(execFileSync('rustc', ['-vV'], { encoding: 'utf8' }));
  hash.update(`${process.platform}-${process.arch}\nfeatures=${[...features].sort().join(',')}\n`);
  for (const f of sources(crate)) {
    hash.update(`${relative(crate, f)}\n`);
    hash.update(readFileSync(f));
  }
  return hash.digest('hex').slice(0, 20);
}
