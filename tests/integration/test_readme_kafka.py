#!/usr/bin/python3
"""README.md's Kafka section, run as written, so the documentation cannot
drift from what ships.

The commands are taken from README.md itself: every ```sh block that
follows a `<!-- test: kafka` comment, in order, continuation lines joined.
They run with /bin/sh in a scratch directory laid out like a checkout
(examples/kafka/ copied, build/freshet and build/tests/tools/kafka_mock
linked to the binaries under test), with three changes only: the ports
9092 and 8080 become free ones (in the commands and in the copied
configuration), `make` lines are skipped (the test runs on a build), and
between two commands the test waits, as a reader would, until the processor
has applied everything produced so far.  A command ending in `&` runs in the
background and is waited for (the mock's port, freshet's /healthz).

Then: every command exits 0, the schema file registers as id 1 and
`generate` reuses it (one version), the generated and the HTTP-ingested
events are applied (committed offsets = topic ends), c42 counts its one
event, and `dlq list` shows the hand-made message as unknown_schema with its
bytes in base64.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

from confluent_kafka import Consumer, TopicPartition  # noqa: E402

MARK = "<!-- test: kafka"


def readme_commands(path):
    """[(command, background)] from the marked blocks of README.md."""
    lines = open(path, encoding="utf-8").read().split("\n")
    cmds = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith(MARK):
            i += 1
            continue
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        i += 1
        buf = ""
        while i < len(lines) and not lines[i].startswith("```"):
            ln = lines[i]
            i += 1
            if not buf and (not ln.strip() or ln.lstrip().startswith("#")):
                continue
            if ln.endswith("\\"):
                buf += ln[:-1] + " "
                continue
            buf += ln
            m = re.match(r"^(.*?)\s*&\s*(#.*)?$", buf)
            if m and not buf.rstrip().endswith("&&"):
                cmds.append((m.group(1), True))
            else:
                cmds.append((re.sub(r"\s+#[^'\"]*$", "", buf), False))
            buf = ""
    return cmds


def port_open(port):
    s = socket.socket()
    try:
        s.settimeout(0.5)
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def main():
    r = H.Runner("readme_kafka", timeout_s=300)
    H.require_binary(r)
    mock_bin = H.tool_bin("kafka_mock")
    if not os.path.exists(mock_bin):
        r.fail("kafka_mock_built", "missing %s" % mock_bin)
        r.finish()
    if not shutil.which("kcat"):
        r.fail("kcat_installed", "kcat is not installed (scripts/deps.sh installs it)")
        r.finish()
    cmds = readme_commands(os.path.join(H.ROOT, "README.md"))
    with r.case("readme_has_the_kafka_sequence"):
        H.expect(len(cmds) >= 8 and any(b for _, b in cmds) and
                 any("schema register" in c for c, _ in cmds) and
                 any("dlq list" in c for c, _ in cmds), "commands found: %r", cmds)

    kport, hport = H.free_port(), H.free_port()
    tdir = H.make_tmpdir("freshet-readme-")
    os.makedirs(os.path.join(tdir, "examples", "kafka"))
    os.makedirs(os.path.join(tdir, "build", "tests", "tools"))
    for name in ("freshet.yaml", "transactions.avsc"):
        with open(os.path.join(H.ROOT, "examples", "kafka", name)) as f:
            text = f.read()
        with open(os.path.join(tdir, "examples", "kafka", name), "w") as f:
            f.write(text.replace("9092", str(kport)).replace("8080", str(hport)))
    os.symlink(H.freshet_bin(), os.path.join(tdir, "build", "freshet"))
    os.symlink(mock_bin, os.path.join(tdir, "build", "tests", "tools", "kafka_mock"))
    env = H.sanitizer_env()
    http = H.Http(hport, timeout=30)
    bootstrap = "127.0.0.1:%d" % kport
    background = []   # (command, Popen, log path)
    served = False
    results = []      # (command, rc, stdout, stderr)

    def ends():
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "readme-ends",
                      "log_level": 0})
        try:
            return {p: c.get_watermark_offsets(TopicPartition("transactions", p),
                                               timeout=10)[1] for p in range(4)}
        finally:
            c.close()

    def wait_applied(deadline_s=120):
        want = ends()
        end = time.time() + deadline_s
        got = None
        while time.time() < end:
            st = http.status()
            got = {p["partition"]: p["committed_offset"] for p in st.get("partitions", [])
                   if p["source"] == "transactions"}
            if all(got.get(p) == want[p] for p in want):
                return want
            time.sleep(0.2)
        raise AssertionError("not applied: committed %r, topic ends %r" % (got, want))

    with r.case("readme_commands_run_as_written"):
        for cmd, bg in cmds:
            if cmd.startswith("make "):
                continue
            cmd = cmd.replace("9092", str(kport)).replace("8080", str(hport))
            if bg:
                log = os.path.join(tdir, "bg%d.log" % len(background))
                with open(log, "wb") as lf:
                    p = subprocess.Popen(["/bin/sh", "-c", "exec " + cmd], cwd=tdir, env=env,
                                         stdin=subprocess.DEVNULL, stdout=lf, stderr=lf,
                                         start_new_session=True)
                H._procs.append(p)
                background.append((cmd, p, log))
                end = time.time() + 90
                while time.time() < end and p.poll() is None:
                    if "kafka_mock" in cmd and port_open(kport):
                        break
                    if "freshet run" in cmd:
                        try:
                            if http.get("/healthz").status == 200:
                                served = True
                                break
                        except OSError:
                            pass
                    time.sleep(0.1)
                H.expect(p.poll() is None, "%s: exited %r: %s", cmd, p.returncode, H.tail(log))
                continue
            if served:
                wait_applied()
            pr = subprocess.run(["/bin/sh", "-c", cmd], cwd=tdir, env=env,
                                capture_output=True, timeout=180)
            out, err = pr.stdout.decode("utf-8", "replace"), pr.stderr.decode("utf-8", "replace")
            results.append((cmd, pr.returncode, out, err))
            H.expect(pr.returncode == 0, "%s: exit %d\nstdout %s\nstderr %s", cmd, pr.returncode,
                     out[-800:], err[-800:])

    def result(part):
        got = [x for x in results if part in x[0]]
        H.expect(got, "no command with %r ran", part)
        return got[-1]

    with r.case("schema_file_is_freshets_own_schema"):
        cmd, rc, out, err = result("schema register")
        H.expect(out == "subject 'transactions-value': schema id 1\n", "register: %r", out)
        cmd, rc, out, err = result(" generate ")
        H.expect("20000 acknowledged" in out + err and "schema id 1" in out + err,
                 "generate: %r %r", out, err)
        resp = http.get("/subjects/transactions-value/versions")
        H.expect(resp.status == 200 and resp.json == [1], "versions %r", resp)

    with r.case("everything_produced_is_applied"):
        want = wait_applied()
        H.expect(sum(want.values()) == 20000 + 2, "topic ends %r: expected 20000 generated, 1 "
                 "ingested over HTTP, 1 hand-made", want)
        cmd, rc, out, err = result("status -c")
        rows = [json.loads(x) for x in out.splitlines() if x.strip()]
        H.expect(rows and rows[-1].get("partitions") == 4, "status: %r", out[-500:])
        cmd, rc, out, err = result("/v1/features/card_txn/c000001")
        H.expect(json.loads(out).get("view") == "card_txn", "features: %r", out[:300])

    with r.case("http_ingest_into_the_avro_topic"):
        cmd, rc, out, err = result("/v1/events/transactions")
        j = json.loads(out)
        H.expect(j["accepted"] == 1 and j["rejected"] == 0, "POST: %r", out)
        cmd, rc, out, err = result("/v1/features/card_txn/c42")
        f = json.loads(out)["features"]
        H.expect(f["txn_count_24h"] == 1 and f["amount_sum_24h"] == 12.5 and
                 f["last_country_24h"] == "US", "c42: %r", f)

    with r.case("dead_letter_listed_in_base64"):
        cmd, rc, out, err = result("dlq list")
        rows = [json.loads(x) for x in out.splitlines() if x.strip()]
        H.expect(len(rows) == 1 and rows[0]["reason"] == "unknown_schema" and
                 base64.b64decode(rows[0]["payload_b64"]) == b"\0\0\0\0\x07junk",
                 "dlq list: %r", out)

    with r.case("background_commands_stop_cleanly"):
        http.close()
        for cmd, p, log in reversed(background):    # freshet first, then the mock
            os.killpg(p.pid, signal.SIGTERM)
            rc = p.wait(timeout=60)
            H._procs.remove(p)
            reps = H.sanitizer_reports(log)
            H.expect(rc == 0 and not reps, "%s: exit %r %s", cmd, rc, "\n".join(reps[:5]))
    r.finish()


if __name__ == "__main__":
    main()
