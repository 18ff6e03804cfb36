"""The dbt package's side of the bronze tables, through pyiceberg on the same SQL catalog (PostgreSQL, JDBC layout) the
lake writer and Trino use. One command per call: JSON request in argv[2], one JSON line out on stdout, one JSON error
line and exit status 1 on failure (2 when the catalog cannot be reached, so callers can retry).

- snapshots: the current metadata file and snapshot of every bronze table (what a dbt run reads, and records), or
             the snapshot current at as_of_ms.
- create:    namespace and tables from the contract's Iceberg schema / partition spec JSON (contracts/src/lake.ts).
- generate:  a deterministic payment history (every provider's lifecycle, refunds, restatements, disputes, late
             deliveries, duplicate deliveries, workflow outcomes, validation DLQ records), generated in DuckDB SQL
             and appended day range by day range, continuing each Kafka partition's offsets.
- append:    explicit rows (tests: a late event, a duplicate delivery, a restated refund, a broken row).
- drop:      every table of a namespace and the namespace (test clean-up), files included.

Not the lake writer: the product writes bronze through @pep/lakehouse; this writes test and benchmark histories only.
"""
import json
import sys
import time
from datetime import datetime, timezone

TOPIC = "payments.normalized"
PARTITIONS = 3


def catalog(req):
    from pyiceberg.catalog.sql import SqlCatalog

    return SqlCatalog(req["catalog"]["name"], uri=req["catalog"]["uri"], warehouse=req["catalog"]["warehouse"])


def table_info(tbl, as_of_ms=None):
    snap = tbl.current_snapshot() if as_of_ms is None else tbl.snapshot_as_of_timestamp(as_of_ms, inclusive=True)
    return {
        "metadata_location": tbl.metadata_location,
        "table_uuid": str(tbl.metadata.table_uuid),
        "snapshot_id": str(snap.snapshot_id) if snap else None,
        "snapshot_ms": snap.timestamp_ms if snap else None,
        "summary": dict(snap.summary.additional_properties) if snap and snap.summary else {},
        "total_records": int(snap.summary.additional_properties.get("total-records", 0)) if snap and snap.summary else 0,
    }


def snapshots(req):
    from pyiceberg.exceptions import NoSuchTableError

    cat = catalog(req)
    out = {}
    for name in req["tables"]:
        try:
            out[name] = table_info(cat.load_table(f"{req['namespace']}.{name}"), req.get("as_of_ms"))
        except NoSuchTableError:
            out[name] = None
    return {"tables": out}


def create(req):
    from pyiceberg.exceptions import NamespaceAlreadyExistsError, TableAlreadyExistsError
    from pyiceberg.partitioning import PartitionSpec
    from pyiceberg.schema import Schema

    cat = catalog(req)
    try:
        cat.create_namespace(req["namespace"])
    except NamespaceAlreadyExistsError:
        pass
    created = []
    for name, t in req["tables"].items():
        try:
            cat.create_table(
                f"{req['namespace']}.{name}",
                schema=Schema.model_validate_json(t["schema"]),
                partition_spec=PartitionSpec.model_validate_json(t["spec"]),
            )
            created.append(name)
        except TableAlreadyExistsError:
            pass
    return {"created": created}


def drop(req):
    from pyiceberg.exceptions import NoSuchNamespaceError

    cat = catalog(req)
    dropped = []
    try:
        idents = cat.list_tables(req["namespace"])
    except NoSuchNamespaceError:
        return {"dropped": []}
    for ident in idents:
        cat.purge_table(ident)
        dropped.append(".".join(ident))
    cat.drop_namespace(req["namespace"])
    return {"dropped": dropped}


# ───────────────────────────── history generation (DuckDB SQL, deterministic per seed) ─────────────────────────────

# Customer currencies as the simulator's population has them (JPY without, KWD with three decimals).
CURRENCIES = [("USD", 2, 4200), ("EUR", 2, 3900), ("GBP", 2, 3500), ("CAD", 2, 5200), ("AUD", 2, 5600),
              ("CHF", 2, 3800), ("SEK", 2, 42000), ("JPY", 0, 6200), ("KWD", 3, 13000)]

STRIPE_DECLINES = ["card_declined", "expired_card", "incorrect_cvc", "insufficient_funds", "processing_error"]
SQUARE_DECLINES = ["insufficient_funds", "cvv_failure", "card_declined", "generic_decline"]
ADYEN_DECLINES = ["declined", "insufficient_funds", "expired_card", "fraud", "invalid_card"]
BRAINTREE_DECLINES = ["2000", "2001", "2004", "2046"]


