import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { lintWorkflowFile } from './lint-workflow-imports.ts';

describe('workflow import lint', () => {
  it('accepts the real workflow module', () => {
    assert.deepEqual(lintWorkflowFile(fileURLToPath(new URL('./workflows.ts', import.meta.url))), []);
  });

  it('flags Node built-ins and packages in workflow code and its local imports', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wf-lint-'));
    writeFileSync(join(dir, 'helper.ts'), "import { readFileSync } from 'node:fs';\nexport const x = process.env.X;\n");
    writeFileSync(
      join(dir, 'wf.ts'),
      "import type { Pool } from 'pg';\nimport crypto from 'crypto';\nimport {\n  x,\n} from './helper.ts';\nimport { Kafka } from 'kafkajs';\n",
    );
    const messages = lintWorkflowFile(join(dir, 'wf.ts')).map((p) => p.message);
    assert.ok(messages.some((m) => m.includes('Node built-in crypto')));
    assert.ok(messages.some((m) => m.includes('Node built-in node:fs')));
    assert.ok(messages.some((m) => m.includes('kafkajs')));
    assert.ok(messages.some((m) => m.includes('process')));
    assert.ok(!messages.some((m) => m.includes("'pg'") || m.includes(' pg ')));
  });
});
