/**
 * A port for a server that another process (or a later step) will listen on. A port from listen(0) lies in the
 * kernel's ephemeral range, where outgoing connections take their source ports: between closing the probe and the
 * server's own listen, a Kafka or PostgreSQL client of a process already running can take it, and the server dies
 * with EADDRINUSE (the security platform's review bridge once did, on its metrics port). Below that range only
 * listeners compete, and a port picked here is checked free.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The lowest port of the kernel's ephemeral range (Linux; else IANA's 49152). */
export function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (low > 2048) return low;
  } catch {
    // not Linux
  }
  return 49152;
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/**
 * A port free on `host` now, below the ephemeral range and not in `taken` (which it is added to, so the ports of
 * several servers started together differ). The search starts at a random port of the range (so concurrent callers
 * seldom probe the same one) and goes through the range once; it throws when no port of it is free.
 */
export async function freePort(taken: Set<number> = new Set(), host = '127.0.0.1'): Promise<number> {
  const low = ephemeralLow();
  const from = Math.max(1025, low - 12_000);
  const size = low - from;
  const start = Math.floor(Math.random() * size);
  for (let i = 0; i < size; i++) {
    const port = from + ((start + i) % size);
    if (taken.has(port) || !(await canListen(port, host))) continue;
    taken.add(port);
    return port;
  }
  throw new Error(`no free port found in ${from}-${low - 1} (below the ephemeral range)`);
}