def _sql_list(values):
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def history_sql(seed, first_payment, n_payments, start_ms, per_day, customers, merchants):
    """Events of payments [first_payment, first_payment + n_payments): one row per delivery, without Kafka columns."""
    cur_codes = _sql_list([c[0] for c in CURRENCIES])
    cur_typical = "[" + ", ".join(str(c[2]) for c in CURRENCIES) + "]"
    # u(tag): a uniform number in [0, 1) from the payment number, the seed and a tag; deterministic everywhere.
    u = lambda tag: f"((hash(p.n, {seed}, '{tag}') % 1000003) / 1000003.0)"  # noqa: E731
    return f"""
WITH p0 AS (
  SELECT n,
    ['stripe', 'square', 'adyen', 'braintree'][1 + (hash(n, {seed}, 'prov') % 4)::INT] AS provider,
    -- Zipf-like reuse: a few customers and merchants are very frequent, most are rare.
    (floor(pow((hash(n, {seed}, 'cus') % 1000003) / 1000003.0, 2.2) * {customers}))::BIGINT AS cust_n,
    (floor(pow((hash(n, {seed}, 'mer') % 1000003) / 1000003.0, 2.0) * {merchants}))::BIGINT AS merch_n,
    epoch_ms({start_ms}::BIGINT + (n * 86400000 // {per_day}) + (hash(n, {seed}, 'jit') % 60000)::BIGINT)::TIMESTAMPTZ
      AS created_at
  FROM range({first_payment}, {first_payment + n_payments}) t(n)
), p AS (
  SELECT p0.*,
    {cur_codes}[1 + (hash(cust_n, {seed}, 'cur') % 9)::INT] AS currency,
    {cur_typical}[1 + (hash(cust_n, {seed}, 'cur') % 9)::INT] AS typical,
    'cus_' || lpad(cust_n::VARCHAR, 7, '0') AS customer_id,
    provider || '_merchant_' || lpad(merch_n::VARCHAR, 4, '0') AS merchant_id,
    ['visa', 'mastercard', 'amex', 'discover'][1 + (hash(cust_n, {seed}, 'brand') % 4)::INT] AS card_brand,
    lpad((hash(cust_n, {seed}, 'l4') % 10000)::VARCHAR, 4, '0') AS last4
  FROM p0
), pay AS (
  SELECT p.*,
    greatest(1, (typical * (0.2 + 1.8 * {u('amt')}))::BIGINT) AS amount,
    {u('fail')} < 0.08 AS failed,
    {u('refund')} < 0.06 AS refunded,
    {u('restate')} < 0.25 AS restated,
    {u('dispute')} < 0.012 AS disputed,
    {u('lost')} < 0.55 AS dispute_lost,
    {u('noncap')} < 0.03 AS adyen_uncaptured,
    {u('late')} < 0.01 AS late,
    {u('retry')} < 0.3 AS retried,
    (hash(p.n, {seed}, 'dec') % 4)::INT AS decline_i,
    'P' || lpad(p.n::VARCHAR, 12, '0') AS ref
  FROM p
), ev AS (
  -- the payment's own events, per provider semantics
  SELECT pay.*, 0 AS step,
    CASE provider WHEN 'stripe' THEN 'payment.created' WHEN 'square' THEN 'payment.created'
      WHEN 'adyen' THEN 'payment.authorized' ELSE 'payment.authorized' END AS event_type,
    CASE provider WHEN 'adyen' THEN (CASE WHEN failed THEN 'failed' ELSE 'authorized' END)
      WHEN 'square' THEN 'pending' WHEN 'braintree' THEN 'authorized' ELSE 'requires_payment_method' END AS status,
    amount AS ev_amount, created_at AS ev_at, NULL AS object_kind
  FROM pay WHERE provider <> 'braintree'
  UNION ALL
  SELECT pay.*, 1, CASE provider
      WHEN 'stripe' THEN CASE WHEN failed THEN 'payment.failed' ELSE 'payment.succeeded' END
      WHEN 'square' THEN 'payment.updated'
      WHEN 'adyen' THEN 'payment.captured'
      ELSE CASE WHEN failed THEN 'payment.settlement_declined' ELSE 'payment.settled' END END,
    CASE provider WHEN 'stripe' THEN CASE WHEN failed THEN 'failed' ELSE 'succeeded' END
      WHEN 'square' THEN CASE WHEN failed THEN 'failed' ELSE 'succeeded' END
      WHEN 'adyen' THEN 'captured'
      ELSE CASE WHEN failed THEN 'settlement_declined' ELSE 'settled' END END,
    amount, created_at + INTERVAL 40 MINUTE, NULL
  FROM pay WHERE NOT (provider = 'adyen' AND (failed OR adyen_uncaptured))
  UNION ALL
  -- a declined Stripe PaymentIntent the customer retries and pays two hours later
  SELECT pay.*, 6, 'payment.succeeded', 'succeeded', amount, created_at + INTERVAL 160 MINUTE, NULL
  FROM pay WHERE provider = 'stripe' AND failed AND retried
  UNION ALL
  -- refunds (partial or full), some restated later with a lower amount
  SELECT pay.*, 2, CASE provider WHEN 'braintree' THEN 'refund.settled' ELSE 'refund.created' END,
    CASE provider WHEN 'adyen' THEN 'refunded' WHEN 'square' THEN 'pending' ELSE 'succeeded' END,
    greatest(1, amount // (1 + (hash(n, {seed}, 'rpart') % 3)::BIGINT)), created_at + INTERVAL 3 DAY, 'refund'
  FROM pay WHERE refunded AND (NOT failed OR (provider = 'stripe' AND retried)) AND NOT (provider = 'adyen' AND adyen_uncaptured)
  UNION ALL
  SELECT pay.*, 3, 'refund.updated', CASE WHEN provider = 'square' THEN 'succeeded' ELSE 'succeeded' END,
    CASE WHEN restated THEN greatest(1, amount // (2 + (hash(n, {seed}, 'rpart') % 3)::BIGINT))
      ELSE greatest(1, amount // (1 + (hash(n, {seed}, 'rpart') % 3)::BIGINT)) END,
    created_at + INTERVAL 4 DAY, 'refund'
  FROM pay WHERE refunded AND NOT failed AND provider IN ('stripe', 'square') AND (restated OR provider = 'square')
  UNION ALL
  -- disputes: opened, then (Stripe, Braintree) closed won or lost; Adyen's chargeback debits at once and a
  -- reversal gives the money back
  SELECT pay.*, 4, 'dispute.created',
    CASE provider WHEN 'stripe' THEN 'needs_response' ELSE 'disputed' END,
    amount, created_at + INTERVAL 12 DAY, 'dispute'
  FROM pay WHERE disputed AND NOT failed AND provider <> 'square' AND NOT (provider = 'adyen' AND adyen_uncaptured)
  UNION ALL
  SELECT pay.*, 5, CASE provider WHEN 'stripe' THEN 'dispute.closed'
      WHEN 'adyen' THEN 'dispute.reversed' ELSE CASE WHEN dispute_lost THEN 'dispute.lost' ELSE 'dispute.won' END END,
    CASE provider WHEN 'stripe' THEN CASE WHEN dispute_lost THEN 'lost' ELSE 'won' END
      WHEN 'adyen' THEN 'dispute_reversed' ELSE CASE WHEN dispute_lost THEN 'dispute_lost' ELSE 'dispute_won' END END,
    amount, created_at + INTERVAL 30 DAY, 'dispute'
  FROM pay WHERE disputed AND NOT failed AND provider <> 'square' AND NOT (provider = 'adyen' AND adyen_uncaptured)
    AND (provider <> 'adyen' OR NOT dispute_lost)
), shaped AS (
  SELECT
    provider,
    CASE provider
      WHEN 'stripe' THEN CASE WHEN object_kind = 'refund' THEN 're_' WHEN object_kind = 'dispute' THEN 'du_' ELSE 'pi_' END
      WHEN 'square' THEN CASE WHEN object_kind = 'refund' THEN 'sqr_' ELSE 'sqp_' END
      WHEN 'adyen' THEN 'psp'
      ELSE CASE WHEN object_kind = 'dispute' THEN 'btd_' ELSE 'bt_' END END
      || ref || CASE WHEN provider = 'adyen' AND step > 0 THEN 'S' || step::VARCHAR
                     WHEN provider = 'braintree' AND object_kind = 'refund' THEN 'R' ELSE '' END AS object_id,
    step, event_type, status, ev_amount, ev_at, object_kind, currency, customer_id, merchant_id, card_brand, last4,
    failed, decline_i, provider || '_' || ref AS payment_ref, late, n,
    CASE provider WHEN 'stripe' THEN 'pi_' WHEN 'square' THEN 'sqp_' WHEN 'adyen' THEN 'psp' ELSE 'bt_' END
      || ref AS payment_object_id
  FROM ev
)
SELECT
  provider || ':' || CASE provider
    WHEN 'stripe' THEN 'evt_' || ref_ev
    WHEN 'square' THEN 'sqe_' || ref_ev
    WHEN 'adyen' THEN object_id || '_' || CASE WHEN step = 0 THEN 'AUTHORISATION' WHEN step = 1 THEN 'CAPTURE'
        WHEN step = 2 THEN 'REFUND' WHEN step = 4 THEN 'CHARGEBACK' ELSE 'CHARGEBACK_REVERSED' END
    ELSE replace(event_type, '.', '_') || '_' || object_id END AS event_id,
  provider,
  CASE provider WHEN 'stripe' THEN 'evt_' || ref_ev WHEN 'square' THEN 'sqe_' || ref_ev
    WHEN 'adyen' THEN object_id || '_' || CASE WHEN step = 0 THEN 'AUTHORISATION' WHEN step = 1 THEN 'CAPTURE'
        WHEN step = 2 THEN 'REFUND' WHEN step = 4 THEN 'CHARGEBACK' ELSE 'CHARGEBACK_REVERSED' END
    ELSE replace(event_type, '.', '_') || '_' || object_id END AS provider_event_id,
  object_id,
  event_type,
  CASE provider WHEN 'stripe' THEN replace(replace(replace(event_type, 'payment.', 'payment_intent.'), 'dispute.',
      'charge.dispute.'), 'payment_intent.failed', 'payment_intent.payment_failed')
    WHEN 'adyen' THEN CASE WHEN step = 0 THEN 'AUTHORISATION' WHEN step = 1 THEN 'CAPTURE' WHEN step = 2 THEN 'REFUND'
      WHEN step = 4 THEN 'CHARGEBACK' ELSE 'CHARGEBACK_REVERSED' END
    ELSE event_type END AS provider_event_type,
  -- Stripe refunds and disputes carry no merchant (it is in the payment's metadata only); Square refunds no customer
  CASE WHEN object_kind IS NOT NULL AND provider = 'stripe' THEN NULL ELSE merchant_id END AS merchant_id,
  CASE WHEN object_kind = 'refund' AND provider = 'square' THEN NULL ELSE customer_id END AS customer_id,
  ev_amount AS amount_minor,
  currency,
  CASE WHEN object_kind = 'refund' THEN 'refund' ELSE 'card' END AS payment_method_type,
  CASE WHEN object_kind IS NULL THEN card_brand END AS card_brand,
  CASE WHEN object_kind IS NULL THEN last4 END AS card_last_four,
  status,
  CASE WHEN failed AND step IN (0, 1) AND status IN ('failed', 'settlement_declined') OR (failed AND provider = 'adyen')
    THEN CASE provider WHEN 'stripe' THEN {_sql_list(STRIPE_DECLINES)}[1 + decline_i]
      WHEN 'square' THEN {_sql_list(SQUARE_DECLINES)}[1 + decline_i]
      WHEN 'adyen' THEN {_sql_list(ADYEN_DECLINES)}[1 + decline_i]
      ELSE {_sql_list(BRAINTREE_DECLINES)}[1 + decline_i] END END AS failure_code,
  CASE WHEN failed AND step IN (0, 1) AND status IN ('failed', 'settlement_declined') OR (failed AND provider = 'adyen')
    THEN 'declined by the issuer' END AS failure_message,
  CASE
    WHEN provider = 'stripe' AND object_kind IS NOT NULL THEN json_object('linked_payment_intent', payment_object_id)
    WHEN provider = 'square' AND object_kind = 'refund' THEN json_object('payment_id', payment_object_id)
    WHEN provider = 'adyen' AND step > 0 THEN json_object('live', false, 'original_reference', payment_object_id)
    WHEN provider = 'braintree' AND object_kind = 'dispute' THEN json_object('dispute_transaction_id', payment_object_id,
      'kind', replace(event_type, '.', '_'))
    WHEN provider = 'braintree' AND object_kind = 'refund' THEN json_object('transaction_type', 'credit')
    ELSE '{{}}' END::VARCHAR AS metadata,
  ev_at AS provider_created_at,
  -- delivery: seconds after the provider event, or days for a late delivery
  ev_at + to_milliseconds(CASE WHEN late AND step = 1 THEN 86400000 * (1 + (hash(n, {seed}, 'lated') % 4))
    ELSE 200 + (hash(n, step, {seed}, 'dl') % 5000) END) AS received_at,
  n AS payment_n, step, failed
FROM (SELECT *, lpad(n::VARCHAR, 12, '0') || '_' || step::VARCHAR AS ref_ev FROM shaped)
"""


