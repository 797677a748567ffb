#!/usr/bin/python3
"""Writes the seed corpus of tests/fuzz/fuzz_avro.c (tests/fuzz/corpus/avro/):
Confluent-framed messages encoded by Python's avro (an encoder independent
of freshet's) for the writer schemas the driver registers under ids 1-5
(copied from fuzz_avro.c: keep the two in step), plus an unknown id.
Run from the repository root: /usr/bin/python3 tests/fuzz/make_avro_seeds.py
"""
import io
import os
import re
import struct

import avro.io
import avro.schema

ROOT = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(ROOT, "corpus", "avro")


def schemas_from_driver():
    """The schema strings of fuzz_avro.c, by id (C string literals joined)."""
    text = open(os.path.join(ROOT, "fuzz_avro.c"), encoding="utf-8").read()
    body = text[text.index("schemas[NSCHEMAS] = {"):text.index("};", text.index("schemas[NSCHEMAS]"))]
    out, cur = [], None
    for line in body.splitlines()[1:]:
        line = line.strip()
        if line.startswith("NULL"):
            out.append(None)
        elif line.startswith("/*"):
            if cur is not None:
                out.append(cur)
            cur = ""
        elif line.startswith('"'):
            cur += bytes(re.match(r'"(.*)",?$', line).group(1), "utf-8").decode("unicode_escape")
    if cur is not None:
        out.append(cur)
    return out


def frame(sid, body):
    return b"\0" + struct.pack(">I", sid) + body


def enc(schema, rec):
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(rec, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def main():
    sch = [avro.schema.parse(s) if s else None for s in schemas_from_driver()]
    assert len(sch) == 6, len(sch)
    node = {"v": 1, "next": {"v": 2, "next": {"v": 3, "next": None}}}
    seeds = {
        "id1_full": (1, {"id": "c1", "n": 5, "x": 1.5, "b": True, "s": "us", "ts": 1700000000000}),
        "id1_nulls": (1, {"id": "", "n": None, "x": None, "b": None, "s": None, "ts": -1}),
        "id1_utf8": (1, {"id": "日本-é", "n": -2**63, "x": -0.0, "b": False, "s": "😀", "ts": 2**62}),
        "id2_nested": (2, {"meta": {"tags": ["a", "b"], "w": {"k": [1.0, 2.0], "j": []},
                                    "h": b"abcd", "nil": [None, None], "list": node},
                           "id": "c2", "n": 7, "x": 0.25, "s": "BB", "b": None,
                           "any": node, "ts": 1}),
        "id2_small": (2, {"meta": {"tags": [], "w": {}, "h": b"\0\0\0\0", "nil": [], "list": None},
                          "id": "c3", "n": None, "x": -1.0, "s": "CCC", "b": True,
                          "any": "str", "ts": 2}),
        "id2_any_enum": (2, {"meta": {"tags": ["x"], "w": {"a": [3.5]}, "h": b"wxyz", "nil": [None],
                                      "list": None},
                             "id": "c4", "n": 1, "x": 2.0, "s": "A", "b": False, "any": "A", "ts": 3}),
        "id3_bytes": (3, {"ts": 1700000000, "id": b"c5", "x": 12, "m": {"r": {"a": b"\xff", "z": None}},
                          "s": "fr"}),
        "id3_nulls": (3, {"ts": -5, "id": b"", "x": None, "m": {}, "s": None}),
        "id4_missing": (4, {"ts": 1}),
        "id5_incompatible": (5, {"id": "c", "x": "1.0", "ts": 1}),
    }
    os.makedirs(OUT, exist_ok=True)
    for name, (sid, rec) in seeds.items():
        with open(os.path.join(OUT, name + ".bin"), "wb") as fh:
            fh.write(frame(sid, enc(sch[sid], rec)))
    with open(os.path.join(OUT, "id9_unknown.bin"), "wb") as fh:
        fh.write(frame(9, b"\x02a\x00"))


if __name__ == "__main__":
    main()
