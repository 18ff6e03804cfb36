"""Copies the gold marts of the dbt DuckDB database into a new DuckDB file (tables only; views are materialized), for
`npm run dbt` to rename over the file the dashboards read. JSON request in argv[1], JSON answer on stdout."""
import json
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
    con.execute(f"ATTACH '{req['source']}' AS dbt (READ_ONLY)")
    con.execute("USE dbt")
    schema = req["schema"]
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'dbt' AND table_schema = ?"
            " ORDER BY table_name",
            [schema],
        ).fetchall()
        if r[0] not in set(req["exclude"])
    ]
    con.execute(f"ATTACH '{req['target']}' AS marts")
    con.execute(f'CREATE SCHEMA marts."{schema}"')
    for name in names:
        con.execute(f'CREATE TABLE marts."{schema}"."{name}" AS SELECT * FROM "{schema}"."{name}"')
    con.execute("CHECKPOINT marts")
    con.execute("DETACH marts")
    con.close()
    return {"tables": names}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
