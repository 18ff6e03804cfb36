/**
 * A service started by a launcher (`npm start`, the security suite's Platform) stops when that launcher dies, however
 * it dies: SIGKILL and crashes included, which no signal handler sees. Processes the launcher puts in a session of
 * their own (setsid: the payment lane, issue 13) get no terminal signal either, and were left running.
 *
 * The launcher gives the child a pipe as stdin (`stdio[0] = 'pipe'`, never written) and sets `PEP_EXIT_WITH_PARENT=stdin`
 * (`exitWithParentSpawn`); the service calls `exitWithParent()` once its own SIGTERM handling is installed. The kernel
 * closes the pipe's write end when the launcher exits, the child reads end of file, and stops as on SIGTERM (its own
 * graceful shutdown), or exits with status 1 after `graceMs` if that does not end it. The pipe is inherited through
 * `tsx` (stdin `inherit`). Without the variable (a service run by hand in a terminal) nothing is watched.
 */

export const EXIT_WITH_PARENT_ENV = 'PEP_EXIT_WITH_PARENT';

/** How long the graceful shutdown may take once the parent is gone before the process exits anyway. */
export const EXIT_WITH_PARENT_GRACE_MS = 30_000;

/** The spawn options a launcher adds for a child that must exit with it: a pipe as stdin, and the variable. */
export function exitWithParentSpawn(env: NodeJS.ProcessEnv): { stdin: 'pipe'; env: NodeJS.ProcessEnv } {
  return { stdin: 'pipe', env: { ...env, [EXIT_WITH_PARENT_ENV]: 'stdin' } };
}

/**
 * Watches stdin for end of file when the launcher asked for it (`PEP_EXIT_WITH_PARENT=stdin`); returns whether it
 * watches. On end of file: `onParentGone` (a log line), SIGTERM to this process, exit(1) after `graceMs`.
 */
export function exitWithParent(
  opts: {
    env?: NodeJS.ProcessEnv;
    stdin?: NodeJS.ReadableStream;
    onParentGone?: () => void;
    graceMs?: number;
    terminate?: () => void;
  } = {},
): boolean {
  const env = opts.env ?? process.env;
  if (env.PEP_EXIT_WITH_PARENT !== 'stdin') return false;
  const stdin = opts.stdin ?? process.stdin;
  let gone = false;
  const onGone = () => {
    if (gone) return;
    gone = true;
    opts.onParentGone?.();
    setTimeout(() => process.exit(1), opts.graceMs ?? EXIT_WITH_PARENT_GRACE_MS).unref();
    (opts.terminate ?? (() => process.kill(process.pid, 'SIGTERM')))();
  };
  // Nothing is ever written: whatever arrives is discarded; end of file or an error means the parent is gone.
  stdin.on('data', () => undefined);
  stdin.once('end', onGone);
  stdin.once('close', onGone);
  stdin.once('error', onGone);
  // The pipe must not keep the event loop alive on its own: the service's own work does.
  (stdin as { unref?: () => void }).unref?.();
  return true;
}
