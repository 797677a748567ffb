#!/usr/bin/python3
"""Command line: --version, --help of every command (usage, examples, exit
status), usage errors (one line "freshet <cmd>: ...", exit 2: missing or
unknown commands, subcommands and options, bad values, options a command
does not take), validate (good and broken configs, errors as FILE:LINE:COL:
pointing at the right line), generate (NDJSON to stdout, deterministic per
seed; to a running server), store.path relative to the configuration file,
read-only commands that find no store (one line, exit 1, nothing created),
status with the Kafka brokers down (one line, exit 1).
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

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


COMMANDS = ("run", "serve", "process", "validate", "status", "generate", "backfill", "dlq",
            "schema")

# (args, prefix of the one stderr line) for usage errors; {cfg} is a valid
# configuration whose store must never be created by them.
USAGE_ERRORS = [
    ([], "freshet: missing command"),
    (["frobnicate"], "freshet: unknown command 'frobnicate'"),
    (["dlq"], "freshet dlq: missing subcommand"),
    (["dlq", "frob", "-c", "{cfg}"], "freshet dlq: unknown subcommand 'frob'"),
    (["schema"], "freshet schema: missing subcommand"),
    (["schema", "frob", "-c", "{cfg}"], "freshet schema: unknown subcommand 'frob'"),
    (["run", "--bogus", "-c", "{cfg}"], "freshet run: unknown option '--bogus'"),
    (["run", "-c"], "freshet run: -c needs a value"),
    (["run", "-c", "{cfg}", "stray"], "freshet run: unexpected argument 'stray'"),
    (["serve", "-c", "{cfg}", "--demo"], "freshet serve: --demo is not an option of serve"),
    (["process", "-c", "{cfg}", "--listen", "127.0.0.1:1"],
     "freshet process: --listen is not an option of process"),
    (["validate", "-v", "-c", "{cfg}"], "freshet validate: -v is not an option of validate"),
    (["status", "-c", "{cfg}", "--demo"], "freshet status: --demo is not an option of status"),
    (["status"], "freshet status: -c FILE is required"),
    (["run", "-c", "{cfg}", "--listen", "nowhere"], "freshet run: --listen wants HOST:PORT"),
    (["serve", "-c", "{cfg}", "--listen", "127.0.0.1:70000"],
     "freshet serve: --listen wants HOST:PORT"),
    (["run", "-c", "{cfg}", "--demo-rate", "5"], "freshet run: --demo-rate goes with --demo"),
    (["run", "-c", "{cfg}", "--demo", "--demo-rate", "fast"], "freshet run: --demo-rate wants"),
    (["dlq", "list", "-c", "{cfg}", "--limit", "many"], "freshet dlq: --limit wants"),
    (["dlq", "list", "-c", "{cfg}", "--from", "-1"], "freshet dlq: --from wants"),
    (["dlq", "replay", "-c", "{cfg}", "--limit", "3"], "freshet dlq: --limit is for list"),
    (["dlq", "list", "-c", "{cfg}", "--source", "nosuch"],
     "freshet dlq: no source named 'nosuch'"),
    (["generate", "--rate", "x"], "freshet generate: --rate"),
    (["generate", "--bogus"], "freshet generate: unknown option '--bogus'"),
    (["backfill", "--bogus"], "freshet backfill: unknown option '--bogus'"),
    (["backfill", "-c", "{cfg}", "--from-kafka", "yesterday"],
     "freshet backfill: --from-kafka wants"),
    (["schema", "register", "-c", "{cfg}", "--subject", "s"],
     "freshet schema: register: give the schema"),
    (["schema", "list", "-c", "{cfg}", "--permanent"],
     "freshet schema: list: --permanent is for delete"),
]

SMALL = """\
store:
  path: {path}
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

KAFKA_DOWN = """\
store: { path: ./data }
server: { listen: "127.0.0.1:{port}" }
sources:
  - name: ktx
    timestamp: ts
    kafka: { brokers: "127.0.0.1:{broker}", topic: ktx }
    fields:
      - { name: k, type: string }
      - { name: ts, type: long }
feature_views:
  - { name: v, source: ktx, entity: k, windows: [1h], aggregations: [{ fn: count }] }
"""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def one_line(err):
    return err.count("\n") == 1 and err.endswith("\n")


def start(config, port, cwd):
    """freshet run -c config from cwd; waits for /healthz."""
    log = open(os.path.join(cwd, os.path.dirname(config), "run.log"), "ab")
    p = subprocess.Popen([H.freshet_bin(), "run", "-c", config], stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL, cwd=cwd, env=H.sanitizer_env(),
                         start_new_session=True)
    log.close()
    H._procs.append(p)
    http = H.Http(port, timeout=10)
    for _ in range(1800):
        if p.poll() is not None:
            raise AssertionError("freshet run exited with %s" % p.returncode)
        try:
            if http.get("/healthz").status == 200:
                return p, http
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("freshet run not healthy")


