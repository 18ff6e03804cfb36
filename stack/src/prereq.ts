/** Installing missing system packages from Debian, with a clear message where that cannot work. */
import { run } from './process.ts';
import type { Logger } from './service.ts';

let aptUpdated = false;

export function aptInstall(packages: readonly string[], why: string, log: Logger): void {
  if (process.getuid?.() !== 0) {
    throw new Error(`${why}: install ${packages.join(' ')} (e.g. \`sudo apt-get install -y ${packages.join(' ')}\`).`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    log('apt-get update');
    run('apt-get', ['update', '-q', '-o', 'DPkg::Lock::Timeout=600'], { env, what: 'apt-get update' });
    aptUpdated = true;
  }
  log(`apt-get install ${packages.join(' ')} (${why})`);
  // Another process (a second checkout's stack, unattended upgrades) may hold dpkg's lock: wait for it.
  run('apt-get', ['install', '-y', '-q', '-o', 'DPkg::Lock::Timeout=600', '--no-install-recommends', ...packages], {
    env,
    what: `installing ${packages.join(' ')}`,
  });
}
