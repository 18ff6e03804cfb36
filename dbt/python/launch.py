"""`dbt <args>` started early: `npm run dbt` (src/run.ts) starts this while it resolves the bronze snapshots, so that
dbt's imports (about 1.5 s of a build that has one new day to load) overlap that work instead of following it.

It imports dbt's CLI and the target's adapter, then waits for one line on stdin: a JSON object of environment
variables to add (the pinned bronze snapshots), after which it runs dbt's own entry point with argv[2:] exactly as the
`dbt` script would, and exits with dbt's status. An empty line or a closed stdin means the wrapper decided not to run
dbt (the snapshots could not be resolved): exit 2 without running anything. argv[1] is the target type, only to choose
which adapter to import ahead; dbt itself reads the target from the arguments and the environment as usual.

When dbt is done, the DuckDB databases it opened are closed here (DuckDB checkpoints on close), the log handlers
flushed, and the process ends without the interpreter's teardown: after a one-new-day build that teardown (freeing
dbt's manifest, graph and modules object by object) took ~0.6 s, with nothing left to write."""
import importlib
import json
import logging
import multiprocessing.util
import os
import sys

from dbt.cli.main import cli

try:
    importlib.import_module(f"dbt.adapters.{sys.argv[1]}")
except ImportError:
    pass  # dbt reports a missing adapter itself, with its own message

# the DuckDB environments dbt creates (one database each), to close them before the process ends; another target
# does not import DuckDB's adapter at all
opened = []
if sys.argv[1] == "duckdb":
    try:
        from dbt.adapters.duckdb import environments as duckdb_environments
    except ImportError:
        duckdb_environments = None  # dbt reports the missing adapter itself
    if duckdb_environments is not None:
        _create = duckdb_environments.create

        def _create_and_keep(creds):
            env = _create(creds)
            opened.append(env)
            return env

        duckdb_environments.create = _create_and_keep

line = sys.stdin.readline()
if not line.strip():
    sys.exit(2)
extra = json.loads(line)
if not isinstance(extra, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
    sys.stderr.write("launch.py: the environment line is not a JSON object of strings\n")
    sys.exit(2)
os.environ.update(extra)
sys.stdin.close()
sys.argv = ["dbt", *sys.argv[2:]]
try:
    cli()
    status = 0
except SystemExit as done:
    status = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
for env in opened:
    env.close()  # DuckDB's checkpoint: the database file is complete before the wrapper reads it
# the semaphores of dbt's multiprocessing context: unlinked by their finalizers, or the resource tracker warns of leaks
multiprocessing.util._run_finalizers(0)
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(status)
