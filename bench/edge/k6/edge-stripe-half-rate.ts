/**
 * Scenario `edge-stripe-half-rate` (harness arm `edge-full-bun` at half its measured maximum): an open-loop constant
 * arrival rate, so the p99 is not hidden by coordinated omission. Goal: p99 <= 25 ms.
 * `k6 run -e EDGE_URL=… -e RATE=<half of edge-stripe-64 req/s> bench/edge/k6/edge-stripe-half-rate.ts`
 */
import { check } from 'k6';
import http from 'k6/http';
import type { Options } from 'k6/options';
import { stripe, stripeEventBody } from './lib.ts';

export const options: Options = {
  scenarios: {
    halfRate: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 1000),
      timeUnit: '1s',
      duration: __ENV.DURATION || '10s',
      preAllocatedVUs: 64,
      maxVUs: 256,
    },
  },
  summaryTrendStats: ['avg', 'p(50)', 'p(99)', 'max'],
  thresholds: { http_req_duration: ['p(99)<25'], checks: ['rate>0.999'] },
};

const body = stripeEventBody('evt_3QbenchA1b2C3d4E5f6G7h8');

export default function (): void {
  const req = stripe(body);
  check(http.post(req.url, req.body, req.params), { 'acknowledged (200)': (r) => r.status === 200 });
}
