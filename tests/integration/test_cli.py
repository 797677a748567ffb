#!/usr/bin/python3
"""Command line: --version, --help of every command, validate (good and
broken configs, errors as FILE:LINE:COL: pointing at the right line),
generate (NDJSON to stdout, deterministic per seed; to a running server).
"""
import json
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

EXAMPLE = os.path.join(H.ROOT, "examples", "fraud", "freshet.yaml")

# A valid config; each broken variant below replaces one line, marked "# <-- error".
BASE = """\
store:
  path: /tmp/unused-freshet-store
server:
  listen: "127.0.0.1:8080"
sources:
  - name: tx
    format: json
    timestamp: ts
    fields:
      - { name: card_id, type: string }
      - { name: merchant_id, type: string }
      - { name: amount, type: double }
      - { name: country, type: string, optional: true }
      - { name: ts, type: long }
feature_views:
  - name: card
    source: tx
    entity: card_id
    windows: [5m, 1h]
    granularity: { 5m: 10s }
    aggregations:
      - { fn: count }
      - { fn: sum, field: amount }
      - { fn: count_distinct, field: merchant_id }
"""

# (name, original line, broken line, lines the error may point at: 0 = the broken
#  line, 1 = the line after it (YAML syntax errors found at the next token))
BROKEN = [
    ("bad_window", "    windows: [5m, 1h]", "    windows: [5m, 5x]", (0,)),
    ("unknown_fn", "      - { fn: count }", "      - { fn: medain, field: amount }", (0,)),
    ("unknown_source", "    source: tx", "    source: nosuch", (0,)),
    ("unknown_agg_field", "      - { fn: sum, field: amount }",
     "      - { fn: sum, field: nosuch }", (0,)),
    ("bad_type", "      - { name: amount, type: double }",
     "      - { name: amount, type: integer }", (0,)),
    ("sum_over_string", "      - { fn: sum, field: amount }",
     "      - { fn: sum, field: merchant_id }", (0,)),
    ("optional_entity", "    entity: card_id", "    entity: country", (0,)),
    ("granularity_not_dividing", "    granularity: { 5m: 10s }",
     "    granularity: { 5m: 7s }", (0,)),
    ("unknown_timestamp_field", "    timestamp: ts", "    timestamp: when", (0,)),
    ("bad_format", "    format: json", "    format: xml", (0,)),
    ("duplicate_key", "    entity: card_id", "    entity: card_id\n    entity: merchant_id", (1,)),
    ("yaml_syntax", "    windows: [5m, 1h]", "    windows: [5m, 1h", (0, 1, 2)),
    ("bad_listen_port_type", '  listen: "127.0.0.1:8080"', "  listen: [1, 2]", (0,)),
]


def broken_configs():
    out = []
    for name, orig, new, offsets in BROKEN:
        assert orig in BASE, orig
        lines = BASE.split("\n")
        idx = lines.index(orig)
        lines[idx] = new
        text = "\n".join(lines)
        line = idx + 1
        out.append((name, text, set(line + o for o in offsets)))
    return out


