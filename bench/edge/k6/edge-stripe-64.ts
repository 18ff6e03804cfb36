/**
 * Scenario `edge-stripe-64` (harness arm `edge-full-bun`): 64 closed-loop connections posting the same signed ~1 KiB
 * Stripe webhook as fast as the edge acknowledges them. Reports req/s (http_reqs), p50/p99 (http_req_duration) and
 * errors (checks). `k6 run -e EDGE_URL=http://127.0.0.1:8080 bench/edge/k6/edge-stripe-64.ts`
 */
import { check } from 'k6';
import http from 'k6/http';
import type { Options } from 'k6/options';
import { stripe, stripeEventBody } from './lib.ts';

export const options: Options = {
  vus: 64,
  duration: __ENV.DURATION || '10s',
  summaryTrendStats: ['avg', 'p(50)', 'p(99)', 'max'],
  thresholds: { checks: ['rate>0.999'] },
};

const body = stripeEventBody('evt_3QbenchA1b2C3d4E5f6G7h8');

export default function (): void {
  const req = stripe(body);
  const res = http.post(req.url, req.body, req.params);
  check(res, { 'acknowledged (200)': (r) => r.status === 200 });
}
