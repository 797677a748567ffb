#!/usr/bin/python3
"""Writes the Avro fixtures of tests/unit/event/avro_test.c with an
independent encoder (Debian's python3-avro, avro.io.DatumWriter and
avro.datafile.DataFileWriter).

Writer schemas evolve against one reader (the source "orders" configured in
avro_test.c, repeated in READER below): fewer fields, added fields of every
Avro type the reader ignores, removed fields, int/long/float promotions,
bytes and enums read as strings, unions in both orders, multi-byte UTF-8.
For every message the expected projection is computed here from the rules
in src/event/avro.h, written next to the bytes in expected.json:
  {"messages": [{"schema": "v1.avsc", "body": "v1_0.bin",
                 "expect": {field: value, ...} | null, "ts_ms": N,
                 "reject": null | "missing_field" | ...}],
   "files": [{"file": "orders_v2.avro", "records": [ {...} | {"reject": r} ]}]}

Run from the repository root:  /usr/bin/python3 tests/unit/event/make_avro_fixtures.py
The output is deterministic (fixed sync markers), so re-running it leaves
the committed files unchanged.
"""
import io
import json
import os
import struct

import avro.datafile
import avro.io
import avro.schema

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

# The reader: name -> (type, optional, default or MISSING).  timestamp_unit: s
MISSING = object()
READER = [
    ("order_id", "string", False, MISSING),
    ("amount", "double", False, MISSING),
    ("qty", "long", True, MISSING),
    ("status", "string", True, "new"),
    ("express", "boolean", False, False),
    ("country", "string", True, MISSING),
    ("ts", "long", False, MISSING),
]
TS_UNIT_MS = 1000

STATUS = {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]}

# v0: the reader schema exactly as fr_avro_schema_json writes it (the C
# test asserts the same text): Python must accept it, defaults included.
READER_JSON = (
    '{"type":"record","name":"orders","namespace":"freshet","fields":['
    '{"name":"order_id","type":"string"},'
    '{"name":"amount","type":"double"},'
    '{"name":"qty","type":["null","long"],"default":null},'
    '{"name":"status","type":["string","null"],"default":"new"},'
    '{"name":"express","type":"boolean","default":false},'
    '{"name":"country","type":["null","string"],"default":null},'
    '{"name":"ts","type":"long"}]}'
)

SCHEMAS = {
    "v0": json.loads(READER_JSON),
    # fewer fields; int -> long, float -> double, int -> long for ts
    "v1": {
        "type": "record", "name": "Order", "namespace": "shop",
        "fields": [
            {"name": "order_id", "type": "string"},
            {"name": "amount", "type": "float"},
            {"name": "qty", "type": "int"},
            {"name": "ts", "type": "int"},
        ],
    },
    # added fields of every kind, bytes and enum as strings, unions both ways
    "v2": {
        "type": "record", "name": "Order", "namespace": "shop",
        "fields": [
            {"name": "meta", "type": {
                "type": "record", "name": "Meta", "fields": [
                    {"name": "source", "type": "string"},
                    {"name": "tags", "type": {"type": "array", "items": "string"}},
                    {"name": "weights", "type": {"type": "map", "values": "double"}},
                    {"name": "inner", "type": {"type": "record", "name": "Inner", "fields": [
                        {"name": "x", "type": "long"},
                        {"name": "h", "type": {"type": "fixed", "name": "H4", "size": 4}},
                    ]}},
                ]}},
            {"name": "order_id", "type": "bytes"},
            {"name": "amount", "type": "long"},
            {"name": "qty", "type": ["long", "null"]},
            {"name": "status", "type": STATUS},
            {"name": "country", "type": ["null", "string"]},
            {"name": "lines", "type": {"type": "array", "items": {
                "type": "record", "name": "Line", "fields": [
                    {"name": "sku", "type": "string"},
                    {"name": "n", "type": "int"},
                    {"name": "price", "type": ["null", "double"]},
                ]}}},
            {"name": "any", "type": ["null", "int", "string", "Line", {"type": "map", "values": "Status"}]},
            {"name": "express", "type": "boolean"},
            {"name": "f32", "type": "float"},
            {"name": "ts", "type": "long"},
            {"name": "raw", "type": "bytes"},
        ],
    },
    # optional-with-default as [T, "null"], a null required field, UTF-8
    "v3": {
        "type": "record", "name": "Order", "namespace": "shop",
        "fields": [
            {"name": "ts", "type": "long"},
            {"name": "country", "type": ["string", "null"], "default": "??"},
            {"name": "status", "type": ["null", "string"], "default": None},
            {"name": "order_id", "type": ["null", "string"]},
            {"name": "amount", "type": "double"},
            {"name": "express", "type": ["null", "boolean"]},
        ],
    },
    # the required field amount removed: every message is refused
    "v4": {
        "type": "record", "name": "Order", "namespace": "shop",
        "fields": [
            {"name": "order_id", "type": "string"},
            {"name": "ts", "type": "long"},
        ],
    },
}

