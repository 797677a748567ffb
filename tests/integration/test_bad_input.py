#!/usr/bin/python3
"""Bad input: malformed JSON, wrong types, missing fields, oversized keys,
strings and bodies, late and future events, unknown sources/views/routes,
wrong methods, bad as_of, idempotency-key reuse.  Every refused event is in
the dead-letter queue with its reason and original payload; every error
answer is JSON; the server keeps serving.
"""
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

CONFIG = """
store:
  path: {store}
server:
  listen: "127.0.0.1:{port}"
  max_body_bytes: 65536
processor:
  commit_interval_ms: 20
sources:
  - name: ev
    timestamp: ts
    fields:
      - { name: id, type: string }
      - { name: n, type: long }
      - { name: x, type: double }
      - { name: flag, type: boolean }
      - { name: s, type: string, optional: true }
      - { name: opt, type: long, optional: true }
      - { name: ts, type: long }
feature_views:
  - name: v
    source: ev
    entity: id
    windows: [10m, 1h]
    aggregations:
      - { fn: count }
      - { fn: sum, field: n }
      - { fn: sum, field: x }
      - { fn: sum, field: opt }
      - { fn: last, field: s }
"""
HORIZON = 3600000


class Ctx:
    def __init__(self, srv, now):
        self.srv = srv
        self.http = srv.http
        self.ref = now - 60000      # the newest event time sent (the watermark)
        self.refused = []           # (reason, payload text or parsed JSON, exact?)
        self.accepted = 0

    def ev(self, i, **kw):
        e = {"id": "e%d" % i, "n": 1, "x": 0.5, "flag": True, "ts": self.ref - 1000 * (i % 50)}
        e.update(kw)
        for k in [k for k, v in kw.items() if v is DROP]:
            del e[k]
        return e

    def post(self, body, headers=None, source="ev"):
        return self.http.post("/v1/events/" + source, body, headers=headers)


DROP = object()


def expect_counts(resp, status, accepted, refused_reasons, where):
    """refused_reasons: {index: reason or set of reasons}."""
    H.expect(resp.status == status, "%s: status %d, expected %d: %r", where, resp.status, status,
             resp)
    H.expect(H.is_counts_shape(resp), "%s: not the counts shape: %r", where, resp)
    j = resp.json
    H.expect(j["accepted"] == accepted and j["rejected"] == len(refused_reasons),
             "%s: accepted %r rejected %r, expected %d and %d: %r", where, j["accepted"],
             j["rejected"], accepted, len(refused_reasons), resp)
    if accepted == 0:
        H.expect(j["first_offset"] is None and j["last_offset"] is None,
                 "%s: offsets should be null: %r", where, resp)
    errs = {e.get("index"): e for e in j.get("errors", [])}
    for idx, reason in refused_reasons.items():
        reasons = reason if isinstance(reason, set) else {reason}
        H.expect(idx in errs, "%s: no error listed for index %d: %r", where, idx, resp)
        H.expect(errs[idx].get("reason") in reasons, "%s: index %d reason %r, expected %s: %r",
                 where, idx, errs[idx].get("reason"), "/".join(sorted(reasons)), resp)
        H.expect(isinstance(errs[idx].get("detail"), str), "%s: index %d without detail", where,
                 idx)
    H.expect(set(errs) == set(refused_reasons), "%s: errors listed for %s, expected %s", where,
             sorted(errs), sorted(refused_reasons))
    return j


def expect_error(resp, status, where, error=None):
    H.expect(resp.status == status, "%s: status %d, expected %d: %r", where, resp.status, status,
             resp)
    H.expect(H.is_error_shape(resp), "%s: not {\"error\",\"detail\"} JSON: %r", where, resp)
    if error:
        H.expect(resp.json["error"] == error, "%s: error %r, expected %r", where,
                 resp.json["error"], error)


