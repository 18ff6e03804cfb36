/**
 * The local balancer's configuration, checked by HAProxy itself (`haproxy -c`, Debian's package, installed when
 * missing), and its health check as the edge receives it: HTTP/1.1 with a Host header, like a Kubernetes probe.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureHaproxy, haproxyConfig } from '../src/balancer.ts';

test('haproxy -c accepts the balancer configuration; the health check is HTTP/1.1 with a Host header', () => {
  ensureHaproxy((m) => console.log(`# ${m}`));
  const cfg = haproxyConfig(18080, [8081, 8082], '/readyz');
  const file = join(mkdtempSync(join(tmpdir(), 'pep-haproxy-')), 'haproxy.cfg');
  writeFileSync(file, cfg);
  const check = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
  assert.match(cfg, /http-check send meth GET uri \/readyz ver HTTP\/1\.1 hdr Host \S+/);
  assert.equal(cfg.match(/^ {2}server edge\d 127\.0\.0\.1:\d+ check$/gm)?.length, 2);
});
