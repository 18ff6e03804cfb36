import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type BoxState, chartReports, type DataResponse } from './browser.ts';

describe('chartReports', () => {
  const started = 1_000_000;
  const box = (id: number, name: string): BoxState => ({ name, id, vizType: 'table', state: 'rendered' });
  const answer = (d: Partial<DataResponse>): DataResponse => ({
    sentAt: started + 500,
    answeredAt: started + 1_200,
    status: 200,
    ...d,
  });
  const report = (d: Partial<DataResponse>) => {
    const [r] = chartReports(
      new Map([['1', box(1, 'Daily revenue')]]),
      new Map([['1', started + 1_500]]),
      new Map([[1, answer(d)]]),
      started,
      120_000,
    );
    assert.ok(r);
    return r;
  };

  test('a chart whose SQL returned as many rows as its row limit is truncated, not rendered', () => {
    const r = report({ rows: 10_000, sqlRows: 10_000, rowLimit: 10_000 });
    assert.equal(r.state, 'truncated');
    assert.match(r.message ?? '', /10000 rows, its row limit/);
    // a time series pivots its rows: the SQL's count decides, not the pivoted frame's
    assert.equal(report({ rows: 365, sqlRows: 1_000, rowLimit: 1_000 }).state, 'truncated');
  });

  test('under the limit, without a limit, or paged on the server it is rendered', () => {
    assert.equal(report({ rows: 730, sqlRows: 730, rowLimit: 10_000 }).state, 'rendered');
    assert.equal(report({ rows: 5, sqlRows: 5 }).state, 'rendered');
    assert.equal(report({ rows: 21, sqlRows: 20, rowLimit: 20, paged: true }).state, 'rendered');
  });

  test('the times of its data request and when it settled, from navigation start', () => {
    const r = report({ rows: 3, sqlRows: 3, rowLimit: 100, sql: ['SELECT 1'] });
    assert.equal(r.requestMs, 700);
    assert.equal(r.answeredAtMs, 1_200);
    assert.equal(r.settledAtMs, 1_500);
    assert.deepEqual(r.sql, ['SELECT 1']);
  });

  test('an error or no rows still wins over the row count', () => {
    assert.equal(report({ status: 500, error: 'boom', rows: 0 }).state, 'error');
    assert.equal(report({ rows: 0, sqlRows: 0, rowLimit: 10 }).state, 'empty');
  });
});
