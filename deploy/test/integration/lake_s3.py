"""Python side of deploy/test/integration/object-storage.test.ts: pyiceberg, DuckDB and boto3 against the local
S3-compatible store, each configured only from the settings the test passes in (the ones contracts/src/object-store.ts
derives from AWS_ENDPOINT_URL_S3 & co.). One command per call; JSON in (argv[1]), JSON out (stdout).
Not a library: a test helper."""
import json
import sys


def catalog(spec, s3):
    from pyiceberg.catalog import load_catalog

    if spec["type"] == "rest":
        return load_catalog("rest", **{"type": "rest", "uri": spec["uri"], **s3})
    return load_catalog(spec["name"], **{"type": "sql", "uri": spec["uri"], "warehouse": spec["warehouse"], **s3})


def write(req):
    import pyarrow as pa

    cat = catalog(req["catalog"], req["s3"])
    ns, name = req["table"].split(".")
    if (ns,) not in cat.list_namespaces():
        cat.create_namespace(ns)
    schema = pa.schema(
        [("event_id", pa.string()), ("provider", pa.string()), ("currency", pa.string()), ("amount_minor", pa.int64())]
    )
    table = cat.create_table(req["table"], schema=schema)
    rows = req["rows"]
    table.append(
        pa.table(
            {
                "event_id": [r[0] for r in rows],
                "provider": [r[1] for r in rows],
                "currency": [r[2] for r in rows],
                "amount_minor": [r[3] for r in rows],
            },
            schema=schema,
        )
    )
    table = cat.load_table(req["table"])
    files = [t.file.file_path for t in table.scan().plan_files()]
    return {"metadata_location": table.metadata_location, "location": table.location(), "data_files": files}


def totals_from_arrow(t):
    out = {}
    for cur, amount in zip(t.column("currency").to_pylist(), t.column("amount_minor").to_pylist()):
        c = out.setdefault(cur, [0, 0])
        c[0] += 1
        c[1] += amount
    return out


def read(req):
    cat = catalog(req["catalog"], req["s3"])
    return {"totals": totals_from_arrow(cat.load_table(req["table"]).scan().to_arrow())}


def snapshots(req):
    """Every snapshot of the table as the catalog serves it: id, parent, operation and summary properties."""
    cat = catalog(req["catalog"], req["s3"])
    t = cat.load_table(req["table"])
    current = t.metadata.current_snapshot_id
    out = []
    for s in t.metadata.snapshots:
        summary = {k: v for k, v in s.summary.additional_properties.items()} if s.summary else {}
        operation = s.summary.operation.value if s.summary else None
        out.append({"id": s.snapshot_id, "parent": s.parent_snapshot_id, "operation": operation, "summary": summary})
    return {"current": current, "snapshots": out}


def duckdb_totals(req):
    import duckdb

    con = duckdb.connect(
        config={
            "extension_directory": req["extension_directory"],
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "true",
        }
    )
    for ext in ("httpfs", "avro", "iceberg"):
        con.execute(f"LOAD {ext}")
    con.execute(req["secret_sql"])
    # Rows as (key, count, sum): the test's query shapes them.
    rows = con.execute(req["sql"]).fetchall()
    return {"totals": {r[0]: [int(r[1]), int(r[2])] for r in rows}}


def duckdb_rest(req):
    """DuckDB's iceberg extension attached to the REST catalog itself (no metadata path needed)."""
    import duckdb

    con = duckdb.connect(
        config={
            "extension_directory": req["extension_directory"],
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "true",
        }
    )
    for ext in ("httpfs", "avro", "iceberg"):
        con.execute(f"LOAD {ext}")
    con.execute(req["secret_sql"])
    con.execute(
        f"ATTACH '{req['warehouse']}' AS lake (TYPE iceberg, ENDPOINT '{req['uri']}', AUTHORIZATION_TYPE 'none')"
    )
    rows = con.execute(
        f"SELECT currency, count(*), sum(amount_minor)::BIGINT FROM lake.{req['table']} GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {"totals": {r[0]: [r[1], r[2]] for r in rows}}


def list_objects(req):
    import boto3

    s3 = boto3.client("s3", **req["client"])
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=req["bucket"], Prefix=req["prefix"]):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return {"keys": keys}


def trino_query(req):
    """Runs statements in order; returns the last one's rows."""
    import trino

    conn = trino.dbapi.connect(host=req["host"], port=req["port"], user="pep")
    cur = conn.cursor()
    rows = []
    for sql in req["sql"]:
        cur.execute(sql)
        rows = cur.fetchall()
    return {"rows": rows}


COMMANDS = {
    "trino": trino_query,
    "write": write,
    "read": read,
    "snapshots": snapshots,
    "duckdb": duckdb_totals,
    "duckdb-rest": duckdb_rest,
    "list": list_objects,
}

if __name__ == "__main__":
    command, request = sys.argv[1], json.loads(sys.argv[2])
    try:
        print(json.dumps(COMMANDS[command](request)))
    except Exception as err:  # one clear line for the test, not a traceback
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        sys.exit(1)
