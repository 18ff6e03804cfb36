"""`dbt <args>` started early: `npm run dbt` (src/run.ts) starts this while it resolves the bronze snapshots, so that
dbt's imports (about 1.5 s of a build that has one new day to load) overlap that work instead of following it.

It imports dbt's CLI and the target's adapter, then waits for one line on stdin: a JSON object of environment
variables to add (the pinned bronze snapshots), after which it runs dbt's own entry point with argv[2:] exactly as the
`dbt` script would, and exits with dbt's status. An empty line or a closed stdin means the wrapper decided not to run
dbt (the snapshots could not be resolved): exit 2 without running anything. argv[1] is the target type, only to choose
which adapter to import ahead; dbt itself reads the target from the arguments and the environment as usual."""
import importlib
import json
import os
import sys

from dbt.cli.main import cli

try:
    importlib.import_module(f"dbt.adapters.{sys.argv[1]}")
except ImportError:
    pass  # dbt reports a missing adapter itself, with its own message

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
sys.exit(cli())
