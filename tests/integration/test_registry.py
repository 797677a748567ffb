#!/usr/bin/python3
"""Schema registry: the Confluent REST subset of a running `freshet serve`
driven with urllib the way a Confluent client drives it (same paths, headers
and bodies as confluent_kafka's SchemaRegistryClient); `freshet schema
register|list|check|delete` against the embedded registry while the server
runs; DELETE /subjects/{s} soft, then ?permanent=true, with Confluent's
error codes;
and external mode: a second freshet configured with schema_registry.url
pointing at the first, whose CLI goes over HTTP and sees the same registry,
whose server refuses registry routes with a pointer to the URL, and a
registry that is down or silent gives a clear error and exit 1 within
timeout_ms.
"""
import json
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

CONFIG = """\
store:
  path: {store}
server:
  listen: "127.0.0.1:{port}"
sources:
  - name: tx
    timestamp: ts
    fields:
      - { name: k, type: string }
      - { name: ts, type: long }
feature_views:
  - { name: v, source: tx, entity: k, windows: [1h], aggregations: [{ fn: count }] }
"""

CT = "application/vnd.schemaregistry.v1+json"
ACCEPT = ("application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, "
          "application/json")

V1 = {"type": "record", "name": "Order", "namespace": "shop",
      "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "double"}]}
V2 = {"type": "record", "name": "Order", "namespace": "shop",
      "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "double"},
                 {"name": "currency", "type": "string", "default": "EUR"}]}
V3 = {"type": "record", "name": "Order", "namespace": "shop",
      "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "double"},
                 {"name": "currency", "type": "string", "default": "EUR"},
                 {"name": "country", "type": "string"}]}
V3_REASON = "field 'country' of the new schema has no default and is missing in version 2"


class Client:
    """What confluent_kafka.schema_registry's RestService does, on urllib."""

    def __init__(self, base):
        self.base = base.rstrip("/")

    def request(self, method, path, body=None):
        headers = {"Accept": ACCEPT}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers = {"Content-Length": str(len(data)), "Content-Type": CT}
        req = urllib.request.Request(self.base + "/" + path, data=data, headers=headers,
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                return r.status, json.loads(raw), r.headers.get("Content-Type")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                j = json.loads(raw)
            except ValueError:
                raise AssertionError("%s %s: HTTP %d, not JSON: %r" % (method, path, e.code,
                                                                       raw[:300]))
            return e.code, j, e.headers.get("Content-Type")

    @staticmethod
    def q(subject):
        return urllib.parse.quote(subject, safe="")

    def register(self, subject, schema):
        return self.request("POST", "subjects/%s/versions" % self.q(subject),
                            {"schema": json.dumps(schema)})

    def lookup(self, subject, schema):
        return self.request("POST", "subjects/%s" % self.q(subject), {"schema": json.dumps(schema)})

    def compat(self, subject, schema, version="latest"):
        return self.request("POST", "compatibility/subjects/%s/versions/%s" %
                            (self.q(subject), version), {"schema": json.dumps(schema)})


def expect_error(status, body, want_status, want_code):
    H.expect(status == want_status, "HTTP %d, expected %d: %r", status, want_status, body)
    H.expect(isinstance(body, dict) and body.get("error_code") == want_code and
             isinstance(body.get("message"), str),
             "expected {error_code: %d, message}, got %r", want_code, body)


def cli_id(out):
    m = re.search(r"schema id (\d+)", out)
    H.expect(m, "no 'schema id N' in %r", out)
    return int(m.group(1))


def write(path, obj):
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj, indent=2))
    return path


