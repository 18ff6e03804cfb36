// Fails when the committed generated binding files (index.d.ts, index.js) differ from what
// `napi build` generates from the current Rust source. Run after `npm run build`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const out = mkdtempSync(join(tmpdir(), 'pep-typings-'));
try {
  execFileSync(
    'npx',
    [
      'napi',
      'build',
      '--platform',
      '--release',
      '--esm',
      '--manifest-path',
      'crates/napi/Cargo.toml',
      '--package-json-path',
      'package.json',
      '--output-dir',
      out,
      '--js',
      'index.js',
      '--dts',
      'index.d.ts',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  let drift = false;
  for (const f of ['index.d.ts', 'index.js']) {
    if (readFileSync(join(out, f), 'utf8') !== readFileSync(f, 'utf8')) {
      console.error(`check:typings: ${f} is out of date; run \`npm run build -w @pep/core-native\` and commit it`);
      drift = true;
    }
  }
  if (drift) process.exit(1);
  console.log('check:typings: generated bindings match the Rust source');
} finally {
  rmSync(out, { recursive: true, force: true });
}
