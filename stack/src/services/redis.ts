/** Redis from Debian's package, run by the stack with append-only persistence under the state folder. */
import { mkdirSync } from 'node:fs';
import { SERVICE_DEFAULTS } from '@pep/contracts';
import { serviceStateDir } from '../paths.ts';
import { aptInstall } from '../prereq.ts';
import { commandExists, startDetached } from '../process.ts';
import { type Logger, type Service, tcpExchange } from '../service.ts';
import { ensureLocalTls } from '../tls.ts';

const { host, port, tlsPort } = SERVICE_DEFAULTS.redis;

/** The local ACL user (TLS port and plaintext alike), for testing `rediss://user:password@localhost:6380`. Local only. */
export const LOCAL_REDIS_USER = Object.freeze({ username: 'pep', password: 'pep-redis-local-secret' });
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
    const tls = ensureLocalTls();
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
        // TLS on a second port with the stack's `localhost` certificate (clients need not present one), and an ACL
        // user besides the passwordless default one the local services use.
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        tls.serverCert,
        '--tls-key-file',
        tls.serverKey,
        '--tls-ca-cert-file',
        tls.ca,
        '--tls-auth-clients',
        'no',
        '--user',
        LOCAL_REDIS_USER.username,
        'on',
        `>${LOCAL_REDIS_USER.password}`,
        '~*',
        '&*',
        '+@all',
      ],
    });
  },
};
