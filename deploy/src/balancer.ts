/**
 * A local TCP load balancer in front of several edges, standing in for a Kubernetes Service: HAProxy from Debian's
 * package (a well-kept balancer, not a hand-written proxy), layer-4 round robin, each backend health-checked on the
 * edge's `/readyz` like the chart's readiness probe, so a draining or killed edge stops receiving new connections.
 * Not for production: there the Service (kube-proxy) or an ingress balances.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { aptInstall } from '@pep/stack/prereq';
import type { Log } from './chart.ts';
import { REPO_ROOT } from './local-cluster.ts';

export function ensureHaproxy(log: Log): void {
  if (spawnSync('sh', ['-c', 'command -v haproxy'], { stdio: 'ignore' }).status !== 0)
    aptInstall(['haproxy'], 'the scale-out test balances edges with HAProxy', log);
}

export interface Balancer {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export function haproxyConfig(port: number, backends: readonly number[], healthPath: string): string {
  return [
    'global',
    '  maxconn 8192',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    'frontend edges',
    `  bind 127.0.0.1:${port}`,
    '  default_backend edges',
    'backend edges',
    '  balance roundrobin',
    // HTTP/1.1 with a Host header, as a Kubernetes readiness probe sends it (HAProxy's default check is HTTP/1.0
    // without one).
    '  option httpchk',
    `  http-check send meth GET uri ${healthPath} ver HTTP/1.1 hdr Host edge`,
    '  http-check expect status 200',
    // Half a second between checks: a killed or draining edge leaves the rotation within about a second.
    '  default-server inter 500ms fall 2 rise 1',
    ...backends.map((p, i) => `  server edge${i} 127.0.0.1:${p} check`),
    '',
  ].join('\n');
}

export async function startBalancer(
  port: number,
  backends: readonly number[],
  healthPath = '/readyz',
): Promise<Balancer> {
  const dir = join(REPO_ROOT, '.stack', 'balancer');
  mkdirSync(dir, { recursive: true });
  const cfg = join(dir, `haproxy-${port}.cfg`);
  writeFileSync(cfg, haproxyConfig(port, backends, healthPath));
  const fd = openSync(join(REPO_ROOT, '.stack', 'logs', `haproxy-${port}.log`), 'a');
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', fd, fd] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`haproxy exited (${child.exitCode}); see .stack/logs/haproxy-${port}.log`);
    if (
      await fetch(`${url}${healthPath}`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      )
    ) {
      return {
        url,
        child,
        stop: async () => {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await Promise.race([exited, sleep(10_000, undefined, { ref: false })]);
        },
      };
    }
    await sleep(250);
  }
  child.kill('SIGKILL');
  throw new Error(`the balancer on ${url} did not pass traffic to a ready edge within 30 s`);
}
