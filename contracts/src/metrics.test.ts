import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry, registerProcessMetrics, seriesSum, serveMetrics } from './metrics.ts';

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

test('labelled histograms keep a series per label set; scrape gauges read at render; cached series count', () => {
  const r = new Registry();
  const h = r.histogram('req_seconds', 'r', [0.01, 0.1]);
  h.observe(0.005, { provider: 'stripe' });
  h.series({ provider: 'adyen' }).observe(0.05);
  let queued = 3;
  r.scrapeGauge('queued', 'q', () => queued);
  const c = r.counter('hits_total', 'h');
  c.series({ route: 'a' }).value += 2;
  queued = 7;
  const text = r.render();
  assert.match(text, /^req_seconds_bucket\{provider="stripe",le="0.01"\} 1$/m);
  assert.match(text, /^req_seconds_bucket\{provider="adyen",le="0.01"\} 0$/m);
  assert.match(text, /^req_seconds_bucket\{provider="adyen",le="0.1"\} 1$/m);
  assert.match(text, /^queued 7$/m);
  assert.equal(c.get({ route: 'a' }), 2);
  assert.equal(h.count({ provider: 'stripe' }), 1);
});

test('collectors refresh gauges before each scrape; a failing collector answers 500 with the reason', async () => {
  const r = new Registry();
  const g = r.gauge('rows_pending', 'p');
  let rows = 4;
  let fail = false;
  r.collect(async () => {
    await new Promise((res) => setImmediate(res));
    if (fail) throw new Error('database unreachable');
    g.clear();
    g.set({ table: 't' }, rows);
  });
  registerProcessMetrics(r);
  assert.doesNotMatch(r.render(), /rows_pending\{/, 'render alone does not run collectors');
  const server = await serveMetrics(r, '127.0.0.1', 0);
  try {
    const { port } = server.address() as { port: number };
    const url = `http://127.0.0.1:${port}/metrics`;
    let res = await fetch(url);
    assert.equal(res.status, 200);
    let text = await res.text();
    assert.match(text, /^rows_pending\{table="t"\} 4$/m);
    assert.match(text, /^process_resident_memory_bytes [1-9]\d*$/m);
    rows = 9;
    assert.match(await (await fetch(url)).text(), /^rows_pending\{table="t"\} 9$/m);
    fail = true;
    res = await fetch(url);
    assert.equal(res.status, 500);
    text = await res.text();
    assert.match(text, /database unreachable/);
  } finally {
    server.close();
  }
});

test('seriesSum reads back what the registry renders: summed over series, filtered by label, null when absent', () => {
  const r = new Registry();
  const c = r.counter('out_total', 'o');
  c.inc({ kind: 'normalized' }, 3);
  c.inc({ kind: 'dlq' }, 2);
  r.counter('out_total_other', 'prefix of another name').inc({}, 100);
  const h = r.histogram('lat_seconds', 'l', [1]);
  h.observe(0.5);
  h.observe(2);
  const page = r.render();
  assert.equal(seriesSum(page, 'out_total'), 5);
  assert.equal(seriesSum(page, 'out_total', 'kind="dlq"'), 2);
  assert.equal(seriesSum(page, 'out_total', 'kind="none"'), null);
  assert.equal(seriesSum(page, 'lat_seconds_count'), 2);
  assert.equal(seriesSum(page, 'missing_total'), null);
  assert.equal(seriesSum('x_total NaN\nx_total 4', 'x_total'), 4);
});
