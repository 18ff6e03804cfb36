import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadLakeSinkConfig } from './config.ts';

describe('lake sink configuration', () => {
  it('writes bronze and waits at most 500 ms per fetch by default', () => {
    const cfg = loadLakeSinkConfig({});
    assert.equal(cfg.namespace, 'bronze');
    assert.equal(cfg.fetchMaxWaitMs, 500);
  });

  it('takes another namespace and fetch wait, and refuses what is not an identifier or out of bounds', () => {
    const cfg = loadLakeSinkConfig({ LAKE_SINK_NAMESPACE: 'staging_2', LAKE_SINK_FETCH_MAX_WAIT_MS: '100' });
    assert.equal(cfg.namespace, 'staging_2');
    assert.equal(cfg.fetchMaxWaitMs, 100);
    for (const bad of ['Bronze', 'a.b', 'x;drop']) {
      assert.throws(() => loadLakeSinkConfig({ LAKE_SINK_NAMESPACE: bad }), /LAKE_SINK_NAMESPACE must be/);
    }
    assert.throws(() => loadLakeSinkConfig({ LAKE_SINK_FETCH_MAX_WAIT_MS: '60000' }), /LAKE_SINK_FETCH_MAX_WAIT_MS/);
  });
});