def main():
    r = H.Runner("bad_input", timeout_s=int(os.environ.get("FRESHET_IT_TIMEOUT", "150")))
    H.require_binary(r)
    srv = H.Server(CONFIG, name="badin")
    with r.case("start"):
        srv.start()
    if not srv.alive():
        r.finish()
    c = Ctx(srv, H.now_ms())

    with r.case("good_event_sets_watermark"):
        resp = c.post(json.dumps(c.ev(0, ts=c.ref)))
        expect_counts(resp, 200, 1, {}, "one good object")
        c.accepted += 1

    with r.case("malformed_object_400"):
        body = '{"id": "a", "n": 1, "x": '
        resp = c.post(body)
        H.expect(resp.status == 400, "status %d: %r", resp.status, resp)
        H.expect(H.is_error_shape(resp) or (H.is_counts_shape(resp) and resp.json["accepted"] == 0
                 and any(e.get("reason") == "malformed_json" for e in resp.json["errors"])),
                 "not an error/counts answer: %r", resp)
        c.refused.append(("malformed_json", body, True))

    with r.case("malformed_array_400"):
        body = '[' + json.dumps(c.ev(1)) + ', {"id": "b", '
        resp = c.post(body)
        H.expect(resp.status == 400, "status %d: %r", resp.status, resp)
        H.expect(H.is_error_shape(resp) or (H.is_counts_shape(resp) and resp.json["accepted"] == 0),
                 "not an error/counts answer: %r", resp)
        c.refused.append(("malformed_json", body, True))

    with r.case("ndjson_one_bad_line_others_accepted"):
        lines = [json.dumps(c.ev(2)), json.dumps(c.ev(3)), '{"id": "e4", "n": 1,, }',
                 json.dumps(c.ev(5))]
        resp = c.post("\n".join(lines) + "\n")
        expect_counts(resp, 200, 3, {2: "malformed_json"}, "NDJSON with one bad line")
        c.accepted += 3
        c.refused.append(("malformed_json", lines[2], True))

    with r.case("wrong_types_in_array"):
        evs = [c.ev(6), c.ev(7, n="12"), c.ev(8), c.ev(9, x="1.5"), c.ev(10, flag=1),
               c.ev(11, id={"k": 1}), c.ev(12, s=17), c.ev(13, ts="yesterday"), c.ev(14, n=True),
               c.ev(15, opt=[1])]
        resp = c.post(json.dumps(evs))
        bad = {1: "wrong_type", 3: "wrong_type", 4: "wrong_type", 5: "wrong_type",
               6: "wrong_type", 7: {"wrong_type", "missing_timestamp"}, 8: "wrong_type",
               9: "wrong_type"}
        expect_counts(resp, 200, 2, bad, "array with wrong types")
        c.accepted += 2
        got = {e["index"]: e["reason"] for e in resp.json["errors"]}
        for i in bad:
            c.refused.append((got[i], evs[i], False))

    with r.case("missing_required_field"):
        e = c.ev(16, x=DROP)
        resp = c.post(json.dumps(e))
        expect_counts(resp, 422, 0, {0: "missing_field"}, "event without x")
        c.refused.append(("missing_field", e, False))

    with r.case("missing_timestamp"):
        e = c.ev(17, ts=DROP)
        resp = c.post(json.dumps(e))
        expect_counts(resp, 422, 0, {0: {"missing_timestamp", "missing_field"}},
                      "event without ts")
        c.refused.append((resp.json["errors"][0]["reason"], e, False))
        e = c.ev(18, ts=None)
        resp = c.post(json.dumps(e))
        expect_counts(resp, 422, 0, {0: {"missing_timestamp", "missing_field"}},
                      "event with ts null")
        c.refused.append((resp.json["errors"][0]["reason"], e, False))

    with r.case("entity_key_too_long_or_empty"):
        evs = [c.ev(19, id="k" * 300), c.ev(20, id=""), c.ev(21, id="k" * 256)]
        resp = c.post(json.dumps(evs))
        expect_counts(resp, 200, 1, {0: "bad_entity_key", 1: "bad_entity_key"},
                      "entity keys of 300 and 0 bytes (and 256: ok)")
        c.accepted += 1
        c.refused += [("bad_entity_key", evs[0], False), ("bad_entity_key", evs[1], False)]

    with r.case("string_over_4096_bytes"):
        evs = [c.ev(22, s="y" * 4097), c.ev(23, s="y" * 4096)]
        resp = c.post(json.dumps(evs))
        expect_counts(resp, 200, 1, {0: "too_long"}, "s of 4097 bytes (and 4096: ok)")
        c.accepted += 1
        c.refused.append(("too_long", evs[0], False))

    with r.case("not_an_object"):
        body = json.dumps([c.ev(24), 42, "text", None, [1]])
        resp = c.post(body)
        expect_counts(resp, 200, 1, {1: "not_an_object", 2: "not_an_object", 3: "not_an_object",
                                     4: "not_an_object"}, "array with non-objects")
        c.accepted += 1
        for x in (42, "text", None, [1]):
            c.refused.append(("not_an_object", x, False))

    with r.case("optional_null_and_absent_accepted"):
        evs = [c.ev(25, id="opt", s=None, opt=None), c.ev(26, id="opt", s=DROP, opt=DROP),
               c.ev(27, id="opt", opt=5, s="last")]
        resp = c.post(json.dumps(evs))
        expect_counts(resp, 200, 3, {}, "nulls and absence in optional fields")
        c.accepted += 3

    with r.case("long_field_integral_double"):
        evs = [c.ev(28, id="longcheck", n=3.0), c.ev(29, id="longcheck", n=3.5),
               c.ev(30, id="longcheck", n=1e3)]
        resp = c.post("\n".join(json.dumps(e) for e in evs))
        expect_counts(resp, 200, 2, {1: "wrong_type"}, "n=3.0 (ok), 3.5 (refused), 1e3 (ok)")
        c.accepted += 2
        c.refused.append(("wrong_type", json.dumps(evs[1]), True))

    with r.case("future_event_refused"):
        e = c.ev(31, ts=H.now_ms() + 600000)
        resp = c.post(json.dumps([e, c.ev(32, ts=H.now_ms() + 60000)]))
        expect_counts(resp, 200, 1, {0: "future_timestamp"}, "10 min ahead (and 1 min: ok)")
        c.accepted += 1
        c.refused.append(("future_timestamp", e, False))

    with r.case("late_event_refused"):
        st = c.http.status()
        wm = H.source_status(st, "ev").get("watermark")
        H.expect(isinstance(wm, int), "no watermark in /v1/status: %s", json.dumps(st)[:400])
        late = c.ev(33, id="lateone", ts=wm - HORIZON - 1)
        edge = c.ev(34, id="edge", ts=wm - HORIZON)
        resp = c.post(json.dumps([late, edge]))
        expect_counts(resp, 200, 1, {0: "late"},
                      "ts = watermark - 1h - 1 (late) and = watermark - 1h (ok)")
        c.accepted += 1
        c.refused.append(("late", late, False))
        st = c.http.status()
        H.expect(H.source_status(st, "ev").get("watermark") == wm,
                 "refused/older events moved the watermark: %r -> %r", wm,
                 H.source_status(st, "ev").get("watermark"))

    with r.case("all_refused_ndjson_422"):
        lines = [json.dumps(c.ev(35, n="a")), json.dumps(c.ev(36, x=DROP))]
        resp = c.post("\n".join(lines))
        expect_counts(resp, 422, 0, {0: "wrong_type", 1: "missing_field"}, "NDJSON all refused")
        c.refused += [("wrong_type", lines[0], True), ("missing_field", lines[1], True)]

    with r.case("empty_body_400"):
        resp = c.post("")
        H.expect(resp.status == 400 and (H.is_error_shape(resp) or H.is_counts_shape(resp)),
                 "empty body: %r", resp)
        resp = c.post("  \n ")
        H.expect(resp.status == 400 and (H.is_error_shape(resp) or H.is_counts_shape(resp)),
                 "blank body: %r", resp)

    with r.case("body_over_max_body_bytes_413"):
        big = "\n".join(json.dumps(c.ev(1000 + i, s="z" * 200)) for i in range(400))
        H.expect(len(big) > 65536, "test body too small")
        resp = c.post(big)
        expect_error(resp, 413, "POST %d bytes" % len(big))
        st = c.http.status()
        # nothing of it was taken
        H.expect(H.source_status(st, "ev")["log_end_offset"] == c.accepted,
                 "log_end_offset %r, expected %d", H.source_status(st, "ev")["log_end_offset"],
                 c.accepted)
        # a body just under the limit is fine
        ok = "\n".join(json.dumps(c.ev(2000 + i, id="under")) for i in range(300))
        H.expect(len(ok) < 65536, "body too big")
        resp = c.post(ok)
        expect_counts(resp, 200, 300, {}, "POST %d bytes" % len(ok))
        c.accepted += 300

    with r.case("unknown_source_404"):
        expect_error(c.post(json.dumps(c.ev(40)), source="nosuch"), 404, "POST /v1/events/nosuch")

    with r.case("unknown_view_404"):
        expect_error(c.http.get("/v1/features/nosuch/e1"), 404, "GET /v1/features/nosuch/e1")
        expect_error(c.http.post("/v1/features", {"features": ["nosuch:*"], "entities": ["e1"]}),
                     404, "POST /v1/features nosuch:*")
        expect_error(c.http.post("/v1/features", {"features": ["v:nosuch_10m"],
                                                  "entities": ["e1"]}),
                     404, "POST /v1/features v:nosuch_10m")

    with r.case("unknown_route_404"):
        for path in ("/nosuch", "/v1/nosuch", "/v2/features/v/e1"):
            expect_error(c.http.get(path), 404, "GET " + path)

    with r.case("wrong_method_405"):
        for method, path in (("GET", "/v1/events/ev"), ("PUT", "/v1/events/ev"),
                             ("DELETE", "/v1/features/v/e1"), ("GET", "/v1/features"),
                             ("POST", "/healthz"), ("POST", "/v1/status")):
            resp = c.http.request(method, path, body=b"{}" if method != "GET" else None)
            expect_error(resp, 405, "%s %s" % (method, path))

    with r.case("huge_entity_key_get_414"):
        expect_error(c.http.get("/v1/features/v/" + "k" * 300), 414, "GET 300-byte key")
        resp = c.http.get("/v1/features/v/" + "q" * 256)
        H.expect(resp.status == 200 and resp.json.get("found") is False,
                 "GET 256-byte key: %r", resp)

    with r.case("bad_as_of_400"):
        for q in ("abc", "12x", "", "1.5", "99999999999999999999999"):
            expect_error(c.http.get("/v1/features/v/e1?as_of=" + q), 400, "as_of=" + q)
        expect_error(c.http.post("/v1/features", {"features": ["v:*"], "entities": ["e1"],
                                                  "as_of": "abc"}), 400, "POST as_of \"abc\"")

    with r.case("batch_features_bad_requests_400"):
        expect_error(c.http.post("/v1/features", '{"features": ['), 400, "malformed JSON")
        expect_error(c.http.post("/v1/features", {"entities": ["e1"]}), 400, "no features")
        expect_error(c.http.post("/v1/features", {"features": ["v"], "entities": ["e1"]}), 400,
                     "feature without view:")
        expect_error(c.http.post("/v1/features", {"features": ["v:*"], "entities": [{"a": 1}]}),
                     400, "entity not a string")

    with r.case("idempotency_key_reuse"):
        h = {"Idempotency-Key": "bad-input-key-1"}
        body = json.dumps([c.ev(50, id="idem"), c.ev(51, id="idem")])
        first = c.post(body, headers=h)
        expect_counts(first, 200, 2, {}, "first use of the key")
        c.accepted += 2
        again = c.post(body, headers=h)
        H.expect(again.status == 200 and again.json == first.json,
                 "same key, same body: %r, first answer %r", again, first)
        other = c.post(json.dumps([c.ev(52, id="idem")]), headers=h)
        expect_error(other, 422, "same key, another body", "idempotency_key_reused")
        # a key longer than server.max_key_bytes is refused
        expect_error(c.post(body, headers={"Idempotency-Key": "k" * 300}), 400,
                     "300-byte Idempotency-Key")
        st = c.http.status()
        H.expect(H.source_status(st, "ev")["log_end_offset"] == c.accepted,
                 "log_end_offset %r, expected %d (a replay or a refused key appended events)",
                 H.source_status(st, "ev")["log_end_offset"], c.accepted)

    with r.case("accepted_values_processed"):
        H.wait_caught_up(c.http, 120)
        t = c.ref + 1
        resp = c.http.features("v", "longcheck", t)
        H.expect(resp.status == 200 and resp.json["found"] is True, "%r", resp)
        f = resp.json["features"]
        H.expect(f.get("count_1h") == 2 and type(f.get("n_sum_1h")) is int and
                 f.get("n_sum_1h") == 1003, "longcheck: count 2 and n_sum 1003 (3.0 + 1e3) "
                 "as a JSON integer expected: %s", resp.text())
        resp = c.http.features("v", "opt", t)
        f = resp.json["features"]
        H.expect(f.get("count_1h") == 3 and f.get("opt_sum_1h") == 5 and
                 f.get("s_last_1h") == "last",
                 "opt: nulls/absent skipped by opt_sum and s_last only: %s", resp.text())
        resp = c.http.features("v", "lateone", t)
        H.expect(resp.json.get("found") is False, "the late event made state: %s", resp.text())
        resp = c.http.features("v", "k" * 256, t)
        H.expect(resp.json.get("found") is True, "256-byte key: %s", resp.text())

    with r.case("dlq_holds_every_refused_event"):
        rows = srv.dlq()
        st = c.http.status()
        H.expect(st.get("dead_letters") == len(c.refused),
                 "dead_letters %r, expected %d", st.get("dead_letters"), len(c.refused))
        H.expect(len(rows) == len(c.refused), "dlq list has %d rows, expected %d:\n%s",
                 len(rows), len(c.refused), "\n".join(json.dumps(x)[:200] for x in rows))
        remaining = list(rows)
        for reason, payload, exact in c.refused:
            hit = None
            for row in remaining:
                if row.get("reason") != reason or row.get("source") != "ev":
                    continue
                p = row.get("payload")
                if exact and p == payload:
                    hit = row
                elif not exact and isinstance(p, str):
                    try:
                        if json.loads(p) == payload:
                            hit = row
                    except ValueError:
                        pass
                if hit:
                    break
            H.expect(hit is not None, "no dead letter with reason %s and payload %s; rows:\n%s",
                     reason, (payload if exact else json.dumps(payload))[:200],
                     "\n".join(json.dumps(x)[:200] for x in remaining[:30]))
            for k in ("seq", "detail", "received_ms"):
                H.expect(k in hit, "dead letter without %s: %s", k, json.dumps(hit)[:300])
            remaining.remove(hit)
        seqs = [row.get("seq") for row in rows]
        H.expect(seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "seq not increasing: %s",
                 seqs)
        H.expect(srv.dlq(source="ev") == rows, "dlq list --source ev differs")
        rc, out, err = srv.cli(["dlq", "list", "--source", "other"])
        H.expect(rc == 2 and "no source named 'other'" in err and not out,
                 "dlq list --source other: exit %r, %r %r", rc, out, err)

    with r.case("still_healthy"):
        resp = c.http.get("/healthz")
        H.expect(resp.status == 200, "/healthz: %r", resp)
        resp = c.http.get("/readyz")
        H.expect(resp.status == 200, "/readyz: %r", resp)
        resp = c.post(json.dumps(c.ev(60)))
        expect_counts(resp, 200, 1, {}, "a good event at the end")

    H.check_clean_stop(r, srv)
    r.finish()


if __name__ == "__main__":
    main()
