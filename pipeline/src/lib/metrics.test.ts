import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from './metrics.ts';

test('renders counters, labelled gauges and histograms in Prometheus text format', () => {
  const r = new Registry();
  const c = r.counter('x_total', 'X');
  c.inc({ kind: 'a"b' }, 2);
  const g = r.gauge('pipeline_consumer_lag', 'lag');
  g.set({ topic: 't', partition: '0' }, 5);
  const h = r.histogram('d_seconds', 'd', [0.1, 1]);
  h.observe(0.05);
  h.observe(0.5);
  const text = r.render();
  assert.match(text, /^x_total\{kind="a\\"b"\} 2$/m);
  assert.match(text, /^pipeline_consumer_lag\{topic="t",partition="0"\} 5$/m);
  assert.match(text, /^d_seconds_bucket\{le="0.1"\} 1$/m);
  assert.match(text, /^d_seconds_bucket\{le="1"\} 2$/m);
  assert.match(text, /^d_seconds_count 2$/m);
  g.clear();
  assert.doesNotMatch(r.render(), /partition="0"/);
});
