"""Runs SQL against a dbt target and prints the rows as JSON (tests and benchmarks read the marts with it).
Request (argv[1], JSON): {"engine": "duckdb", "path": ..., "sql": ...} or
{"engine": "trino", "host", "port", "user", "catalog", "sql"}. Answer: {"columns": [...], "rows": [[...], ...]}."""
import datetime
import decimal
import json
import sys


def plain(v):
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    return v


def run(req):
    if req["engine"] == "duckdb":
        import duckdb

        con = duckdb.connect(req["path"], read_only=True)
        con.execute("SET TimeZone = 'UTC'")
        cur = con.execute(req["sql"])
        # a statement without a result set (DDL) has no description
        cols = [d[0] for d in cur.description or []]
        rows = cur.fetchall() if cur.description else []
    else:
        import trino

        con = trino.dbapi.connect(
            host=req["host"], port=req["port"], user=req.get("user", "dbt-test"), catalog=req.get("catalog", "iceberg"),
            http_scheme=req.get("scheme", "http"),
        )
        cur = con.cursor()
        cur.execute(req["sql"])
        rows = cur.fetchall()
        cols = [d[0] for d in cur.description or []]
    return {"columns": cols, "rows": [[plain(v) for v in r] for r in rows]}


if __name__ == "__main__":
    try:
        print(json.dumps(run(json.loads(sys.argv[1]))))
    except Exception as err:
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        sys.exit(1)
