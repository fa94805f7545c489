#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/seeds/<target>/) from the repository's sample
events and the shared format fixtures. Run from the repository root: python3 fuzz/seeds/generate.py

The seeds are committed; scripts/ci-fuzz.sh gives them to libFuzzer next to the (git-ignored)
working corpus in fuzz/corpus/<target>/.
"""
import base64
import glob
import hashlib
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "fuzz", "seeds")


def write(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(tag, wire, payload):
    key = varint((tag << 3) | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def aggregate_body(keys, records):
    """KPL AggregatedRecord: partition_key_table (1), records (3: {pk index (1), data (3)})."""
    body = b"".join(field(1, 2, k.encode()) for k in keys)
    for index, data in records:
        rec = field(1, 0, varint(index)) + field(3, 2, data)
        body += field(3, 2, rec)
    return body


def aggregate(keys, records):
    body = aggregate_body(keys, records)
    return b"\xf3\x89\x9a\xc2" + body + hashlib.md5(body).digest()


records = []
for path in sorted(glob.glob(os.path.join(ROOT, "events", "*.jsonl"))):
    with open(path, "rb") as f:
        records += [line.rstrip(b"\r\n") for line in f if line.strip()]
with open(os.path.join(ROOT, "events", "sample-cdc-event.json")) as f:
    for r in json.load(f)["Records"]:
        try:
            records.append(base64.b64decode(r["kinesis"]["data"], validate=True))
        except Exception:
            pass
for path in sorted(glob.glob(os.path.join(ROOT, "cdc-processor", "tests", "fixtures", "*", "*.json"))):
    if "/lambda/" in path:
        continue
    with open(path) as f:
        v = json.load(f)
    for item in v if isinstance(v, list) else [v]:
        records.append(json.dumps(item, separators=(",", ":")).encode())

# Column encodings the normalizer handles, in rows of tables that have such columns.
with open(os.path.join(ROOT, "model-schemas", "examples", "calls.json")) as f:
    calls = json.load(f)
for value in [{"scale": 2, "value": "AQ=="}, "4.25", 425, "1.00000161E8"]:
    row = dict(calls, mos_score=value)
    records.append(json.dumps({"table": "calls", "operation": "INSERT",
                               "timestamp": "2026-11-25T10:14:31Z", "after": row}).encode())
with open(os.path.join(ROOT, "model-schemas", "examples", "customers.json")) as f:
    customers = json.load(f)
for value in [{"scale": 0, "value": "A+w="}, "1.004E3", 1004]:
    row = dict(customers, id=value)
    records.append(json.dumps({"data": row, "metadata": {
        "timestamp": "2026-11-25T10:40:00Z", "record-type": "data", "operation": "insert",
        "table-name": "customers", "transaction-id": 1}}).encode())

for i, r in enumerate(records):
    write("decode_record", bytes([i % 4]) + r)

agg = aggregate(["users#1", "orders#2"], [(0, records[0]), (1, records[1 % len(records)])])
write("kpl_deaggregate", aggregate_body(["a", "b"], [(0, b"one"), (1, b"two")]))
write("kpl_deaggregate", aggregate_body(["users#1"], [(0, r) for r in records[:3]]))
write("kpl_deaggregate", agg)

batches = [records[i:i + 6] for i in range(0, len(records), 6)]
for batch in batches:
    write("pipeline_batch", b"\x1e".join(bytes([0x01]) + r for r in batch))
write("pipeline_batch", b"\x1e".join([b"\x01" + records[0], b"\x01" + agg, b"\x00" + agg, b"\x81!!"]))

for sel, value in [(0x04, {"scale": 2, "value": "AQ=="}), (0x06, "1.00000161E8"),
                   (0x24, 1709283600000000), (0x44, "2024-01-15 10:30:00+02"),
                   (0xA4, "BNI="), (0xB4, "BNI="), (0x02, "12.5"), (0xE4, "{\"a\": 1}"),
                   (0x10, -1.5e-7), (0x80, [1, 2, 3])]:
    write("normalize_value", bytes([sel]) + json.dumps(value).encode())
# Row images for the two image readers (fuzz/checks/image_readers.rs): a table index (the order of
# model-schemas/*.json), an encoding selector (bits 0-1: CoreDB, Debezium, Debezium with its
# schema, DMS; bit 2: `before`), then the image.
tables = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(ROOT, "model-schemas", "*.json")))
for name in ["calls", "customers", "team_members", "users", "orders"]:
    with open(os.path.join(ROOT, "model-schemas", "examples", name + ".json")) as f:
        row = json.load(f)
    index = tables.index(name)
    for selector in [0, 1, 3, 4]:
        write("image_readers", bytes([index, selector]) + json.dumps(row).encode())
    # DMS timestamps, Debezium epoch microseconds, JSON in strings.
    dms = {k: (v.replace("T", " ").replace("Z", "") if isinstance(v, str) and v[:4].isdigit() and "T" in v else v)
           for k, v in row.items()}
    write("image_readers", bytes([index, 3]) + json.dumps(dms).encode())
    dbz = {k: (1764065671120000 if isinstance(v, str) and v[:4].isdigit() and "T" in v else v)
           for k, v in row.items()}
    write("image_readers", bytes([index, 2]) + json.dumps(dbz).encode())
with open(os.path.join(ROOT, "model-schemas", "examples", "calls.json")) as f:
    calls = json.load(f)
write("image_readers", bytes([tables.index("calls"), 2]) + json.dumps(dict(calls, carrier_cost="BNI=")).encode())
write("image_readers", bytes([tables.index("calls"), 1]) + json.dumps(dict(calls, carrier_cost="__debezium_unavailable_value")).encode())
print("seeds written to", OUT)