# messages per writer schema
MESSAGES = {
    "v0": [
        {"order_id": "o-0", "amount": 0.1, "qty": None, "status": None, "express": True,
         "country": "SE", "ts": 1700000000},
        {"order_id": "o-00", "amount": -1e-300, "qty": 2 ** 63 - 1, "status": "held",
         "express": False, "country": None, "ts": -2 ** 40},
    ],
    "v1": [
        {"order_id": "o-1", "amount": 12.25, "qty": 3, "ts": 1700000000},
        {"order_id": "", "amount": -0.1, "qty": -2147483648, "ts": 2147483647},
    ],
    "v2": [
        {"meta": {"source": "web", "tags": ["a", "bb", ""], "weights": {"w": 1.5, "v": -2.0},
                  "inner": {"x": -5, "h": b"\x00\x01\x02\xff"}},
         "order_id": "o-2".encode(), "amount": 9007199254740993, "qty": None, "status": "PAID",
         "country": "FR",
         "lines": [{"sku": "s1", "n": 1, "price": 2.5}, {"sku": "s2", "n": 2, "price": None}],
         "any": {"sku": "z", "n": 0, "price": None}, "express": True, "f32": 1.25,
         "ts": 1700000001, "raw": b"\xff\xfe"},
        {"meta": {"source": "", "tags": [], "weights": {}, "inner": {"x": 0, "h": b"abcd"}},
         "order_id": "o-3".encode(), "amount": -7, "qty": 40, "status": "SHIPPED",
         "country": None, "lines": [], "any": {"k": "NEW", "l": "PAID"}, "express": False,
         "f32": -3.5, "ts": -1, "raw": b""},
        {"meta": {"source": "x" * 300, "tags": ["t"] * 50, "weights": {"k%d" % i: i * 0.5 for i in range(20)},
                  "inner": {"x": 2 ** 62, "h": b"\xff\xff\xff\xff"}},
         "order_id": "o-4".encode(), "amount": 0, "qty": 0, "status": "NEW", "country": "",
         "lines": [{"sku": "q" * 200, "n": -1, "price": -0.0}] * 10, "any": 17, "express": True,
         "f32": 0.0, "ts": 0, "raw": bytes(range(256))},
    ],
    "v3": [
        {"ts": 1700000002, "country": "日本", "status": "ok ✓", "order_id": "ordre-é-😀",
         "amount": 1e300, "express": None},
        {"ts": 1700000003, "country": None, "status": None, "order_id": "o-6",
         "amount": -2.5, "express": True},
        # null in the required order_id: refused
        {"ts": 1700000004, "country": "US", "status": "x", "order_id": None,
         "amount": 1.0, "express": False},
    ],
    "v4": [
        {"order_id": "o-7", "ts": 1},
    ],
}


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def project(schema, rec):
    """The expected reader values of rec (written with schema), or a reason."""
    wtypes = {f["name"]: f["type"] for f in schema["fields"]}
    out = {}
    for name, rtype, optional, default in READER:
        v = rec.get(name, MISSING) if name in wtypes else MISSING
        wt = wtypes.get(name)
        if v is MISSING or v is None:
            if default is not MISSING:
                out[name] = default
                continue
            if not optional:
                return None, "missing_field"
            out[name] = None
            continue
        if wt == "float":
            v = f32(v)
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        if rtype == "double":
            v = float(v)
        out[name] = v
    ts = out["ts"] * TS_UNIT_MS
    return out, ts


def encode(schema, rec):
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(rec, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def write_ocf(path, parsed, raw_schema, records, codec):
    with open(path, "wb") as fh:
        w = avro.datafile.DataFileWriter(fh, avro.io.DatumWriter(), parsed, codec=codec)
        w.sync_marker = bytes(range(16))  # deterministic output
        for r in records:
            w.append(r)
        w.close()


def main():
    avro.datafile.SYNC_INTERVAL = 200  # several blocks per file
    os.makedirs(OUT, exist_ok=True)
    expected = {"messages": [], "files": []}
    parsed = {}
    for name, sch in SCHEMAS.items():
        text = READER_JSON if name == "v0" else json.dumps(sch, ensure_ascii=False)
        with open(os.path.join(OUT, name + ".avsc"), "w", encoding="utf-8") as fh:
            fh.write(text)
        parsed[name] = avro.schema.parse(text)
        for i, rec in enumerate(MESSAGES[name]):
            body = encode(parsed[name], rec)
            bname = "%s_%d.bin" % (name, i)
            with open(os.path.join(OUT, bname), "wb") as fh:
                fh.write(body)
            vals, ts = project(sch, rec)
            expected["messages"].append({
                "schema": name + ".avsc", "body": bname, "expect": vals,
                "ts_ms": ts if vals is not None else None,
                "reject": None if vals is not None else ts,
            })
    # container files: v2 records (null and deflate codecs), v3 records
    for fname, sname, codec in (("orders_v2.avro", "v2", "null"),
                                ("orders_v2_deflate.avro", "v2", "deflate"),
                                ("orders_v3.avro", "v3", "null")):
        recs = MESSAGES[sname] * 4
        write_ocf(os.path.join(OUT, fname), parsed[sname], SCHEMAS[sname], recs, codec)
        exp = []
        for rec in recs:
            vals, ts = project(SCHEMAS[sname], rec)
            exp.append({"expect": vals, "ts_ms": ts} if vals is not None else {"reject": ts})
        expected["files"].append({"file": fname, "records": exp})
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as fh:
        json.dump(expected, fh, ensure_ascii=False, indent=1, sort_keys=True)
        fh.write("\n")


if __name__ == "__main__":
    main()
