/**
 * PostgreSQL from Debian's package. The stack runs its own cluster (initdb on first start) under the state folder
 * as the `postgres` OS user; if a server already answers on the port it is used as it is. Either way the platform's
 * role and database are created idempotently.
 */
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_DEFAULTS } from '@pep/contracts';
import { serviceStateDir } from '../paths.ts';
import { aptInstall } from '../prereq.ts';
import { managedPid, run, runAsync, startDetached } from '../process.ts';
import { type Logger, type Service, tcpOpen } from '../service.ts';
import { ensureLocalTls } from '../tls.ts';

const { host, port, database, user, password } = SERVICE_DEFAULTS.postgres;
const STATE = serviceStateDir('postgres');
const DATA_DIR = join(STATE, 'data');
/** Unix socket of our own cluster; the superuser connects through it with trust auth. */
const SOCKET_DIR = join(STATE, 'run');
const DEBIAN_SOCKET_DIR = '/var/run/postgresql';

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

function requireBinDir(): string {
  const dir = binDir();
  if (!dir)
    throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install -y postgresql)');
  return dir;
}

/** The OS account PostgreSQL runs as (it refuses to run as root). */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(run('id', ['-u', 'postgres'], { what: 'looking up the postgres OS user' }).trim());
  const gid = Number(run('id', ['-g', 'postgres'], { what: 'looking up the postgres OS user' }).trim());
  return { uid, gid };
}

function psqlSuperuser(sql: string): string {
  const dir = requireBinDir();
  const ours = managedPid('postgres') !== undefined;
  const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-p', String(port), '-d', 'postgres', '-tA'];
  if (ours) return run(join(dir, 'psql'), [...args, '-h', SOCKET_DIR, '-U', 'postgres'], { what: 'psql', input: sql });
  // A server we did not start (e.g. Debian's own cluster): its superuser authenticates by OS user (peer).
  return run('runuser', ['-u', 'postgres', '--', join(dir, 'psql'), ...args, '-h', DEBIAN_SOCKET_DIR], {
    what: 'psql as the postgres OS user',
    input: sql,
  });
}

/** True when the platform's role can already log in to its database over TCP (then nothing needs creating). */
function platformRoleWorks(): boolean {
  try {
    run(
      join(requireBinDir(), 'psql'),
      ['-X', '-q', '-h', host, '-p', String(port), '-U', user, '-d', database, '-c', 'SELECT 1'],
      {
        what: 'psql as the platform role',
        env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' },
        timeoutMs: 10_000,
      },
    );
    return true;
  } catch {
    return false;
  }
}

export const postgres: Service = {
  name: 'postgres',
  address: `postgres://${user}@${host}:${port}/${database}`,
  startTimeoutMs: 60_000,
  stopSignal: 'SIGINT',

  async ensureInstalled(log: Logger) {
    if (!binDir()) aptInstall(['postgresql'], 'PostgreSQL is not installed', log);
  },

  async isHealthy() {
    if (!(await tcpOpen(host, port))) return false;
    try {
      await runAsync(join(requireBinDir(), 'pg_isready'), ['-q', '-h', host, '-p', String(port)], {
        what: 'pg_isready',
        timeoutMs: 5000,
      });
      return true;
    } catch {
      return false;
    }
  },

  async start(log: Logger) {
    const dir = requireBinDir();
    const owner = serverUser();
    mkdirSync(SOCKET_DIR, { recursive: true });
    if (owner) {
      chownSync(STATE, owner.uid, owner.gid);
      chownSync(SOCKET_DIR, owner.uid, owner.gid);
    }
    if (!existsSync(join(DATA_DIR, 'PG_VERSION'))) {
      log(`initialising a PostgreSQL cluster in ${DATA_DIR}`);
      mkdirSync(DATA_DIR, { recursive: true, mode: 0o700 });
      if (owner) chownSync(DATA_DIR, owner.uid, owner.gid);
      const initdbArgs = [
        '-D',
        DATA_DIR,
        '-U',
        'postgres',
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C.UTF-8',
      ];
      if (owner) run('runuser', ['-u', 'postgres', '--', join(dir, 'initdb'), ...initdbArgs], { what: 'initdb' });
      else run(join(dir, 'initdb'), initdbArgs, { what: 'initdb' });
    }
    // TLS besides plaintext (ssl=on does not require it): the stack's `localhost` certificate, so that clients can test
    // sslmode=verify-full with sslrootcert=.stack/tls/ca.pem. PostgreSQL wants its key owned by itself, mode 0600.
    const tls = ensureLocalTls();
    const certFile = join(STATE, 'server.pem');
    const keyFile = join(STATE, 'server.key');
    copyFileSync(tls.serverCert, certFile);
    copyFileSync(tls.serverKey, keyFile);
    chmodSync(keyFile, 0o600);
    if (owner) for (const f of [certFile, keyFile]) chownSync(f, owner.uid, owner.gid);
    return startDetached({
      service: 'postgres',
      command: join(dir, 'postgres'),
      args: [
        '-D',
        DATA_DIR,
        '-p',
        String(port),
        '-k',
        SOCKET_DIR,
        '-c',
        `listen_addresses=${host}`,
        // The pipeline's consumers, the workers and the tests all hold connections: room above the default 100.
        '-c',
        'max_connections=200',
        '-c',
        'shared_buffers=128MB',
        '-c',
        'ssl=on',
        '-c',
        `ssl_cert_file=${certFile}`,
        '-c',
        `ssl_key_file=${keyFile}`,
      ],
      ...(owner ? { user: owner } : {}),
    });
  },

  async provision(log: Logger) {
    if (platformRoleWorks()) return;
    const exists = psqlSuperuser(`SELECT 1 FROM pg_roles WHERE rolname = '${user}';`).trim() === '1';
    if (!exists) log(`creating role ${user} and database ${database}`);
    psqlSuperuser(
      [
        `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${user}') THEN`,
        `  CREATE ROLE ${user} LOGIN CREATEDB PASSWORD '${password}'; END IF; END $$;`,
        `SELECT 'CREATE DATABASE ${database} OWNER ${user}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${database}')\\gexec`,
      ].join('\n'),
    );
  },
};
