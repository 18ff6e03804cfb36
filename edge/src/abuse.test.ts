import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SourceLimiter } from './abuse.ts';

test('a source is limited after its burst of refusals and recovers at the refill rate', () => {
  let now = 0;
  const l = new SourceLimiter({ ratePerS: 2, burst: 3, maxSources: 10 }, () => now);
  for (let i = 0; i < 3; i++) {
    assert.equal(l.limitedForS('a'), 0);
    l.charge('a');
  }
  assert.equal(l.limitedForS('a'), 1);
  assert.equal(l.limitedForS('b'), 0, 'sources are independent');
  now += 500; // one token back at 2/s
  assert.equal(l.limitedForS('a'), 0);
  l.charge('a');
  assert.ok(l.limitedForS('a') >= 1);
});

test('the table of sources is bounded: the least recently refused source is forgotten first', () => {
  const l = new SourceLimiter({ ratePerS: 1, burst: 1, maxSources: 2 }, () => 0);
  l.charge('a');
  l.charge('b');
  l.charge('a'); // a is now the most recent
  l.charge('c'); // evicts b
  assert.equal(l.size, 2);
  assert.ok(l.limitedForS('a') > 0);
  assert.equal(l.limitedForS('b'), 0);
  assert.ok(l.limitedForS('c') > 0);
});

test('a rate of 0 turns the limiter off', () => {
  const l = new SourceLimiter({ ratePerS: 0, burst: 1, maxSources: 2 }, () => 0);
  for (let i = 0; i < 10; i++) l.charge('a');
  assert.equal(l.limitedForS('a'), 0);
  assert.equal(l.size, 0);
});