def main():
    r = H.Runner("cli", timeout_s=int(os.environ.get("FRESHET_IT_TIMEOUT", "150")))
    H.require_binary(r)
    tmp = H.make_tmpdir("freshet-cli-")

    with r.case("version"):
        rc, out, err = H.run_cli(["--version"])
        H.expect(rc == 0 and re.match(r"^freshet \d+\.\d+", out), "exit %d, stdout %r", rc, out)

    with r.case("help"):
        rc, out, err = H.run_cli(["--help"])
        H.expect(rc == 0 and "usage" in out.lower(), "exit %d, stdout %r", rc, out[:300])
        for cmd in ("run", "serve", "process", "validate", "generate", "dlq"):
            H.expect(cmd in out, "--help does not mention %s", cmd)

    for cmd in ("run", "serve", "process", "validate", "generate", "dlq"):
        with r.case("help_" + cmd):
            rc, out, err = H.run_cli([cmd, "--help"])
            H.expect(rc == 0, "freshet %s --help: exit %d, stderr %r", cmd, rc, err[:300])
            H.expect("usage" in out.lower() and cmd in out,
                     "freshet %s --help: no usage text on stdout: %r", cmd, out[:300])

    with r.case("unknown_command_and_missing_config"):
        rc, out, err = H.run_cli(["frobnicate"])
        H.expect(rc != 0 and err.strip(), "unknown command: exit %d, stderr %r", rc, err[:200])
        rc, out, err = H.run_cli(["validate"])
        H.expect(rc != 0 and "-c" in err, "validate without -c: exit %d, stderr %r", rc, err[:200])
        missing = os.path.join(tmp, "missing.yaml")
        rc, out, err = H.run_cli(["validate", "-c", missing])
        H.expect(rc == 1 and missing in err, "validate a missing file: exit %d, stderr %r", rc,
                 err[:300])

    with r.case("validate_example"):
        rc, out, err = H.run_cli(["validate", "-c", "examples/fraud/freshet.yaml"])
        H.expect(rc == 0 and out.startswith("examples/fraud/freshet.yaml: ok ("),
                 "exit %d, stdout %r, stderr %r", rc, out, err[:300])
        H.expect("2 sources" in out, "stdout %r", out)
        rc, out, err = H.run_cli(["validate", "-c", "examples/personalization/freshet.yaml"])
        H.expect(rc == 0 and "ok (1 sources, 7 feature views" in out,
                 "personalization: exit %d, stdout %r, stderr %r", rc, out, err[:300])

    with r.case("validate_base_config"):
        p = os.path.join(tmp, "base.yaml")
        with open(p, "w") as f:
            f.write(BASE)
        rc, out, err = H.run_cli(["validate", "-c", p])
        H.expect(rc == 0 and out.startswith(p + ": ok ("), "exit %d, stdout %r, stderr %r", rc,
                 out, err[:300])

    with r.case("validate_oracle_config"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import test_oracle
        p = os.path.join(tmp, "oracle.yaml")
        with open(p, "w") as f:
            f.write(test_oracle.CONFIG.replace("{store}", tmp + "/o").replace("{port}", "8080"))
        rc, out, err = H.run_cli(["validate", "-c", p])
        H.expect(rc == 0 and "2 sources, 5 feature views, 140 features" in out,
                 "exit %d, stdout %r, stderr %r", rc, out, err[:300])

    for name, text, lines in broken_configs():
        with r.case("broken_" + name):
            p = os.path.join(tmp, "broken_%s.yaml" % name)
            with open(p, "w") as f:
                f.write(text)
            rc, out, err = H.run_cli(["validate", "-c", p])
            first = err.strip().split("\n")[0] if err.strip() else ""
            H.expect(rc == 1, "exit %d (expected 1); stdout %r stderr %r", rc, out[:200],
                     err[:300])
            m = re.match(re.escape(p) + r":(\d+):(\d+): \S", first)
            H.expect(m, "stderr does not start with %s:LINE:COL: message: %r", p, err[:300])
            H.expect(int(m.group(1)) in lines and int(m.group(2)) >= 1,
                     "points at line %s col %s, expected line %s: %r", m.group(1), m.group(2),
                     "/".join(str(x) for x in sorted(lines)), first)

    with r.case("generate_stdout"):
        rc, out, err = H.run_cli(["generate", "--count", "1000", "--seed", "7"])
        H.expect(rc == 0, "exit %d, stderr %r", rc, err[:300])
        lines = out.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        H.expect(len(lines) == 1000, "%d lines, expected 1000", len(lines))
        for i, ln in enumerate(lines):
            try:
                e = json.loads(ln)
            except ValueError:
                raise AssertionError("line %d is not JSON: %r" % (i + 1, ln[:200]))
            H.expect(isinstance(e, dict) and isinstance(e.get("card_id"), str) and
                     isinstance(e.get("merchant_id"), str) and
                     isinstance(e.get("amount"), (int, float)) and
                     not isinstance(e.get("amount"), bool) and type(e.get("ts")) is int,
                     "line %d lacks card_id/amount/merchant_id/ts: %r", i + 1, ln[:200])
        # event times follow the clock (gen.h: ts = now - jitter); all else is the seed's
        now = H.now_ms()
        evs = [json.loads(ln) for ln in lines]
        H.expect(all(abs(e["ts"] - now) < 600000 for e in evs),
                 "event times are not near the clock: %r", [e["ts"] for e in evs[:3]])

        def no_ts(text):
            return [{k: v for k, v in json.loads(ln).items() if k != "ts"}
                    for ln in text.split("\n") if ln.strip()]
        rc2, out2, err2 = H.run_cli(["generate", "--count", "1000", "--seed", "7"])
        H.expect(rc2 == 0 and no_ts(out2) == no_ts(out),
                 "a second run with seed 7 differs (beyond ts)")
        rc3, out3, err3 = H.run_cli(["generate", "--count", "1000", "--seed", "8"])
        H.expect(rc3 == 0 and no_ts(out3) != no_ts(out), "seed 8 gives the same events as seed 7")

    srv = None
    with r.case("generate_to_server"):
        with open(EXAMPLE) as f:
            text = f.read()
        text2 = re.sub(r"(?m)^(\s*path:\s*)\./data\b.*$", r"\g<1>{store}", text)
        H.expect(text2 != text, "cannot find 'path: ./data' in %s", EXAMPLE)
        srv = H.Server(text2, name="cligen")
        if True:
            srv.start()
            url = "http://127.0.0.1:%d/v1/events/transactions" % srv.port
            rc, out, err = H.run_cli(["generate", "--to", url, "--count", "5000", "--seed", "3"],
                                     timeout=120)
            H.expect(rc == 0, "generate --to: exit %d, stderr %r", rc, err[-500:])
            st = srv.http.status()
            ss = H.source_status(st, "transactions")
            H.expect(ss["log_end_offset"] == 5000, "log_end_offset %r, expected 5000 (dead "
                     "letters %r)", ss["log_end_offset"], st.get("dead_letters"))
            st = H.wait_caught_up(srv.http, 120)
            resp = srv.http.get("/v1/features/card_txn/c000001")
            H.expect(resp.status == 200 and isinstance(resp.json.get("features"), dict) and
                     "txn_count_5m" in resp.json["features"], "GET card_txn: %r", resp)
    if srv is not None and srv.alive():
        H.check_clean_stop(r, srv, "generate_server_clean_shutdown")

    r.finish()


if __name__ == "__main__":
    main()
