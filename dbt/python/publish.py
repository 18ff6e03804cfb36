"""Publishes the gold marts of the dbt DuckDB database into a new DuckDB file (tables only; views are materialized),
for `npm run dbt` to rename over the file the dashboards read. JSON request in argv[1], JSON answer on stdout.

Incremental publication: when the file the dashboards read (`previous`) was published from an earlier state of this
same database (its recorded invocation id is in the database's `silver.bronze_reads`) and the build was not a full
refresh, the new file starts as a byte copy of it and each delete+insert incremental model (from dbt's manifest) takes
only its keys with rows loaded after the published copy's latest `_loaded_at` (delete those keys, insert their rows:
dbt replaced whole keys, so that is exactly what changed); its row count and latest `_loaded_at` must then equal the
database's, otherwise the table is copied whole. Other tables and the views are copied whole; a table with the same
maximum `_loaded_at` and row count is left as it is. Readers see the old file until the new one is renamed over it."""
import json
import os
import shutil
import sys

import duckdb

STATE_SCHEMA = "pep_publish"


def q(name):
    return '"' + name.replace('"', '""') + '"'


def incremental_keys(manifest_path, schema):
    """{table: [unique key columns]} of the delete+insert incremental models in `schema`, from dbt's manifest."""
    if not manifest_path or not os.path.exists(manifest_path):
        return {}
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    keys = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model" or node.get("schema") != schema:
            continue
        config = node.get("config", {})
        if config.get("materialized") != "incremental" or config.get("incremental_strategy") != "delete+insert":
            continue
        key = config.get("unique_key")
        if isinstance(key, str):
            key = [key]
        if key:
            keys[node.get("alias") or node["name"]] = list(key)
    return keys


def columns(con, catalog, schema, name):
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = ? AND table_schema = ?"
            " AND table_name = ? ORDER BY ordinal_position",
            [catalog, schema, name],
        ).fetchall()
    ]


def main(req):
    con = duckdb.connect(
        config={
            "extension_directory": req["extension_directory"],
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "true",
        },
    )
    con.execute("SET TimeZone = 'UTC'")
    # the views dbt made name their database by the file's stem: attach it under that name
    source_db = os.path.splitext(os.path.basename(req["source"]))[0]
    con.execute(f"ATTACH '{req['source']}' AS {q(source_db)} (READ_ONLY)")
    con.execute(f"USE {q(source_db)}")
    schema = req["schema"]
    objects = {
        r[0]: r[1]
        for r in con.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = ?"
            " AND table_schema = ? ORDER BY table_name",
            [source_db, schema],
        ).fetchall()
        if r[0] not in set(req["exclude"])
    }
    names = sorted(objects)

    previous = req.get("previous")
    invocation = req.get("invocation_id")
    reuse = False
    if previous and os.path.exists(previous) and invocation and not req.get("full_refresh"):
        reuse = previous_is_ancestor(con, previous, source_db, req.get("silver_schema", "silver"))
    if reuse:
        shutil.copyfile(previous, req["target"])
    con.execute(f"ATTACH '{req['target']}' AS published_marts")
    tgt = f"published_marts.{q(schema)}"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {tgt}")
    existing = set()
    if reuse:
        existing = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'published_marts'"
                " AND table_schema = ?",
                [schema],
            ).fetchall()
        }
        for name in existing - set(names):
            con.execute(f"DROP TABLE {tgt}.{q(name)}")
    keys = incremental_keys(req.get("manifest"), schema) if reuse else {}
    modes = {}
    for name in names:
        src = f"{q(schema)}.{q(name)}"
        dst = f"{tgt}.{q(name)}"
        mode = "copied"
        if name in existing and objects[name] == "BASE TABLE":
            mode = sync_table(con, src, dst, keys.get(name), columns(con, source_db, schema, name),
                              columns(con, "published_marts", schema, name))
        if mode == "copied":
            con.execute(f"CREATE OR REPLACE TABLE {dst} AS SELECT * FROM {src}")
        modes[name] = mode
    con.execute(f"CREATE SCHEMA IF NOT EXISTS published_marts.{STATE_SCHEMA}")
    con.execute(
        f"CREATE OR REPLACE TABLE published_marts.{STATE_SCHEMA}.state AS"
        " SELECT ?::varchar AS invocation_id, now() AS published_at",
        [invocation],
    )
    con.execute("CHECKPOINT published_marts")
    con.execute("DETACH published_marts")
    con.close()
    return {"tables": names, "modes": modes}


def previous_is_ancestor(con, previous, source_db, silver):
    """True when `previous` was published from a state of this database: its invocation id is in bronze_reads."""
    try:
        con.execute(f"ATTACH '{previous}' AS previous_marts (READ_ONLY)")
        try:
            row = con.execute(f"SELECT invocation_id FROM previous_marts.{STATE_SCHEMA}.state").fetchone()
        finally:
            con.execute("DETACH previous_marts")
        if not row or not row[0]:
            return False
        hit = con.execute(
            f"SELECT count(*) FROM {q(source_db)}.{q(silver)}.bronze_reads WHERE invocation_id = ?", [row[0]]
        ).fetchone()
        return hit[0] > 0
    except duckdb.Error:
        return False


def sync_table(con, src, dst, key, src_cols, dst_cols):
    """Brings the published copy `dst` of `src` up to date; 'unchanged' / 'merged', or 'copied' when it cannot."""
    if src_cols != dst_cols or "_loaded_at" not in src_cols:
        return "copied"
    (pub_max, pub_count) = con.execute(f"SELECT max(_loaded_at), count(*) FROM {dst}").fetchone()
    (src_max, src_count) = con.execute(f"SELECT max(_loaded_at), count(*) FROM {src}").fetchone()
    if pub_max == src_max and pub_count == src_count:
        return "unchanged"
    if not key or pub_max is None or src_max is None or pub_max > src_max:
        return "copied"
    on = " AND ".join(f"d.{q(k)} IS NOT DISTINCT FROM c.{q(k)}" for k in key)
    cols = ", ".join(q(c) for c in src_cols)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"CREATE TEMP TABLE pep_changed AS SELECT * FROM {src} WHERE _loaded_at > ?", [pub_max]
        )
        con.execute(
            f"DELETE FROM {dst} AS d WHERE EXISTS (SELECT 1 FROM pep_changed AS c WHERE {on})"
        )
        con.execute(f"INSERT INTO {dst} ({cols}) SELECT {cols} FROM pep_changed")
        con.execute("DROP TABLE pep_changed")
        (new_max, new_count) = con.execute(f"SELECT max(_loaded_at), count(*) FROM {dst}").fetchone()
        if new_max != src_max or new_count != src_count:
            con.execute("ROLLBACK")
            return "copied"
        con.execute("COMMIT")
    except duckdb.Error:
        con.execute("ROLLBACK")
        raise
    return "merged"


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
