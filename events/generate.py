#!/usr/bin/env python3
"""Generates the sample change records in events/ from model-schemas/examples/.

    python3 events/generate.py

Writes coredb-trigger.jsonl, debezium.jsonl, dms.jsonl (JSON lines of raw change records, for
`cdc-processor local`) and sample-cdc-event.json (a Lambda Kinesis event mixing all three formats,
a KPL aggregate and one bad record of each kind). Deterministic: running it again gives the same
files. Standard library only.
"""

import base64
import copy
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
EXAMPLES = ROOT / "model-schemas" / "examples"
# The SAM template's default stream in moto's default account and region, so that checkpoints
# written by `cdc-ops invoke` on this event are the ones the health check reads.
STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/coredb-cdc-stream"
SHARD = "shardId-000000000000"
TS = "2026-11-25T10:14:31Z"
TS_MS = 1795601671000


def example(table):
    return json.loads((EXAMPLES / f"{table}.json").read_text())


def line(record):
    return json.dumps(record, separators=(",", ":"))


# ---------------------------------------------------------------- CoreDB trigger format

def trigger(table, op, before, after, txid="txn-4471"):
    return {"table": table, "operation": op, "timestamp": TS, "transaction_id": txid,
            "before": before, "after": after}


def coredb_records():
    users, orders, agents, customers = (example(t) for t in ("users", "orders", "agents", "customers"))
    users_after = dict(users, status="inactive", updated_at="2026-11-25T10:20:00Z")
    agents_after = dict(agents, max_concurrent_chats=agents.get("max_concurrent_chats", 2))
    good = [
        trigger("users", "INSERT", None, users),
        trigger("users", "UPDATE", {"id": users["id"], "status": "active"}, users_after),
        trigger("orders", "INSERT", None, orders, txid=98121),
        trigger("agents", "UPDATE", None, agents_after),
        trigger("customers", "INSERT", None, customers),
        trigger("users", "DELETE", users_after, None),
        trigger("queues", "TRUNCATE", None, None),
    ]
    bad_status = dict(users, status="on_holiday")
    return good, [
        '{"table":"users","operation":"INSERT","timestamp":"2026-',  # PARSE_ERROR: truncated
        line(trigger("user_secrets", "INSERT", None, {"id": 1})),     # VALIDATION_ERROR: unknown table
        line(trigger("users", "INSERT", None, bad_status)),          # VALIDATION_ERROR: not in the enum
    ]


# ---------------------------------------------------------------- Debezium

def debezium(op, table, before, after, snapshot="false", txid=7741):
    return {"op": op, "before": before, "after": after, "ts_ms": TS_MS + 40,
            "source": {"version": "3.0.0.Final", "connector": "postgresql", "name": "coredb",
                       "ts_ms": TS_MS, "snapshot": snapshot, "db": "coredb", "schema": "public",
                       "table": table, "txId": txid, "lsn": 24023128},
            "transaction": {"id": f"{txid}:24023128", "total_order": 1, "data_collection_order": 1}}


def customers_debezium_encoded():
    """A customers row as Debezium encodes it: epoch timestamps, binary decimal, JSON as text."""
    row = example("customers")
    row["created_at"] = 1565623300000000  # io.debezium.time.MicroTimestamp
    row["updated_at"] = TS_MS * 1000
    row["last_contacted_at"] = 1795600925000000
    row["date_of_birth"] = 4182  # io.debezium.time.Date: days since 1970-01-01
    row["custom_fields"] = json.dumps(row["custom_fields"])  # io.debezium.data.Json
    value = 124050  # lifetime_value 1240.50, org.apache.kafka.connect.data.Decimal scale 2
    row["lifetime_value"] = base64.b64encode(value.to_bytes(3, "big", signed=True)).decode()
    return row


