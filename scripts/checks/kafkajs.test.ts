/** Every file that loads kafkajs imports the read_committed fix first (scripts/checks/kafkajs.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkKafkajsImports, FIX, kafkajsFinding } from './kafkajs.ts';
import { formatFindings, repoRoot } from './packages.ts';

test('the checker finds a kafkajs load without the fix, or with the fix after it', () => {
  assert.equal(kafkajsFinding('a.ts', "import { Kafka } from 'kafkajs';\n")?.line, 1);
  assert.equal(kafkajsFinding('a.ts', "import x from 'y';\nconst k = await import('kafkajs');\n")?.line, 2);
  assert.ok(kafkajsFinding('a.ts', `import { Kafka } from 'kafkajs';\nimport '${FIX}';\n`));
  assert.ok(kafkajsFinding('a.ts', "import {\n  type Admin,\n  Kafka,\n} from 'kafkajs';\n"));
});

test('the checker accepts type-only imports and the fix imported first', () => {
  assert.equal(kafkajsFinding('a.ts', "import type { Admin } from 'kafkajs';\n"), null);
  assert.equal(kafkajsFinding('a.ts', `import '${FIX}';\nimport { Kafka } from 'kafkajs';\n`), null);
  assert.equal(kafkajsFinding('a.ts', "const s = 'no kafka here';\n"), null);
});

test('every file of this repository that loads kafkajs imports the fix first', () => {
  const findings = checkKafkajsImports(repoRoot());
  assert.deepEqual(findings, [], formatFindings(findings));
});
