#!/usr/bin/python3
"""Replaying the embedded dead-letter queue: events refused for a missing
field are replayed after the configuration gives the field a default; each
is applied once, even when the replay is run twice or two replays race;
those still refused become new dead letters; `dlq list` says what was
replayed; features equal the oracle built from what was finally accepted."""
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

CONFIG = """
store: {{ path: {{store}} }}
server: {{ listen: "127.0.0.1:{{port}}" }}
processor: {{ commit_interval_ms: 20 }}
sources:
  - name: tx
    timestamp: ts
    fields:
      - {{ name: card_id, type: string }}
      - {{ name: amount, type: double }}
      - {{ name: channel, type: string{channel} }}
      - {{ name: ts, type: long }}
feature_views:
  - name: card
    source: tx
    entity: card_id
    windows: [1h]
    aggregations:
      - {{ fn: count }}
      - {{ fn: sum, field: amount }}
      - {{ fn: last, field: channel }}
"""

TYPES = {"card_id": "string", "amount": "double", "channel": "string", "ts": "long"}


def views():
    return [H.ViewDef("card", "tx", "card_id", ["1h"], [
        ("count", None, None), ("sum", "amount", None), ("last", "channel", None)], TYPES)]


def main():
    r = H.Runner("dlq_replay", timeout_s=240)
    H.require_binary(r)
    srv = H.Server(CONFIG.format(channel=""), name="replay")
    oracle = H.Oracle(views())
    now = H.now_ms()
    good = [{"card_id": "c%d" % (i % 5), "amount": i, "channel": "pos", "ts": now - 60000 + i}
            for i in range(50)]
    missing = [{"card_id": "c%d" % (i % 5), "amount": 100 + i, "ts": now - 30000 + i}
               for i in range(20)]
    broken = ['{"card_id": "c1", "amount": ', '{"card_id": "c2", "amount": "x", "ts": %d}' % now]
    with r.case("ingest_with_refusals"):
        srv.start()
        resp = srv.http.post("/v1/events/tx", "\n".join(json.dumps(e) for e in good + missing) +
                             "\n" + "\n".join(broken))
        H.expect(resp.status == 200 and resp.json["accepted"] == 50 and
                 resp.json["rejected"] == 22, "ingest: %r", resp)
        for k, e in enumerate(good):
            oracle.add("tx", e["ts"], k, e)
        H.wait_caught_up(srv.http, 60)
        srv.stop()
        rows = srv.dlq()
        H.expect(len(rows) == 22 and sum(x["reason"] == "missing_field" for x in rows) == 20,
                 "dead letters %r", [x["reason"] for x in rows])

    # the fix: channel gets a default
    with open(srv.config, "w") as f:
        f.write(CONFIG.format(channel=", default: web").replace("{store}", srv.store)
                .replace("{port}", str(srv.port)))

    with r.case("replay_twice_concurrently_applies_once"):
        procs = [subprocess.Popen([H.freshet_bin(), "dlq", "replay", "-c", srv.config],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=srv.dir,
                                  env=H.sanitizer_env()) for _ in range(2)]
        outs = [p.communicate(timeout=60) for p in procs]
        H.expect(all(p.returncode == 0 for p in procs), "replays: %r", outs)
        rc, out, err = srv.cli(["dlq", "replay"])
        H.expect(rc == 0 and "0 appended to the log, 2 still refused" in out and
                 "20 skipped" in out, "third replay: %r %r", out, err)
        rows = srv.dlq()
        replayed = [x for x in rows if isinstance(x.get("replayed"), dict)]
        again = [x for x in rows if x.get("replay_refused")]
        H.expect(len(rows) == 22, "%d dead letters, expected the 22 (no new ones)", len(rows))
        H.expect(len(replayed) == 20, "%d dead letters replayed into the log, expected 20: %r",
                 len(replayed), rows[:3])
        H.expect(len(again) == 2 and all(x["replay_refused"].startswith(("malformed_json",
                                                                           "wrong_type"))
                                         for x in again),
                 "still refused: %r", [x.get("replay_refused") for x in again])
        offs = sorted(x["replayed"]["offset"] for x in replayed)
        H.expect(offs == list(range(50, 70)), "replayed offsets %r", offs)
        byoff = {x["replayed"]["offset"]: json.loads(x["payload"]) for x in replayed}
        for off in offs:
            e = dict(byoff[off])
            e["channel"] = "web"
            oracle.add("tx", e["ts"], off, e)

    with r.case("features_equal_the_oracle_after_replay"):
        srv.start()
        H.wait_caught_up(srv.http, 60)
        bad = []
        t = now + 1
        for key in oracle.keys("card"):
            j = srv.http.features("card", key, t).json
            errs = H.compare_features(oracle.expected("card", key, t), j["features"])
            if errs:
                bad.append("%s: %s" % (key, errs[:3]))
        H.expect(not bad, "differ: %r", bad)
    H.check_clean_stop(r, srv)
    r.finish()


if __name__ == "__main__":
    main()
