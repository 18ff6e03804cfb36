/**
 * Lint for workflow determinism: walks workflows.ts and every local module it imports at runtime, and fails when one
 * of them imports a Node built-in, an npm package other than @temporalio/workflow, or touches `process`/`require`.
 * Type-only imports are erased at build time and are allowed. Run by `npm test -w @pep/workflows`.
 */
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ALLOWED_PACKAGES = new Set(['@temporalio/workflow']);
const BUILTINS = new Set(builtinModules);
const IMPORT_RE = /^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;
const FORBIDDEN_CODE: readonly [RegExp, string][] = [
  [/\bprocess\s*\./, 'uses process (environment is not deterministic)'],
  [/\brequire\s*\(/, 'uses require()'],
];

export interface LintProblem {
  readonly file: string;
  readonly message: string;
}

export function lintWorkflowFile(entry: string): LintProblem[] {
  const problems: LintProblem[] = [];
  const seen = new Set<string>();
  const queue = [resolve(entry)];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
    for (const m of code.matchAll(IMPORT_RE)) {
      const typeOnly = Boolean(m[1]);
      const spec = m[2] as string;
      if (typeOnly) continue;
      if (spec.startsWith('.')) {
        queue.push(join(dirname(file), spec));
      } else if (spec.startsWith('node:') || BUILTINS.has(spec.split('/')[0] as string)) {
        problems.push({ file, message: `imports the Node built-in ${spec}` });
      } else if (!ALLOWED_PACKAGES.has(spec)) {
        problems.push({
          file,
          message: `imports ${spec} at runtime (only ${[...ALLOWED_PACKAGES].join(', ')} or type-only)`,
        });
      }
    }
    for (const [re, why] of FORBIDDEN_CODE) if (re.test(code)) problems.push({ file, message: why });
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const entry = fileURLToPath(new URL('./workflows.ts', import.meta.url));
  const problems = lintWorkflowFile(entry);
  for (const p of problems) console.error(`${relative(process.cwd(), p.file)}: ${p.message}`);
  if (problems.length > 0) process.exit(1);
  console.log('workflow import lint: ok');
}