def customers_schema():
    def f(field, typ, name=None, optional=False, params=None):
        out = {"type": typ, "optional": optional, "field": field}
        if name:
            out["name"] = name
        if params:
            out["parameters"] = params
        return out
    fields = [
        f("id", "int64"), f("tenant_id", "string", "io.debezium.data.Uuid"),
        f("external_ref", "string", optional=True), f("first_name", "string"), f("last_name", "string"),
        f("email", "string"), f("phone", "string", optional=True),
        f("date_of_birth", "int32", "io.debezium.time.Date", True),
        f("company_name", "string", optional=True), f("segment", "string", "io.debezium.data.Enum"),
        f("preferred_language", "string"), f("preferred_channel", "string", "io.debezium.data.Enum"),
        f("time_zone", "string", optional=True), f("vip", "boolean"), f("marketing_opt_in", "boolean"),
        f("status", "string", "io.debezium.data.Enum"), f("merged_into_id", "int64", optional=True),
        f("lifetime_value", "bytes", "org.apache.kafka.connect.data.Decimal",
          params={"scale": "2", "connect.decimal.precision": "15"}),
        f("currency", "string"), {"type": "array", "items": {"type": "string"}, "optional": False, "field": "tags"},
        f("custom_fields", "string", "io.debezium.data.Json", True),
        f("last_contacted_at", "int64", "io.debezium.time.MicroTimestamp", True),
        f("created_at", "int64", "io.debezium.time.MicroTimestamp"),
        f("updated_at", "int64", "io.debezium.time.MicroTimestamp"),
    ]
    return {"type": "struct", "name": "coredb.public.customers.Envelope", "optional": False, "fields": [
        {"type": "struct", "fields": fields, "optional": True, "name": "coredb.public.customers.Value", "field": "before"},
        {"type": "struct", "fields": fields, "optional": True, "name": "coredb.public.customers.Value", "field": "after"},
        {"type": "struct", "fields": [], "optional": False, "name": "io.debezium.connector.postgresql.Source", "field": "source"},
        {"type": "string", "optional": False, "field": "op"},
        {"type": "int64", "optional": True, "field": "ts_ms"},
    ]}


def debezium_records():
    customers = example("customers")
    encoded = customers_debezium_encoded()
    updated = dict(encoded, segment="small_business", updated_at=(TS_MS + 60000) * 1000)
    agents = example("agents")
    # Without the schema wrapper: strings for decimals (decimal.handling.mode=string), timestamps
    # as ISO strings (ZonedTimestamp).
    plain = dict(customers, id=1005, email="r.okafor@example.net", first_name="Rita", last_name="Okafor")
    good = [
        {"status": "BEGIN", "id": "7741:24023128", "ts_ms": TS_MS, "event_count": None, "data_collections": None},
        debezium("c", "customers", None, plain),
        {"schema": customers_schema(), "payload": debezium("u", "customers", {"id": encoded["id"]}, updated)},
        debezium("d", "customers", {"id": 1005}, None),
        None,  # the tombstone that follows a delete
        {"status": "END", "id": "7741:24023128", "ts_ms": TS_MS + 90, "event_count": 3,
         "data_collections": [{"data_collection": "public.customers", "event_count": 3}]},
        debezium("r", "agents", None, agents, snapshot="last", txid=7700),
        debezium("t", "customers", None, None, txid=7750),
    ]
    no_schema_binary = debezium("c", "customers", None, dict(encoded, id=1006))
    return good, [
        line(dict(debezium("c", "customers", None, plain), op="x")),  # PARSE_ERROR: unknown op
        line(no_schema_binary),  # VALIDATION_ERROR: binary decimal without the schema's scale
    ]


# ---------------------------------------------------------------- DMS

def dms(op, table, data, before=None, txid=1139, record_type="data"):
    rec = {"data": data, "metadata": {
        "timestamp": "2026-11-25T10:14:31.375525Z", "record-type": record_type, "operation": op,
        "partition-key-type": "schema-table", "schema-name": "public", "table-name": table,
        "commit-timestamp": "2026-11-25T10:14:31.366257Z", "transaction-id": txid,
        "transaction-record-id": 1}}
    if before is not None:
        rec["before-image"] = before
    return rec