def _arrow_table_for(tbl, rows_arrow):
    """Casts an Arrow table to the Iceberg table's Arrow schema (field ids and nullability)."""
    schema = tbl.schema().as_arrow()
    cols = []
    for field in schema:
        if field.name in rows_arrow.column_names:
            cols.append(rows_arrow.column(field.name).cast(field.type))
        else:
            import pyarrow as pa

            cols.append(pa.nulls(rows_arrow.num_rows, type=field.type))
    import pyarrow as pa

    return pa.Table.from_arrays(cols, schema=schema)


def _parse_ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _positions(con, tbl):
    """Next Kafka offset and the last Kafka timestamp (ISO text, or None) per partition of a table."""
    scan = tbl.scan(selected_fields=("kafka_partition", "kafka_offset", "kafka_timestamp")).to_arrow()
    con.register("existing_offsets", scan)
    rows = con.execute(
        "SELECT kafka_partition, max(kafka_offset) + 1, strftime(max(kafka_timestamp), '%Y-%m-%dT%H:%M:%S.%f+00:00')"
        " FROM existing_offsets GROUP BY 1"
    ).fetchall()
    con.unregister("existing_offsets")
    nxt = {p: 0 for p in range(PARTITIONS)}
    last_ts = {p: None for p in range(PARTITIONS)}
    for p, o, ts in rows:
        nxt[int(p)] = int(o)
        last_ts[int(p)] = ts
    return nxt, last_ts


