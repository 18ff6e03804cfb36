"""Runs SQL against a dbt target and prints the rows as JSON (tests and benchmarks read the marts with it).
Request (argv[1], JSON): {"engine": "duckdb", "path": ..., "sql": ...} or
{"engine": "trino", "host", "port", "user", "catalog", "sql"}. Answer: {"columns": [...], "rows": [[...], ...]}.
With "sqls": [...] instead of "sql", the statements run in order on one connection (one process start instead of
one per statement) and the answer {"answers": [{"columns", "rows"} or {"error"}, ...]} is written to the file "out"
(whole tables: more than a helper's stdout keeps); stdout then says {"ok": true}."""
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


def connect(req):
    if req["engine"] == "duckdb":
        import duckdb

        con = duckdb.connect(req["path"], read_only=True)
        con.execute("SET TimeZone = 'UTC'")
        return con
    import trino

    return trino.dbapi.connect(
        host=req["host"], port=req["port"], user=req.get("user", "dbt-test"), catalog=req.get("catalog", "iceberg"),
        http_scheme=req.get("scheme", "http"),
    )


def execute(req, con, sql):
    if req["engine"] == "duckdb":
        cur = con.execute(sql)
        # a statement without a result set (DDL) has no description
        cols = [d[0] for d in cur.description or []]
        rows = cur.fetchall() if cur.description else []
    else:
        cur = con.cursor()
        cur.execute(sql)
        rows = cur.fetchall()
        cols = [d[0] for d in cur.description or []]
    return {"columns": cols, "rows": [[plain(v) for v in r] for r in rows]}


def run(req):
    con = connect(req)
    if "sqls" not in req:
        return execute(req, con, req["sql"])
    answers = []
    for sql in req["sqls"]:
        try:
            answers.append(execute(req, con, sql))
        except Exception as err:
            answers.append({"error": f"{type(err).__name__}: {err}"})
    with open(req["out"], "w") as f:
        json.dump({"answers": answers}, f)
    return {"ok": True}


if __name__ == "__main__":
    try:
        print(json.dumps(run(json.loads(sys.argv[1]))))
    except Exception as err:
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        sys.exit(1)
