import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alertThresholdOf } from './models.ts';

test("a version's alert_threshold tag is served only when it is a score in (0, 1]", () => {
  assert.equal(alertThresholdOf('0.183400'), 0.1834);
  assert.equal(alertThresholdOf('1'), 1);
  for (const bad of [undefined, '', ' ', '0', '-0.2', '1.5', 'NaN', 'high', 'Infinity']) {
    assert.equal(alertThresholdOf(bad), null, String(bad));
  }
});
