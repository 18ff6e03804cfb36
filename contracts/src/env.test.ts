import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, envBool, envInt, envList, envOneOf, envStr, redactUrl } from './env.ts';

describe('env readers', () => {
  it('take the default when a variable is unset or blank', () => {
    const env = { BLANK: '  ' };
    assert.equal(envInt(env, 'UNSET', 7, 1, 10), 7);
    assert.equal(envInt(env, 'BLANK', 7, 1, 10), 7);
    assert.equal(envStr(env, 'BLANK', 'd'), 'd');
    assert.equal(envBool(env, 'UNSET', true), true);
    assert.deepEqual(envList(env, 'BLANK', ['a']), ['a']);
  });

  it('parse valid values', () => {
    assert.equal(envInt({ N: ' 10 ' }, 'N', 1, 1, 10), 10);
    assert.equal(envStr({ S: ' x ' }, 'S', 'd'), 'x');
    assert.equal(envBool({ B: 'OFF' }, 'B', true), false);
    assert.equal(envBool({ B: 'yes' }, 'B', false), true);
    assert.equal(envOneOf({ L: 'warn' }, 'L', 'info', ['info', 'warn']), 'warn');
    assert.deepEqual(envList({ K: 'a, b,,c ' }, 'K', []), ['a', 'b', 'c']);
  });

  it('name the variable, the rule and the value in every error', () => {
    assert.throws(() => envInt({ N: '11' }, 'N', 1, 1, 10), {
      name: 'ConfigError',
      message: 'N must be an integer in [1, 10], got "11"',
    });
    assert.throws(() => envInt({ N: '1.5' }, 'N', 1, 1, 10), ConfigError);
    assert.throws(() => envInt({ N: '0x10' }, 'N', 1, 1, 100), /N must be an integer/);
    assert.throws(() => envBool({ B: 'maybe' }, 'B', true), /B must be true or false, got "maybe"/);
    assert.throws(() => envOneOf({ L: 'loud' }, 'L', 'info', ['info', 'warn']), /L must be one of info, warn/);
    assert.throws(() => envList({ K: ' , ' }, 'K', ['x'], 1), /K must list at least 1 comma-separated item$/);
  });

  it('redacts the password of a URL and never echoes an unparseable one', () => {
    assert.equal(redactUrl('postgres://u:secret@h:5432/db'), 'postgres://u:***@h:5432/db');
    assert.equal(redactUrl('postgres://u@h/db'), 'postgres://u@h/db');
    assert.equal(redactUrl('not a url with secret'), '<unparseable url>');
  });
});

test('lowerPriority lowers the CPU priority of the process, never raises it', () => {
  // In a child process: the test runner keeps its own priority.
  const run = (code: string) =>
    execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
      encoding: 'utf8',
    }).trim();
  const lib = JSON.stringify(fileURLToPath(new URL('./env.ts', import.meta.url)));
  assert.equal(
    run(
      `import { lowerPriority } from ${lib}; import { getPriority } from 'node:os'; const n = lowerPriority(7); console.log(n, getPriority());`,
    ),
    '7 7',
  );
  assert.equal(run(`import { lowerPriority } from ${lib}; lowerPriority(9); console.log(lowerPriority(3));`), '9');
});
