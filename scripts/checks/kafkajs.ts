/**
 * kafkajs's read_committed filter is replaced by @pep/contracts/kafkajs-read-committed (kafkajs 2.2.4 delivers records
 * of an aborted transaction when the broker lists a later-begun transaction's abort first). The replacement works only
 * if it is evaluated before kafkajs is first loaded, so every file that loads kafkajs (a value import or a dynamic
 * import; `import type` loads nothing) imports the fix above that import. Then whichever such file a process reaches
 * first, the fix comes first.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Finding } from './packages.ts';
import { sourceFiles } from './packages.ts';

export const FIX = '@pep/contracts/kafkajs-read-committed';
const VALUE_IMPORT =
  /^import\s+(?!type\b)[^;]*?from\s+['"]kafkajs['"]|import\(\s*['"]kafkajs['"]\s*\)|require\(\s*['"]kafkajs['"]\s*\)/ms;
const FIX_IMPORT = new RegExp(`^import\\s+['"]${FIX.replace(/[/.-]/g, '\\$&')}['"];?`, 'm');

/** The finding for one file's text, or null when it does not load kafkajs or imports the fix first. */
export function kafkajsFinding(file: string, text: string): Finding | null {
  const load = VALUE_IMPORT.exec(text);
  if (!load) return null;
  const fix = FIX_IMPORT.exec(text);
  if (fix && fix.index < load.index) return null;
  return {
    file,
    line: text.slice(0, load.index).split('\n').length,
    message: `loads kafkajs without importing '${FIX}' first (read_committed would deliver aborted records)`,
  };
}

export function checkKafkajsImports(root: string): Finding[] {
  return (
    sourceFiles(root)
      // The fix itself (it resolves kafkajs's files), and this check's test (its fixtures are strings).
      .filter((f) => !f.startsWith('contracts/src/kafkajs-read-committed') && f !== 'scripts/checks/kafkajs.test.ts')
      .map((f) => kafkajsFinding(f, readFileSync(join(root, f), 'utf8')))
      .filter((f): f is Finding => f !== null)
  );
}