def dms_records():
    orders, agents = example("orders"), example("agents")
    load = dict(orders, id="9a1f3c2e-7b4d-4e8a-b1c0-3d2e5f6a7b82",
                created_at="2026-11-24 09:00:00.000000", updated_at="2026-11-24 09:05:00.000000")
    load["payment_details"] = json.dumps(load["payment_details"])  # DMS writes JSON columns as text
    inserted = dict(orders, payment_details=json.dumps(orders["payment_details"]))
    updated = dict(inserted, status="fulfilled", updated_at="2026-11-25 10:20:00.000000")
    deleted = {k: None for k in orders}
    deleted["id"] = orders["id"]
    control = {"control": {"table-def": {"columns": {"id": {"type": "WSTRING", "length": 36, "nullable": False}},
                                         "primary-key": ["id"]}},
               "metadata": {"timestamp": "2026-11-25T10:00:00.000000Z", "record-type": "control",
                            "operation": "create-table", "partition-key-type": "task-id",
                            "schema-name": "public", "table-name": "orders"}}
    good = [
        control,
        dms("load", "orders", load),
        dms("insert", "orders", inserted),
        dms("update", "orders", updated, before={"id": orders["id"], "status": "paid"}, txid=1140),
        dms("delete", "orders", deleted, txid=1141),
        dms("insert", "agents", agents, txid=1142),
    ]
    sci = dict(inserted, id="9a1f3c2e-7b4d-4e8a-b1c0-3d2e5f6a7b83")
    no_type = dms("insert", "orders", inserted)
    del no_type["metadata"]["record-type"]
    text = line(dms("insert", "orders", sci, txid=1143))
    # DMS writes BigInts of more than 16 digits in scientific notation; 1.0045E3 is 1004.5,
    # not an integer: rejected, never truncated.
    text = text.replace('"customer_id":1004', '"customer_id":1.0045E3')
    good_sci = line(dms("insert", "orders", dict(sci, id="9a1f3c2e-7b4d-4e8a-b1c0-3d2e5f6a7b84"), txid=1144))
    good_sci = good_sci.replace('"customer_id":1004', '"customer_id":1.004E3')
    return good, [good_sci], [
        line(no_type),  # PARSE_ERROR: record-type missing
        text,           # VALIDATION_ERROR: not an integer
    ]


# ---------------------------------------------------------------- KPL and the Lambda event

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(tag, wire, payload):
    key = varint(tag << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def kpl_aggregate(partition_keys, records):
    """Magic, protobuf AggregatedRecord, MD5 of the protobuf (the KPL's aggregation format)."""
    body = b"".join(field(1, 2, k.encode()) for k in partition_keys)
    for key_index, data in records:
        rec = field(1, 0, varint(key_index)) + field(3, 2, data)
        body += field(3, 2, rec)
    return b"\xf3\x89\x9a\xc2" + body + hashlib.md5(body).digest()


def kinesis_record(i, data, partition_key, b64=None):
    seq = f"4959033827149025660855969253836157109592157598913{i:07d}"
    return {
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": partition_key, "sequenceNumber": seq,
                    "data": b64 if b64 is not None else base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": 1795601671.5 + i / 100},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{SHARD}:{seq}",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::123456789012:role/cdc-processor",
        "awsRegion": "us-east-1", "eventSourceARN": STREAM,
    }


def main():
    c_good, c_bad = coredb_records()
    d_good, d_bad = debezium_records()
    m_good, m_sci, m_bad = dms_records()
    (EVENTS / "coredb-trigger.jsonl").write_text(
        "\n".join([line(r) for r in c_good] + c_bad) + "\n")
    (EVENTS / "debezium.jsonl").write_text(
        "\n".join([line(r) if r is not None else "null" for r in d_good] + d_bad) + "\n")
    (EVENTS / "dms.jsonl").write_text("\n".join([line(r) for r in m_good] + m_sci + m_bad) + "\n")

    records = []
    def add(data, pk, b64=None):
        records.append(kinesis_record(len(records), data, pk, b64))
    for r in c_good[:3]:
        add(line(r).encode(), r["table"])
    add(line(d_good[0]).encode(), "txn")             # Debezium BEGIN
    add(line(d_good[1]).encode(), "customers")       # Debezium create
    add(line(d_good[2]).encode(), "customers")       # Debezium update with the schema wrapper
    add(b"", "customers")                            # Debezium Server tombstone: empty data
    add(line(m_good[0]).encode(), "orders")          # DMS control
    add(line(m_good[2]).encode(), "orders")          # DMS insert
    add(line(m_good[3]).encode(), "orders")          # DMS update with before-image
    users = example("users")
    kpl = kpl_aggregate(["users-a", "users-b"], [
        (0, line(trigger("users", "UPDATE", None, dict(users, name=f"Priya Raman ({n})"))).encode())
        for n in range(3)
    ])
    add(kpl, "users-a")                              # a KPL aggregate of three user records
    add(b"", "bad", b64="not*base64")                # PARSE_ERROR: bad base64
    add(c_bad[0].encode(), "users")                  # PARSE_ERROR: truncated JSON
    add(c_bad[2].encode(), "users")                  # VALIDATION_ERROR: value not in the enum
    teams = example("teams")
    teams["description"] = "Oversized team description. " * 10000
    add(line(trigger("teams", "UPDATE", None, teams)).encode(), "teams")  # ENTRY_TOO_LARGE
    add(line(trigger("agents", "UPDATE", None, example("agents"))).encode(), "agents")
    event = {"Records": records}
    (EVENTS / "sample-cdc-event.json").write_text(json.dumps(event, indent=2) + "\n")


if __name__ == "__main__":
    main()