def main():
    r = H.Runner("registry", timeout_s=int(os.environ.get("FRESHET_IT_TIMEOUT", "300")))
    H.require_binary(r)
    srv = H.Server(CONFIG, name="registry", cmd="serve")
    srv.start()
    c = Client("http://127.0.0.1:%d" % srv.port)
    tmp = H.make_tmpdir("freshet-registry-files-")

    # ---- the REST API, as a Confluent client uses it ----------------------------------
    with r.case("register_v1"):
        st, j, ct = c.register("orders-value", V1)
        H.expect(st == 200 and j == {"id": 1}, "HTTP %d %r", st, j)
        H.expect(ct and ct.startswith(CT), "Content-Type %r", ct)

    with r.case("register_v2_with_default"):
        st, j, _ = c.register("orders-value", V2)
        H.expect(st == 200 and j == {"id": 2}, "HTTP %d %r", st, j)

    with r.case("register_v3_incompatible_409_with_reason"):
        st, j, _ = c.register("orders-value", V3)
        expect_error(st, j, 409, 409)
        H.expect(V3_REASON in j["message"], "message %r lacks %r", j["message"], V3_REASON)

    with r.case("register_is_idempotent_and_ids_are_global"):
        st, j, _ = c.register("orders-value", V1)
        H.expect(st == 200 and j == {"id": 1}, "again: HTTP %d %r", st, j)
        # whitespace and key order do not make another schema
        st, j, _ = c.request("POST", "subjects/orders-value/versions",
                             {"schema": json.dumps(V2, indent=4, sort_keys=True)})
        H.expect(st == 200 and j == {"id": 2}, "reformatted: HTTP %d %r", st, j)
        st, j, _ = c.register("copy-value", V1)
        H.expect(st == 200 and j == {"id": 1}, "another subject: HTTP %d %r", st, j)
        st, j, _ = c.request("GET", "subjects/orders-value/versions")
        H.expect(st == 200 and j == [1, 2], "versions %r", j)

    with r.case("compatibility_endpoint"):
        st, j, _ = c.compat("orders-value", V3)
        H.expect(st == 200 and j.get("is_compatible") is False, "v3: HTTP %d %r", st, j)
        H.expect(V3_REASON in (j.get("messages") or [""])[0], "messages %r", j.get("messages"))
        st, j, _ = c.compat("orders-value", V2)
        H.expect(st == 200 and j == {"is_compatible": True}, "v2: HTTP %d %r", st, j)
        st, j, _ = c.compat("orders-value", V3, version=1)
        H.expect(st == 200 and j.get("is_compatible") is False, "v3 vs 1: %r", j)
        st, j, _ = c.compat("nope", V2)
        expect_error(st, j, 404, 40401)

    with r.case("config_per_subject_none_then_v3"):
        st, j, _ = c.request("GET", "config")
        H.expect(st == 200 and j == {"compatibilityLevel": "BACKWARD"}, "global: %r", j)
        st, j, _ = c.request("GET", "config/orders-value")
        expect_error(st, j, 404, 40408)
        st, j, _ = c.request("PUT", "config/orders-value", {"compatibility": "NONE"})
        H.expect(st == 200 and j == {"compatibility": "NONE"}, "PUT: HTTP %d %r", st, j)
        st, j, _ = c.request("GET", "config/orders-value")
        H.expect(st == 200 and j == {"compatibilityLevel": "NONE"}, "GET: %r", j)
        st, j, _ = c.request("PUT", "config/orders-value", {"compatibility": "SIDEWAYS"})
        expect_error(st, j, 422, 42203)
        st, j, _ = c.register("orders-value", V3)
        H.expect(st == 200 and j == {"id": 3}, "v3 under NONE: HTTP %d %r", st, j)
        st, j, _ = c.request("GET", "config")
        H.expect(j == {"compatibilityLevel": "BACKWARD"}, "global changed: %r", j)

    with r.case("get_by_id_and_versions"):
        st, j, _ = c.request("GET", "schemas/ids/1")
        H.expect(st == 200 and json.loads(j["schema"]) == V1, "id 1: HTTP %d %r", st, j)
        st, j, _ = c.request("GET", "schemas/ids/3")
        H.expect(st == 200 and json.loads(j["schema"]) == V3, "id 3: %r", j)
        st, j, _ = c.request("GET", "schemas/ids/999")
        expect_error(st, j, 404, 40403)
        st, j, _ = c.request("GET", "subjects/orders-value/versions/latest")
        H.expect(st == 200 and j.get("subject") == "orders-value" and j.get("version") == 3 and
                 j.get("id") == 3 and json.loads(j["schema"]) == V3, "latest: %r", j)
        st, j, _ = c.request("GET", "subjects/orders-value/versions/2")
        H.expect(st == 200 and j.get("version") == 2 and j.get("id") == 2, "v2: %r", j)
        st, j, _ = c.request("GET", "subjects/orders-value/versions/9")
        expect_error(st, j, 404, 40402)
        st, j, _ = c.request("GET", "subjects/orders-value/versions/latest/schema")
        H.expect(st == 200 and j == V3, "raw schema: %r", j)
        st, j, _ = c.request("GET", "schemas/ids/1/versions")
        H.expect(st == 200 and sorted((x["subject"], x["version"]) for x in j) ==
                 [("copy-value", 1), ("orders-value", 1)], "id 1 versions: %r", j)

    with r.case("list_subjects_and_lookup"):
        st, j, _ = c.request("GET", "subjects")
        H.expect(st == 200 and j == ["copy-value", "orders-value"], "subjects %r", j)
        st, j, _ = c.lookup("orders-value", V2)
        H.expect(st == 200 and j.get("id") == 2 and j.get("version") == 2, "lookup v2: %r", j)
        st, j, _ = c.lookup("copy-value", V2)
        expect_error(st, j, 404, 40403)
        st, j, _ = c.request("GET", "subjects/nope/versions")
        expect_error(st, j, 404, 40401)

    with r.case("invalid_schemas_and_odd_subjects"):
        st, j, _ = c.register("bad-value", {"type": "record", "name": "X",
                                            "fields": [{"name": "a", "type": "int",
                                                        "default": "zero"}]})
        expect_error(st, j, 422, 42201)
        H.expect("default \"zero\" is not a valid int" in j["message"], "%r", j["message"])
        st, j, _ = c.request("POST", "subjects/bad-value/versions",
                             {"schema": "\"int\"", "schemaType": "PROTOBUF"})
        expect_error(st, j, 422, 42201)
        st, j, _ = c.register("odd %? +subject", "long")
        H.expect(st == 200 and isinstance(j.get("id"), int), "odd subject: HTTP %d %r", st, j)
        st, j, _ = c.request("GET", "subjects")
        H.expect("odd %? +subject" in j, "subjects %r", j)
        st, j, _ = c.register("x" * 256, "long")
        expect_error(st, j, 422, 42208)

    with r.case("non_registry_routes_unchanged"):
        resp = srv.http.get("/healthz")
        H.expect(resp.status == 200, "healthz %r", resp)
        resp = srv.http.get("/nope")
        H.expect(resp.status == 404 and H.is_error_shape(resp), "%r", resp)

    # ---- the CLI against the embedded registry, server running ------------------------
    ids = {"v4": 5}
    v4 = dict(V3)
    v4["fields"] = V3["fields"] + [{"name": "note", "type": ["null", "string"], "default": None}]
    f_v4 = write(os.path.join(tmp, "v4.avsc"), v4)
    f_bad = write(os.path.join(tmp, "bad.avsc"),
                  {"type": "record", "name": "Order", "namespace": "shop",
                   "fields": [{"name": "id", "type": "long"}]})

    with r.case("cli_usage"):
        rc, out, err = H.run_cli(["schema", "--help"])
        H.expect(rc == 0 and "usage" in out and "register" in out and "check" in out,
                 "--help: %d %r", rc, out[:300])
        rc, out, err = H.run_cli(["schema", "register", "--help"])
        H.expect(rc == 0 and "usage" in out, "register --help: %d", rc)
        rc, out, err = H.run_cli(["schema"])
        H.expect(rc == 2 and err.startswith("freshet schema: missing subcommand") and
                 err.count("\n") == 1, "no subcommand: %d %r", rc, err[:200])
        rc, out, err = H.run_cli(["schema", "frob", "-c", srv.config])
        H.expect(rc == 2 and "frob" in err, "frob: %d %r", rc, err[:200])
        rc, out, err = srv.cli(["schema", "register", "--file", f_v4])
        H.expect(rc == 2 and "--subject" in err, "no subject: %d %r", rc, err[:200])
        rc, out, err = srv.cli(["schema", "check", "--subject", "s"])
        H.expect(rc == 2 and "--file" in err, "no schema: %d %r", rc, err[:200])
        rc, out, err = srv.cli(["schema", "register", "--subject", "s", "--file", f_v4,
                                "--schema", "\"int\""])
        H.expect(rc == 2, "both --file and --schema: %d", rc)
        rc, out, err = srv.cli(["schema", "register", "--subject", "s", "--file",
                                os.path.join(tmp, "missing.avsc")])
        H.expect(rc == 1 and "missing.avsc" in err, "missing file: %d %r", rc, err[:200])
        rc, out, err = H.run_cli(["--help"])
        H.expect(rc == 0 and "schema" in out, "freshet --help does not mention schema")

    with r.case("cli_check_and_register_embedded"):
        # back to BACKWARD so checks mean something
        st, j, _ = c.request("PUT", "config/orders-value", {"compatibility": "BACKWARD"})
        H.expect(st == 200, "PUT config: %r", j)
        rc, out, err = srv.cli(["schema", "check", "--subject", "orders-value", "--file", f_v4])
        H.expect(rc == 0 and "compatible" in out, "check v4: %d %r %r", rc, out, err[:300])
        rc, out, err = srv.cli(["schema", "check", "--subject", "orders-value", "--file", f_bad])
        H.expect(rc == 1 and "incompatible" in err and "field 'id'" in err,
                 "check bad: %d %r", rc, err[:400])
        rc, out, err = srv.cli(["schema", "register", "--subject", "orders-value", "--file",
                                f_v4])
        H.expect(rc == 0, "register v4: %d %r %r", rc, out, err[:300])
        ids["v4"] = cli_id(out)
        H.expect(ids["v4"] == 5, "v4 got id %d; expected 5 (after 4 ids over REST)", ids["v4"])
        rc, out, err = srv.cli(["schema", "register", "--subject", "orders-value", "--file",
                                f_bad])
        H.expect(rc == 1 and "incompatible" in err and "field 'id'" in err,
                 "register bad: %d %r", rc, err[:400])
        rc, out, err = srv.cli(["schema", "register", "--subject", "cli-value", "--schema",
                                "{\"type\": \"enum\", \"name\": \"Color\", \"symbols\": [\"RED\"]}"])
        H.expect(rc == 0 and cli_id(out) == 6, "register --schema: %d %r %r", rc, out,
                 err[:300])
        rc, out, err = srv.cli(["schema", "register", "--subject", "cli-value", "--schema",
                                "{\"type\": \"enum\", \"name\": \"Color\"}"])
        H.expect(rc == 1 and "invalid schema" in err and "symbols" in err,
                 "invalid: %d %r", rc, err[:300])
        rc, out, err = srv.cli(["schema", "check", "--subject", "nope", "--file", f_v4])
        H.expect(rc == 1 and "no subject 'nope'" in err, "check nope: %d %r", rc, err[:300])
        # the server (another process) sees what the CLI wrote
        st, j, _ = c.request("GET", "subjects/orders-value/versions/latest")
        H.expect(st == 200 and j.get("version") == 4 and j.get("id") == ids["v4"], "latest %r",
                 j)
        st, j, _ = c.request("GET", "subjects/cli-value/versions")
        H.expect(st == 200 and j == [1], "cli-value versions %r", j)

    with r.case("cli_list_embedded"):
        rc, out, err = srv.cli(["schema", "list"])
        H.expect(rc == 0, "list: %d %r", rc, err[:300])
        rows = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
        by = {x["subject"]: x for x in rows}
        H.expect(set(by) == {"cli-value", "copy-value", "orders-value", "odd %? +subject"},
                 "subjects %r", sorted(by))
        H.expect(by["orders-value"]["versions"] == [1, 2, 3, 4] and
                 by["orders-value"]["latest"] == {"version": 4, "id": ids["v4"]}, "%r",
                 by["orders-value"])
        rc, out, err = srv.cli(["schema", "list", "--subject", "orders-value"])
        rows = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
        H.expect(rc == 0 and [(x["version"], x["id"]) for x in rows] ==
                 [(1, 1), (2, 2), (3, 3), (4, ids["v4"])], "versions: %d %r", rc, rows)
        H.expect(json.loads(rows[0]["schema"]) == V1, "schema of v1 %r", rows[0]["schema"])
        rc, out, err = srv.cli(["schema", "list", "--subject", "nope"])
        H.expect(rc == 1 and "no subject 'nope'" in err, "list nope: %d %r", rc, err[:200])

    # ---- external mode: a second freshet pointing at the first --------------------------
    ext_cfg = CONFIG + 'schema_registry:\n  url: "http://127.0.0.1:%d"\n  timeout_ms: 2000\n' % \
        srv.port
    ext = H.Server(ext_cfg, name="registry-ext", cmd="serve")

    with r.case("external_cli_list"):
        rc, out, err = ext.cli(["schema", "list"])
        H.expect(rc == 0, "list: %d %r", rc, err[:300])
        rows = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
        by = {x["subject"]: x for x in rows}
        H.expect(by.get("orders-value", {}).get("versions") == [1, 2, 3, 4],
                 "orders-value over HTTP: %r", by.get("orders-value"))
        H.expect("odd %? +subject" in by, "odd subject over HTTP: %r", sorted(by))
        rc, out, err = ext.cli(["schema", "list", "--subject", "odd %? +subject"])
        H.expect(rc == 0 and json.loads(out.splitlines()[0])["schema"] == "\"long\"",
                 "list odd subject: %d %r %r", rc, out[:200], err[:200])

    with r.case("external_cli_register_and_check"):
        f_ext1 = write(os.path.join(tmp, "ext1.avsc"),
                       {"type": "record", "name": "Click", "fields": [{"name": "url",
                                                                        "type": "string"}]})
        f_ext2 = write(os.path.join(tmp, "ext2.avsc"),
                       {"type": "record", "name": "Click", "fields": [{"name": "url",
                                                                        "type": "string"},
                                                                       {"name": "ms",
                                                                        "type": "long"}]})
        rc, out, err = ext.cli(["schema", "register", "--subject", "clicks-value", "--file",
                                f_ext1])
        H.expect(rc == 0 and cli_id(out) == 7, "register: %d %r %r", rc, out, err[:300])
        st, j, _ = c.request("GET", "subjects/clicks-value/versions/latest")
        H.expect(st == 200 and j.get("id") == 7, "first server does not see it: %r", j)
        rc, out, err = ext.cli(["schema", "check", "--subject", "clicks-value", "--file", f_ext2])
        H.expect(rc == 1 and "field 'ms' of the new schema has no default" in err,
                 "check: %d %r", rc, err[:400])
        rc, out, err = ext.cli(["schema", "register", "--subject", "clicks-value", "--file",
                                f_ext2])
        H.expect(rc == 1 and "incompatible" in err and "field 'ms'" in err,
                 "register incompatible: %d %r", rc, err[:400])
        rc, out, err = ext.cli(["schema", "check", "--subject", "clicks-value", "--file", f_ext1])
        H.expect(rc == 0, "check same: %d %r", rc, err[:300])
        rc, out, err = ext.cli(["schema", "register", "--subject", "ext-del-value", "--file",
                                f_ext1])
        H.expect(rc == 0, "register: %d %r", rc, err[:300])
        rc, out, err = ext.cli(["schema", "delete", "--subject", "ext-del-value"])
        H.expect(rc == 0 and "soft deleted version 1" in out, "external delete: %d %r %r", rc,
                 out, err[:300])
        st, j, _ = c.request("GET", "subjects/ext-del-value/versions")
        H.expect(st == 404, "deleted over HTTP, still there: %d %r", st, j)

    with r.case("external_server_refuses_registry_routes"):
        ext.start()
        resp = ext.http.get("/subjects")
        H.expect(resp.status == 404 and H.is_error_shape(resp) and
                 ("127.0.0.1:%d" % srv.port) in resp.json["detail"], "GET /subjects: %r", resp)
        H.expect(ext.http.get("/healthz").status == 200, "healthz on the external one")

    with r.case("external_down_clear_error_exit_1"):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]           # bound, not listening: refused
        down_cfg = CONFIG + 'schema_registry: { url: "http://127.0.0.1:%d", timeout_ms: 500 }\n' \
            % dead
        down = H.Server(down_cfg, name="registry-down", cmd="serve")
        t0 = time.time()
        rc, out, err = down.cli(["schema", "list"])
        H.expect(rc == 1 and ("127.0.0.1:%d" % dead) in err and "unavailable" in err,
                 "refused: %d %r", rc, err[:300])
        rc, out, err = down.cli(["schema", "register", "--subject", "x", "--file", f_v4])
        H.expect(rc == 1 and "unavailable" in err, "register refused: %d %r", rc, err[:300])
        # silent: accepts connections, never answers; each request ends at timeout_ms
        s.listen(16)
        t0 = time.time()
        rc, out, err = down.cli(["schema", "check", "--subject", "x", "--file", f_v4], timeout=30)
        took = time.time() - t0
        H.expect(rc == 1 and "unavailable" in err, "silent: %d %r", rc, err[:300])
        H.expect(took < 10, "silent registry: the CLI took %.1f s with timeout_ms 500", took)
        s.close()

    with r.case("rest_delete_soft_then_permanent"):
        # the recovery from a schema freshet cannot follow (another record name)
        f_tmp = write(os.path.join(tmp, "gone.avsc"),
                      {"type": "record", "name": "Transaction", "fields": [
                          {"name": "k", "type": "string"}]})
        rc, out, err = srv.cli(["schema", "register", "--subject", "gone-value", "--file",
                                f_tmp])
        H.expect(rc == 0, "register: %d %r", rc, err[:300])
        gone_id = cli_id(out)
        st, j, _ = c.request("DELETE", "subjects/gone-value?permanent=true")
        H.expect(st == 404 and j.get("error_code") == 40405, "permanent first: %d %r", st, j)
        st, j, _ = c.request("DELETE", "subjects/gone-value")
        H.expect(st == 200 and j == [1], "soft delete: %d %r", st, j)
        st, j, _ = c.request("GET", "subjects")
        H.expect("gone-value" not in j, "a soft-deleted subject is listed: %r", j)
        st, j, _ = c.request("GET", "schemas/ids/%d" % gone_id)
        H.expect(st == 200 and "Transaction" in j.get("schema", ""),
                 "soft-deleted schema unreadable by id: %d %r", st, j)
        st, j, _ = c.request("DELETE", "subjects/gone-value")
        H.expect(st == 404 and j.get("error_code") == 40404, "soft twice: %d %r", st, j)
        st, j, _ = c.request("DELETE", "subjects/gone-value?permanent=true")
        H.expect(st == 200 and j == [1], "permanent: %d %r", st, j)
        st, j, _ = c.request("DELETE", "subjects/gone-value?permanent=true")
        H.expect(st == 404 and j.get("error_code") == 40401, "permanent twice: %d %r", st, j)

    with r.case("cli_delete"):
        rc, out, err = srv.cli(["schema", "register", "--subject", "del-value", "--file", f_v4])
        H.expect(rc == 0, "register: %d %r", rc, err[:300])
        rc, out, err = srv.cli(["schema", "delete", "--subject", "del-value", "--permanent"])
        H.expect(rc == 1 and "without --permanent first" in err, "permanent first: %d %r", rc,
                 err[:300])
        rc, out, err = srv.cli(["schema", "delete", "--subject", "del-value"])
        H.expect(rc == 0 and "soft deleted version 1" in out, "soft: %d %r %r", rc, out, err)
        rc, out, err = srv.cli(["schema", "delete", "--subject", "del-value"])
        H.expect(rc == 1 and "deleted already" in err, "again: %d %r", rc, err[:300])
        rc, out, err = srv.cli(["schema", "delete", "--subject", "del-value", "--permanent"])
        H.expect(rc == 0 and "permanently deleted version 1" in out, "permanent: %d %r %r", rc,
                 out, err)
        rc, out, err = srv.cli(["schema", "delete", "--subject", "del-value"])
        H.expect(rc == 1 and "no subject 'del-value'" in err, "gone: %d %r", rc, err[:300])
        rc, out, err = srv.cli(["schema", "delete", "--subject", "x", "--file", f_v4])
        H.expect(rc == 2 and err.count("\n") == 1, "delete with a schema: %d %r", rc, err)

    if ext.alive():
        H.check_clean_stop(r, ext, "external_clean_shutdown")
    H.check_clean_stop(r, srv, "clean_shutdown")
    r.finish()


if __name__ == "__main__":
    main()
