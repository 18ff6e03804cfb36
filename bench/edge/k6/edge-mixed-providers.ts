/**
 * Scenario `edge-mixed-providers` (harness: the simulator at a fixed rate against the edge): the four providers in
 * equal shares with correct signatures and unique ids, plus 2 % forged Stripe requests that must get 401.
 * `k6 run -e EDGE_URL=… -e RATE=2000 bench/edge/k6/edge-mixed-providers.ts`
 */
import { check } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import type { Options } from 'k6/options';
import { adyen, braintree, square, stripe, stripeEventBody } from './lib.ts';

export const options: Options = {
  scenarios: {
    mixed: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 1000),
      timeUnit: '1s',
      duration: __ENV.DURATION || '10s',
      preAllocatedVUs: 64,
      maxVUs: 256,
    },
  },
  summaryTrendStats: ['avg', 'p(50)', 'p(99)', 'max'],
  thresholds: { checks: ['rate>0.999'] },
};

export default function (): void {
  const n = exec.scenario.iterationInTest;
  const id = `k6${exec.vu.idInTest}x${n}`;
  if (n % 50 === 0) {
    const forged = stripe(stripeEventBody(`evt_${id}`), { forged: true });
    check(http.post(forged.url, forged.body, forged.params), { 'forged gets 401': (r) => r.status === 401 });
    return;
  }
  const req = [stripe(stripeEventBody(`evt_${id}`)), square(`sq_${id}`), adyen(`88${n}`), braintree(`txn_${id}`)][
    n % 4
  ];
  if (!req) return;
  check(http.post(req.url, req.body, req.params), { 'acknowledged (200)': (r) => r.status === 200 });
}
