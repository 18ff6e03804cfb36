import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { firstId, MAX_ID_CHARS } from './verdict.ts';

describe('firstId', () => {
  test('returns the first usable id in argument order, skipping non-strings, empty and over-long strings', () => {
    const long = 'x'.repeat(MAX_ID_CHARS + 1);
    assert.equal(firstId('a', 'b'), 'a');
    assert.equal(firstId(undefined, 'b'), 'b');
    assert.equal(firstId('', 42, 'c'), 'c');
    assert.equal(firstId(null, long, {}, 'd'), 'd');
    assert.equal(firstId(null, undefined, '', [], 'e'), 'e');
    assert.equal(firstId(null, undefined, '', long, 7), null);
    assert.equal(firstId('x'.repeat(MAX_ID_CHARS), 'b'), 'x'.repeat(MAX_ID_CHARS));
  });
});
