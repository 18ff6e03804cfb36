/** Redis from Debian's package, run by the stack with append-only persistence under the state folder. */
import { mkdirSync } from 'node:fs';
import { SERVICE_DEFAULTS } from '@pep/contracts';
import { serviceStateDir } from '../paths.ts';
import { aptInstall } from '../prereq.ts';
import { commandExists, startDetached } from '../process.ts';
import { type Logger, type Service, tcpExchange } from '../service.ts';

const { host, port } = SERVICE_DEFAULTS.redis;
const STATE = serviceStateDir('redis');

export const redis: Service = {
  name: 'redis',
  address: `redis://${host}:${port}`,
  startTimeoutMs: 60_000,

  async ensureInstalled(log: Logger) {
    if (!commandExists('redis-server')) aptInstall(['redis-server'], 'Redis is not installed', log);
  },

  async isHealthy() {
    return (await tcpExchange(host, port, 'PING\r\n'))?.startsWith('+PONG') ?? false;
  },

  async start() {
    mkdirSync(STATE, { recursive: true });
    return startDetached({
      service: 'redis',
      command: 'redis-server',
      args: [
        '--port',
        String(port),
        '--bind',
        host,
        '--dir',
        STATE,
        '--appendonly',
        'yes',
        '--appendfsync',
        'everysec',
        '--save',
        '',
        '--daemonize',
        'no',
        '--maxmemory',
        '512mb',
        // Features must never be evicted silently: a full store is an error the writer sees.
        '--maxmemory-policy',
        'noeviction',
      ],
    });
  },
};