def _with_kafka(con, rel_sql, next_offsets, last_ts, topic):
    """Adds Kafka coordinates: partition by event_id, offsets in delivery order continuing next_offsets.

    The Kafka timestamp is the time the record was appended: never below the last one of its partition. A chunk holds
    its payments' whole lifecycle (a refund or dispute weeks later), so the next chunk's first records come after
    those in the log and carry at least their timestamp, as a broker's log would (the dbt models rely on this: see
    int_payment_events__deliveries).
    """
    base = " ".join(f"WHEN {p} THEN {o}" for p, o in next_offsets.items())
    floors = " ".join(f"WHEN {p} THEN TIMESTAMPTZ '{t}'" for p, t in last_ts.items() if t is not None)
    floor = f"CASE kafka_partition {floors} END" if floors else "NULL::TIMESTAMPTZ"
    return f"""
SELECT '{topic}' AS kafka_topic, kafka_partition,
  (CASE kafka_partition {base} ELSE 0 END) + row_number() OVER (PARTITION BY kafka_partition
     ORDER BY received_at, event_id, dup) - 1 AS kafka_offset,
  greatest(received_at + INTERVAL 30 MILLISECOND, coalesce({floor}, received_at)) AS kafka_timestamp,
  * EXCLUDE (kafka_partition)
FROM (SELECT (hash(event_id) % {PARTITIONS})::INT AS kafka_partition, * FROM ({rel_sql}))
"""


