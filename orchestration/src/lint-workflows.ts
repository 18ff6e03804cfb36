/**
 * Determinism lint of the orchestration workflows (the workflows package's checker, run on our workflows.ts):
 * workflow code imports only @temporalio/workflow and type-only modules, never Node built-ins or `process`.
 */
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lintWorkflowFile } from '@pep/workflows/lint-workflow-imports';

const problems = lintWorkflowFile(fileURLToPath(new URL('./workflows.ts', import.meta.url)));
for (const p of problems) console.error(`${relative(process.cwd(), p.file)}: ${p.message}`);
if (problems.length > 0) process.exit(1);
console.log('orchestration workflow import lint: ok');
