/**
 * Open-loop load generator for the edge benchmark's latency-at-rate measurement: sends requests evenly spaced at a
 * fixed rate over keep-alive connections (not in per-second bursts, which autocannon's rate limit does) and reports
 * latency percentiles measured from each request's send time, plus how late the generator itself was.
 * usage: paced-load.ts <url> <rate/s> <seconds> <connections> <headers-json> <body-file>
 * Prints one JSON line. Not part of the product.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';

const [url, rateArg, secondsArg, connArg, headersJson, bodyFile] = process.argv.slice(2);
if (!url || !rateArg || !secondsArg || !connArg || !headersJson || !bodyFile) {
  process.stderr.write('usage: paced-load.ts <url> <rate/s> <seconds> <connections> <headers-json> <body-file>\n');
  process.exit(2);
}
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const connections = Number(connArg);
const body = readFileSync(bodyFile);
const headers = { ...(JSON.parse(headersJson) as Record<string, string>), 'content-length': String(body.length) };
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const MAX_OUTSTANDING = connections * 16;

const latenciesMs: number[] = [];
const lagsMs: number[] = [];
let ok = 0;
let errors = 0;
let outstanding = 0;
let sent = 0;

function fire(): void {
  outstanding++;
  sent++;
  const started = performance.now();
  const req = http.request(
    { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers, agent },
    (res) => {
      res.resume();
      res.on('end', () => {
        outstanding--;
        latenciesMs.push(performance.now() - started);
        if (res.statusCode === 200) ok++;
        else errors++;
      });
    },
  );
  req.on('error', () => {
    outstanding--;
    errors++;
  });
  req.end(body);
}

const t0 = performance.now();
const total = Math.round(rate * seconds);
let next = 0;
await new Promise<void>((resolve) => {
  const tick = () => {
    const now = performance.now();
    while (next < total && t0 + (next * 1000) / rate <= now) {
      lagsMs.push(now - (t0 + (next * 1000) / rate));
      if (outstanding >= MAX_OUTSTANDING) errors++;
      else fire();
      next++;
    }
    if (next >= total) resolve();
    else setImmediate(tick);
  };
  tick();
});
const drainDeadline = performance.now() + 10_000;
while (outstanding > 0 && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 5));
const elapsedS = (performance.now() - t0) / 1000;
const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number) * 100) / 100;
};
process.stdout.write(
  `${JSON.stringify({ sent, ok, errors, achievedRate: Math.round(ok / elapsedS), p50Ms: pct(latenciesMs, 50), p99Ms: pct(latenciesMs, 99), generatorLagP99Ms: pct(lagsMs, 99) })}\n`,
);
agent.destroy();
