/**
 * The local stack's TLS material, made with openssl on first use: a private CA, a server certificate for `localhost`
 * (used by Kafka's SASL_SSL listener, and by PostgreSQL and Redis when they serve TLS) and a client certificate for mTLS,
 * all signed by that CA. Kept in `.stack/tls/` so that every client of this checkout trusts the same CA
 * (`KAFKA_SSL_CA_FILE=.stack/tls/ca.pem`). Local development and tests only: the CA key sits next to it, unprotected.
 * The server certificate names `localhost` only (not 127.0.0.1), so connecting to the IP with hostname verification on
 * fails: the tests use that to prove the check is on.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STATE_DIR } from './paths.ts';
import { commandExists, run } from './process.ts';

export interface TlsFiles {
  readonly dir: string;
  readonly ca: string;
  readonly caKey: string;
  /** Server certificate (SAN DNS:localhost) and its key. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** Client certificate (CN=pep-client) and its key, for mTLS. */
  readonly clientCert: string;
  readonly clientKey: string;
}

export const TLS_DIR = join(STATE_DIR, 'tls');

export function tlsFiles(dir = TLS_DIR): TlsFiles {
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}

function signed(f: TlsFiles, cn: string, cert: string, key: string, ext: string): void {
  const csr = `${cert}.csr`;
  const extFile = `${cert}.ext`;
  run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`], {
    what: `openssl key for ${cn}`,
  });
  writeFileSync(extFile, `${ext}\n`);
  run(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      f.ca,
      '-CAkey',
      f.caKey,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      '825',
      '-sha256',
      '-extfile',
      extFile,
    ],
    { what: `openssl certificate for ${cn}` },
  );
  rmSync(csr, { force: true });
  rmSync(extFile, { force: true });
}

/** Makes the CA and certificates when missing (idempotent; ~0.5 s the first time). Returns their paths. */
export function ensureLocalTls(dir = TLS_DIR): TlsFiles {
  const f = tlsFiles(dir);
  if ([f.ca, f.serverCert, f.serverKey, f.clientCert, f.clientKey].every((p) => existsSync(p))) return f;
  if (!commandExists('openssl'))
    throw new Error('the local TLS certificates are made with openssl: install it (e.g. `apt-get install -y openssl`)');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      f.caKey,
      '-out',
      f.ca,
      '-days',
      '3650',
      '-sha256',
      '-subj',
      '/CN=pep local CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    { what: 'openssl CA' },
  );
  signed(
    f,
    'localhost',
    f.serverCert,
    f.serverKey,
    'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth',
  );
  signed(f, 'pep-client', f.clientCert, f.clientKey, 'extendedKeyUsage=clientAuth');
  return f;
}
