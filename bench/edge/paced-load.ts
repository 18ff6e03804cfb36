/**
 * Open-loop load generator for the edge benchmark's latency-at-rate measurement: requests evenly spaced at a fixed
 * rate (not in per-second bursts, which autocannon's rate limit does) over raw keep-alive TCP connections with a
 * prebuilt request (so that the generator stays light, like autocannon). Latency is measured from each request's
 * write to the end of its response; a due request that finds no idle connection waits, and that wait is reported
 * separately (`queuedP99Ms`) and included in `p99FromDueMs` (from the moment the request was due to the end of its
 * response: what a sender at this rate sees, the generator's own lateness included). How late the generator's loop
 * picked requests up is reported too (`pickupLateP99Ms`, `pickupLateMaxMs`, `maxTickGapMs`): lateness that is the
 * generator's, not the server's.
 * usage: paced-load.ts <url> <rate/s> <seconds> <connections> <headers-json> <body-file>
 * Prints one JSON line. Not part of the product.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

const [url, rateArg, secondsArg, connArg, headersJson, bodyFile] = process.argv.slice(2);
if (!url || !rateArg || !secondsArg || !connArg || !headersJson || !bodyFile) {
  process.stderr.write('usage: paced-load.ts <url> <rate/s> <seconds> <connections> <headers-json> <body-file>\n');
  process.exit(2);
}
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const connections = Number(connArg);
const target = new URL(url);
const body = readFileSync(bodyFile);
const headers = JSON.parse(headersJson) as Record<string, string>;
const head =
  `POST ${target.pathname} HTTP/1.1\r\nhost: ${target.host}\r\ncontent-length: ${body.length}\r\n` +
  `${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
const request = Buffer.concat([Buffer.from(head), body]);
const MAX_QUEUED = connections * 64;

interface Conn {
  socket: Socket;
  busy: boolean;
  sentAt: number;
  dueAt: number;
  buf: Buffer;
}

const latenciesMs: number[] = [];
const fromDueMs: number[] = [];
const queuedMs: number[] = [];
/** How late the generator's own loop picked each request up (its core busy or descheduled, GC): not the server's. */
const pickupLateMs: number[] = [];
let maxTickGapMs = 0;
let ok = 0;
let errors = 0;
const queue: number[] = []; // due times of requests waiting for an idle connection
const idle: Conn[] = [];

function send(c: Conn, dueAt: number): void {
  const now = performance.now();
  queuedMs.push(now - dueAt);
  c.busy = true;
  c.sentAt = now;
  c.dueAt = dueAt;
  c.socket.write(request);
}

function onData(c: Conn, chunk: Buffer): void {
  c.buf = c.buf.length ? Buffer.concat([c.buf, chunk]) : chunk;
  for (;;) {
    const end = c.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const headText = c.buf.subarray(0, end).toString('latin1');
    const m = /content-length:\s*(\d+)/i.exec(headText);
    const total = end + 4 + (m ? Number(m[1]) : 0);
    if (c.buf.length < total) return;
    const status = Number(headText.slice(9, 12));
    c.buf = c.buf.subarray(total);
    const done = performance.now();
    latenciesMs.push(done - c.sentAt);
    fromDueMs.push(done - c.dueAt);
    if (status === 200) ok++;
    else errors++;
    c.busy = false;
    const next = queue.shift();
    if (next !== undefined) send(c, next);
    else idle.push(c);
  }
}

// The server closes keep-alive connections that stay idle (Bun.serve after 10 s by default), and the idle stack below
// leaves its bottom connections unused until a burst reaches them. A request written to a connection that closes
// before any byte of its answer is sent again on another one, as HTTP clients do with a stale keep-alive connection
// (its latency still counts from its due time); the closed connection is replaced. Without this, such requests were
// never answered and the run waited out its drain deadline.
let reconnects = 0;
let resentAfterClose = 0;
let finished = false;
function open(): Promise<Conn> {
  return new Promise<Conn>((resolve, reject) => {
    const socket = connect({ host: target.hostname, port: Number(target.port) }, () => {
      socket.setNoDelay(true);
      socket.off('error', reject);
      socket.on('error', () => {}); // 'close' follows
      resolve(c);
    });
    const c: Conn = { socket, busy: false, sentAt: 0, dueAt: 0, buf: Buffer.alloc(0) };
    socket.on('data', (d: Buffer) => onData(c, d));
    socket.on('error', reject);
    socket.on('close', () => onClose(c));
  });
}

/** A socket emits 'close' once. */
function onClose(c: Conn): void {
  const at = idle.indexOf(c);
  if (at >= 0) idle.splice(at, 1);
  if (c.busy) {
    if (c.buf.length === 0) {
      resentAfterClose++;
      const other = idle.pop();
      if (other) send(other, c.dueAt);
      else queue.unshift(c.dueAt);
    } else errors++; // closed halfway through an answer
    c.busy = false;
  }
  if (finished) return;
  reconnects++;
  open().then(
    (n) => {
      conns.push(n);
      const next = queue.shift();
      if (next !== undefined) send(n, next);
      else idle.push(n);
    },
    () => {}, // the server is gone: the drain deadline ends the run
  );
}

const conns = await Promise.all(Array.from({ length: connections }, open));
idle.push(...conns);

const t0 = performance.now();
const total = Math.round(rate * seconds);
let next = 0;
await new Promise<void>((resolve) => {
  let lastTick = performance.now();
  const tick = () => {
    const now = performance.now();
    maxTickGapMs = Math.max(maxTickGapMs, now - lastTick);
    lastTick = now;
    while (next < total && t0 + (next * 1000) / rate <= now) {
      const dueAt = t0 + (next * 1000) / rate;
      pickupLateMs.push(now - dueAt);
      const c = idle.pop();
      if (c) send(c, dueAt);
      else if (queue.length < MAX_QUEUED) queue.push(dueAt);
      else errors++;
      next++;
    }
    if (next >= total) resolve();
    // Always sleep ~1 ms, never spin: the requests that fall due meanwhile go out together (at most a timer's slack
    // late, which p99FromDueMs includes). Polling with setImmediate whenever the next request was under 1 ms away
    // (always, above 1k req/s) kept the generator's core 94 % busy at 15k req/s against ~30 % sleeping, and the
    // broker's threads that share that core waited behind it: p99 from the due time 18-135 ms spinning (4 runs),
    // median 13.3 ms sleeping, under 25 ms in 30 of 33 runs (edge-full at 15k req/s, 15 s runs, 2026-11-27).
    else setTimeout(tick, 1);
  };
  tick();
});
const drainDeadline = performance.now() + 10_000;
while ((queue.length > 0 || conns.some((c) => c.busy)) && performance.now() < drainDeadline) {
  await new Promise((r) => setTimeout(r, 5));
}
finished = true;
const elapsedS = (performance.now() - t0) / 1000;
const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number) * 100) / 100;
};
process.stdout.write(
  `${JSON.stringify({ sent: next, ok, errors, achievedRate: Math.round(ok / elapsedS), p50Ms: pct(latenciesMs, 50), p99Ms: pct(latenciesMs, 99), queuedP99Ms: pct(queuedMs, 99), p99FromDueMs: pct(fromDueMs, 99), unanswered: next - ok - errors, reconnects, resentAfterClose, pickupLateP99Ms: pct(pickupLateMs, 99), pickupLateMaxMs: pct(pickupLateMs, 100), maxTickGapMs: Math.round(maxTickGapMs * 100) / 100 })}\n`,
);
for (const c of conns) c.socket.destroy();