def generate(req):
    import duckdb

    cat = catalog(req)
    ns = req["namespace"]
    seed = int(req.get("seed", 7))
    days = int(req["days"])
    per_day = int(req["payments_per_day"])
    start_day = req.get("start", "2026-01-01")
    first_day = int(req.get("first_day", 0))
    chunk_days = max(1, int(req.get("chunk_days", 30)))
    customers = int(req.get("customers", max(50, per_day * 4)))
    merchants = int(req.get("merchants", max(8, per_day // 50)))
    dup_rate = float(req.get("duplicate_rate", 0.02))
    start_ms = int(datetime.fromisoformat(start_day).replace(tzinfo=timezone.utc).timestamp() * 1000)
    events = cat.load_table(f"{ns}.payment_events")
    outcomes = cat.load_table(f"{ns}.payment_outcomes")
    dlq = cat.load_table(f"{ns}.validation_dlq")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    next_offsets, last_ts = _positions(con, events)
    totals = {"payment_events": 0, "payment_outcomes": 0, "validation_dlq": 0, "snapshots": []}
    started = time.time()
    day = first_day
    while day < first_day + days:
        span = min(chunk_days, first_day + days - day)
        sql = history_sql(seed, day * per_day, span * per_day, start_ms, per_day, customers, merchants)
        con.execute(f"CREATE OR REPLACE TEMP TABLE h AS {sql}")
        # duplicate deliveries: the same normalized event again, a little later (a provider retry)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE d AS
          SELECT * REPLACE (received_at + INTERVAL 90 SECOND AS received_at), 1 AS dup FROM h
          WHERE (hash(event_id, {seed}, 'dup') % 10000) < {int(dup_rate * 10000)}
          UNION ALL SELECT *, 0 AS dup FROM h""")
        ev_sql = _with_kafka(con, "SELECT * FROM d", next_offsets, last_ts, TOPIC)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE k AS SELECT *,
            received_at + INTERVAL 25 MILLISECOND AS normalized_at, 1 AS schema_version,
            'webhooks.' || provider || '.notification' AS source_topic, kafka_partition AS source_partition,
            kafka_offset AS source_offset FROM ({ev_sql})""")
        arrow = con.execute(
            "SELECT * EXCLUDE (payment_n, step, failed, dup) FROM k ORDER BY kafka_partition, kafka_offset"
        ).to_arrow_table()
        last_chunk = day + span >= first_day + days
        props = {"pep.bench.days": str(req["mark_days"])} if last_chunk and req.get("mark_days") else {}
        events.append(_arrow_table_for(events, arrow), snapshot_properties=props)
        totals["payment_events"] += arrow.num_rows
        for p, o, ts in con.execute(
            "SELECT kafka_partition, max(kafka_offset) + 1,"
            " strftime(max(kafka_timestamp), '%Y-%m-%dT%H:%M:%S.%f+00:00') FROM k GROUP BY 1"
        ).fetchall():
            next_offsets[int(p)] = int(o)
            last_ts[int(p)] = ts
        # what the workflows decided for each event (one version per event; failed payments get a retry decision)
        out = con.execute(f"""
          SELECT event_id, provider, event_type, merchant_id, customer_id, amount_minor, currency, status,
            CASE WHEN status IN ('failed', 'settlement_declined') THEN 'failed'
                 WHEN status IN ('succeeded', 'captured', 'settled') THEN 'succeeded' ELSE 'other' END AS outcome,
            'passed' AS validation_status, '[]' AS validation_errors,
            round(least(0.999, CASE WHEN (hash(payment_n, {seed}, 'fraud') % 100) < 3 THEN 0.45 ELSE 0.02 END
              + CASE WHEN failed THEN 0.1 ELSE 0 END
              + ((hash(event_id, {seed}, 'fs') % 1000) / 1000.0) * CASE WHEN (hash(payment_n, {seed}, 'fraud') % 100) < 3
                THEN 0.55 ELSE 0.35 END), 4) AS fraud_score,
            'rules-v1' AS fraud_model_version,
            CASE WHEN status IN ('failed', 'settlement_declined') THEN ['retry_later', 'retry_immediately',
              'do_not_retry', 'update_payment_method'][1 + (hash(payment_n, {seed}, 'ra') % 4)::INT] END AS retry_action,
            CASE WHEN status IN ('failed', 'settlement_declined') THEN 3600 END AS retry_delay_seconds,
            round((hash(customer_id, {seed}, 'churn') % 1000) / 1000.0, 4) AS churn_score,
            'rules-v1' AS churn_model_version,
            'payment-' || event_id AS workflow_id, provider_created_at, received_at,
            -- the workflow stores its decision after it consumed the event from Kafka: never before the append
            -- time of the record (a later chunk floors it at the last one of the earlier chunks, see _with_kafka),
            -- so persisted_at grows across chunks as it does in PostgreSQL (int_payment_outcomes loads by it)
            kafka_timestamp + INTERVAL 2 SECOND AS persisted_at,
            row_number() OVER (ORDER BY kafka_partition, kafka_offset) + {totals['payment_outcomes']}
              + {first_day * per_day * 10} AS pg_id
          FROM k WHERE dup = 0""").to_arrow_table()
        import pyarrow.compute as pc

        fs = out.column("fraud_score")
        level = pc.if_else(pc.greater_equal(fs, 0.7), "high", pc.if_else(pc.greater_equal(fs, 0.4), "medium", "low"))
        out = out.append_column("fraud_risk_level", level)
        cs = out.column("churn_score")
        out = out.append_column(
            "churn_risk_level",
            pc.if_else(pc.greater_equal(cs, 0.75), "critical", pc.if_else(pc.greater_equal(cs, 0.5), "high", "low")),
        )
        outcomes.append(_arrow_table_for(outcomes, out))
        totals["payment_outcomes"] += out.num_rows
        # records the transformer rejected: a few per day, kept in the validation DLQ
        bad = con.execute(f"""
          SELECT 'payments.validation.dlq' AS kafka_topic, 0 AS kafka_partition,
            {day * 1000} + row_number() OVER () - 1 AS kafka_offset, received_at AS kafka_timestamp,
            event_id, provider, provider_event_id,
            ['INVALID_CURRENCY', 'INVALID_AMOUNT', 'MISSING_TIMESTAMP'][1 + (hash(event_id) % 3)::INT] AS failure_reason,
            '[{{"field":"amount","code":"INVALID_AMOUNT","message":"must be an integer"}}]' AS validation_errors,
            source_topic, source_partition, source_offset, '{{}}' AS original_payload,
            'utf8' AS original_payload_encoding, received_at, received_at + INTERVAL 1 SECOND AS quarantined_at,
            '{{}}' AS record
          FROM k WHERE (hash(event_id, {seed}, 'dlq') % 1000) < 3 AND dup = 0""").to_arrow_table()
        if bad.num_rows:
            dlq.append(_arrow_table_for(dlq, bad))
            totals["validation_dlq"] += bad.num_rows
        totals["snapshots"].append(str(events.current_snapshot().snapshot_id))
        day += span
        print(f"generated days {day - span}..{day - 1}: {totals['payment_events']} events", file=sys.stderr)
    totals["seconds"] = round(time.time() - started, 1)
    totals["next_offsets"] = next_offsets
    return totals


def append(req):
    """Appends explicit rows to one table; Kafka coordinates continue the table's offsets when left out."""
    import duckdb
    import pyarrow as pa

    cat = catalog(req)
    tbl = cat.load_table(f"{req['namespace']}.{req['table']}")
    rows = req["rows"]
    schema = tbl.schema().as_arrow()
    con = duckdb.connect()
    if req["table"] == "payment_events":
        con.execute("SET TimeZone = 'UTC'")
        nxt, last_ts = _positions(con, tbl)
        for r in rows:
            if r.get("kafka_offset") is None:
                part = int(r.get("kafka_partition", 0))
                r.setdefault("kafka_topic", TOPIC)
                r["kafka_partition"] = part
                r["kafka_offset"] = nxt[part]
                nxt[part] += 1
            if r.get("kafka_timestamp") is None:
                # appended now: never before the partition's last record (see _with_kafka)
                part = int(r.get("kafka_partition", 0))
                floor = last_ts.get(part)
                ts = r.get("received_at")
                if floor is not None and (ts is None or _parse_ts(ts) < _parse_ts(floor)):
                    ts = floor
                r["kafka_timestamp"] = ts
    cols = {}
    for field in schema:
        values = [r.get(field.name) for r in rows]
        if pa.types.is_timestamp(field.type):
            values = [None if v is None else datetime.fromisoformat(v.replace("Z", "+00:00")) for v in values]
        cols[field.name] = pa.array(values, type=field.type)
    tbl.append(pa.Table.from_pydict(cols, schema=schema))
    return {"appended": len(rows), **table_info(cat.load_table(f"{req['namespace']}.{req['table']}"))}


COMMANDS = {"snapshots": snapshots, "create": create, "drop": drop, "generate": generate, "append": append}

if __name__ == "__main__":
    command, request = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else sys.stdin.read())
    try:
        print(json.dumps(COMMANDS[command](request)))
    except Exception as err:  # one clear line for the caller, not a traceback
        unreachable = type(err).__name__ in ("OperationalError",) or "could not connect" in str(err)
        print(json.dumps({"error": f"{type(err).__name__}: {err}", "unreachable": unreachable}))
        sys.exit(2 if unreachable else 1)
