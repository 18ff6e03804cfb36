"""Copies the gold marts of the dbt DuckDB database into a new DuckDB file (tables only; views are materialized), for
`npm run dbt` to rename over the file the dashboards read. JSON request in argv[1], JSON answer on stdout."""
import json
import os
import sys

import duckdb


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
    con.execute(f"ATTACH '{req['source']}' AS \"{source_db}\" (READ_ONLY)")
    con.execute(f'USE "{source_db}"')
    schema = req["schema"]
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_schema = ?"
            " ORDER BY table_name",
            [source_db, schema],
        ).fetchall()
        if r[0] not in set(req["exclude"])
    ]
    con.execute(f"ATTACH '{req['target']}' AS published_marts")
    con.execute(f'CREATE SCHEMA published_marts."{schema}"')
    for name in names:
        con.execute(f'CREATE TABLE published_marts."{schema}"."{name}" AS SELECT * FROM "{schema}"."{name}"')
    con.execute("CHECKPOINT published_marts")
    con.execute("DETACH published_marts")
    con.close()
    return {"tables": names}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