def stop(p):
    os.killpg(p.pid, signal.SIGTERM)
    rc = p.wait(timeout=60)
    H._procs.remove(p)
    return rc


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

    for cmd in COMMANDS:
        with r.case("help_" + cmd):
            rc, out, err = H.run_cli([cmd, "--help"])
            H.expect(rc == 0 and not err, "freshet %s --help: exit %d, stderr %r", cmd, rc,
                     err[:300])
            H.expect("usage" in out.lower() and cmd in out,
                     "freshet %s --help: no usage text on stdout: %r", cmd, out[:300])
            H.expect("\nExamples:\n" in out and ("  freshet %s " % cmd) in out,
                     "freshet %s --help: no example: %r", cmd, out[-600:])
            H.expect(re.search(r"Exit status: 0 [^\n]*", out) and "2 bad usage" in out,
                     "freshet %s --help: no exit status: %r", cmd, out[-400:])
            rc2, out2, err2 = H.run_cli(["help", cmd])
            H.expect(rc2 == 0 and out2 == out, "freshet help %s differs from --help", cmd)

    cfg_unused = os.path.join(tmp, "unused", "freshet.yaml")
    write(cfg_unused, SMALL.replace("{path}", "./data").replace("{port}", "8080"))
    for i, (args, prefix) in enumerate(USAGE_ERRORS):
        args = [a.replace("{cfg}", cfg_unused) for a in args]
        with r.case("usage_error_%02d_%s" % (i, "_".join(a for a in args[:2] if "/" not in a)
                                              .strip("-") or "none")):
            rc, out, err = H.run_cli(args)
            H.expect(rc == 2, "freshet %s: exit %d (expected 2); stderr %r", " ".join(args), rc,
                     err[:300])
            H.expect(one_line(err) and err.startswith(prefix),
                     "freshet %s: stderr %r, expected one line starting %r", " ".join(args),
                     err[:400], prefix)
            H.expect(not out, "freshet %s: stdout %r", " ".join(args), out[:200])
            H.expect(not os.path.exists(os.path.join(tmp, "unused", "data")),
                     "freshet %s created a store", " ".join(args))

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

    with r.case("read_only_commands_find_no_store_and_create_none"):
        cfgdir = os.path.join(tmp, "ro", "conf")
        cwd = os.path.join(tmp, "ro", "elsewhere")
        os.makedirs(cwd)
        cfg = write(os.path.join(cfgdir, "freshet.yaml"),
                    SMALL.replace("{path}", "./data").replace("{port}", "8080"))
        for args in (["status"], ["dlq", "list"], ["dlq", "replay"], ["schema", "list"],
                     ["schema", "check", "--subject", "s", "--schema", "\"int\""]):
            rc, out, err = H.run_cli(args + ["-c", cfg], cwd=cwd)
            H.expect(rc == 1 and one_line(err) and ("no store at %s/data" % cfgdir in err or
                                                    "no schema registry at %s/data" % cfgdir
                                                    in err),
                     "freshet %s: exit %d, stderr %r", " ".join(args), rc, err[:400])
            H.expect(not out, "freshet %s: stdout %r", " ".join(args), out[:200])
            H.expect(not os.path.exists(os.path.join(cfgdir, "data")) and
                     not os.path.exists(os.path.join(cwd, "data")),
                     "freshet %s created a store", " ".join(args))

    with r.case("store_path_relative_to_the_configuration_file"):
        cfgdir = os.path.join(tmp, "rel", "conf")
        cwd = os.path.join(tmp, "rel", "elsewhere")
        os.makedirs(cwd)
        port = H.free_port()
        cfg = write(os.path.join(cfgdir, "freshet.yaml"),
                    SMALL.replace("{path}", "./data").replace("{port}", str(port)))
        p, http = start(os.path.relpath(cfg, cwd), port, cwd)
        try:
            resp = http.post("/v1/events/tx", {"k": "a", "ts": H.now_ms()})
            H.expect(resp.status == 200, "ingest: %r", resp)
        finally:
            http.close()
            rc = stop(p)
        H.expect(rc == 0, "freshet run exit %r", rc)
        H.expect(os.path.exists(os.path.join(cfgdir, "data", "log", "data.mdb")) and
                 os.path.exists(os.path.join(cfgdir, "data", "store", "data.mdb")),
                 "no store beside the configuration file: %r", os.listdir(cfgdir))
        H.expect(not os.path.exists(os.path.join(cwd, "data")), "a store in the current directory")
        # status from yet another directory reads that store
        rc, out, err = H.run_cli(["status", "-c", cfg], cwd="/")
        rows = [json.loads(x) for x in out.splitlines() if x.strip()]
        H.expect(rc == 0 and len(rows) == 1 and rows[0]["source"] == "tx" and
                 rows[0]["end_offset"] == 1, "status: %d %r %r", rc, out, err[:300])
        rc, out, err = H.run_cli(["dlq", "list", "-c", cfg], cwd="/")
        H.expect(rc == 0 and not out and not err, "dlq list: %d %r %r", rc, out, err)

    with r.case("status_with_the_brokers_down_is_one_line"):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))            # bound, never listening: refused
        broker = s.getsockname()[1]
        port = H.free_port()
        kdir = os.path.join(tmp, "kdown")
        cfg = write(os.path.join(kdir, "freshet.yaml"),
                    KAFKA_DOWN.replace("{port}", str(port)).replace("{broker}", str(broker)))
        p, http = start(cfg, port, kdir)    # creates the store; its consumer just waits
        http.close()
        stop(p)
        for args in (["status"], ["dlq", "list"]):
            rc, out, err = H.run_cli(args + ["-c", cfg], cwd=kdir)
            H.expect(rc == 1 and one_line(err) and ("127.0.0.1:%d" % broker) in err and
                     "did not answer" in err, "freshet %s: exit %d, stderr %r", " ".join(args),
                     rc, err[:600])
        s.close()

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
