#!/usr/bin/python3
"""`freshet generate` histories with labels into running servers.

- The same seeded history (two hours, 2% fraud, chargebacks 1 s to 10 min
  after their transactions) is written to files (the reference), into the
  embedded log of a running `freshet run` (`--to log -c FILE`, a second
  process holding the same store), and over HTTP into another one
  (`--to http://HOST:PORT`, each source to /v1/events/<source>).
- Each server ends with exactly the reference's transactions and
  chargebacks per source (`log_end_offset` in /v1/status), nothing
  refused (`dead_letters` 0, `freshet dlq list` empty), everything
  processed; both serve the same features, and a card's `txn_count_24h`
  at the end of the history is its number of transactions in the files.
- A clickstream history over HTTP into examples/personalization: counts,
  and per-user carts and per user x category views equal to the files'.
- `freshet run --demo` writes chargebacks into the chargebacks source too.
"""
import collections
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

SEED = "11"
N = 30000
HOUR = 3600000


def config_of(example):
    with open(os.path.join(H.ROOT, "examples", example, "freshet.yaml")) as f:
        text = f.read()
    text2 = re.sub(r"(?m)^(\s*path:\s*)\S+.*$", r"\g<1>{store}", text, count=1)
    text2 = re.sub(r'(?m)^(\s*listen:\s*)\S+.*$', r'\g<1>"127.0.0.1:{port}"', text2, count=1)
    H.expect(text2.count("{store}") == 1 and "{port}" in text2,
             "cannot set store.path and server.listen in %s", example)
    return text2


def generate(args, timeout=180):
    rc, out, err = H.run_cli(["generate"] + args, timeout=timeout)
    reps = [ln for ln in err.splitlines() if any(m in ln for m in H.SANITIZER_MARKS)]
    H.expect(not reps, "sanitizer reports from generate:\n%s", err[-3000:])
    H.expect(rc == 0, "generate %s: exit %d: %s", " ".join(args), rc, err[-1500:])
    return err


def read_ndjson(path):
    with open(path) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def wait_counts(srv, want, deadline_s=180):
    """Waits until every source of want {name: n} has n events logged and
    everything is processed; returns the status."""
    end = time.time() + deadline_s
    st = None
    while time.time() < end:
        st = srv.http.status()
        got = {s["name"]: s.get("log_end_offset") for s in st.get("sources", [])}
        if all(got.get(k) == v for k, v in want.items()) and H.caught_up(st):
            return st
        time.sleep(0.1)
    raise AssertionError("sources %r, want %r; status %s" % (
        {s["name"]: s.get("log_end_offset") for s in (st or {}).get("sources", [])}, want,
        json.dumps(st)[:800]))


def main():
    r = H.Runner("generate_history", timeout_s=int(os.environ.get("FRESHET_IT_TIMEOUT", "420")))
    H.require_binary(r)
    tmp = H.make_tmpdir("freshet-genhist-")
    until = (H.now_ms() - HOUR) // 1000 * 1000
    frm = until - 2 * HOUR
    hist = ["--from", str(frm), "--until", str(until), "--count", str(N), "--seed", SEED,
            "--fraud-rate", "0.02", "--label-delay", "1s..10m"]
    fraud_cfg = config_of("fraud")

    tx, cb = [], []
    with r.case("reference_files"):
        generate(hist + ["--to", os.path.join(tmp, "ref-%s.ndjson")])
        tx = read_ndjson(os.path.join(tmp, "ref-transactions.ndjson"))
        cb = read_ndjson(os.path.join(tmp, "ref-chargebacks.ndjson"))
        H.expect(len(tx) == N, "%d transactions", len(tx))
        H.expect(len(cb) > 200, "%d chargebacks", len(cb))
        ids = {e["txn_id"]: e["ts"] for e in tx}
        H.expect(len(ids) == N, "txn_id not unique")
        for c in cb:
            H.expect(c["txn_id"] in ids and 1000 <= c["ts"] - ids[c["txn_id"]] <= 600000,
                     "chargeback %r", c)
        H.expect(all(frm <= e["ts"] < until for e in tx + cb), "a ts outside the history")
    want = {"transactions": len(tx), "chargebacks": len(cb)}

    # ---- into the embedded log of a running server ----
    srv_log = H.Server(fraud_cfg, name="genlog")
    with r.case("log_while_a_server_holds_the_store"):
        srv_log.start()
        err = generate(hist + ["--to", "log", "-c", srv_log.config])
        H.expect("%d accepted, 0 rejected" % (len(tx) + len(cb)) in err, "summary: %r", err)
        st = wait_counts(srv_log, want)
        H.expect(st.get("dead_letters") == 0, "dead letters: %r", st.get("dead_letters"))
        H.expect(srv_log.dlq() == [], "dlq list not empty")

    # ---- over HTTP into another one ----
    srv_http = H.Server(fraud_cfg, name="genhttp")
    with r.case("http_each_source_to_its_route"):
        srv_http.start()
        err = generate(hist + ["--to", "http://127.0.0.1:%d" % srv_http.port])
        H.expect("%d accepted, 0 rejected" % (len(tx) + len(cb)) in err, "summary: %r", err)
        st = wait_counts(srv_http, want)
        H.expect(st.get("dead_letters") == 0, "dead letters: %r", st.get("dead_letters"))
        H.expect(srv_http.dlq() == [], "dlq list not empty")

    with r.case("both_serve_the_files_features"):
        per_card = collections.Counter(e["card_id"] for e in tx)
        fraud_cards = {e["card_id"] for e in tx if e["txn_id"] in {c["txn_id"] for c in cb}}
        cards = [c for c, _ in per_card.most_common(3)] + sorted(fraud_cards)[:5]
        for card in cards:
            a = srv_log.http.features("card_txn", card, as_of=until).json
            b = srv_http.http.features("card_txn", card, as_of=until).json
            H.expect(a["found"] and a["features"] == b["features"],
                     "%s: log %r, http %r", card, a, b)
            H.expect(a["features"]["txn_count_24h"] == per_card[card],
                     "%s: txn_count_24h %r, %d in the files", card,
                     a["features"]["txn_count_24h"], per_card[card])

    for s, name in ((srv_log, "log"), (srv_http, "http")):
        if s.alive():
            H.check_clean_stop(r, s, "clean_shutdown_" + name)

    # ---- a clickstream ----
    srv_clicks = H.Server(config_of("personalization"), name="genclicks")
    with r.case("clicks_over_http"):
        chist = ["--kind", "clicks", "--from", str(frm), "--until", str(until), "--count", "20000",
                 "--seed", SEED, "--users", "2000"]
        generate(chist + ["--to", os.path.join(tmp, "ref-%s.ndjson")])
        clicks = read_ndjson(os.path.join(tmp, "ref-clicks.ndjson"))
        H.expect(len(clicks) == 20000, "%d clicks", len(clicks))
        srv_clicks.start()
        generate(chist + ["--to", "http://127.0.0.1:%d" % srv_clicks.port])
        st = wait_counts(srv_clicks, {"clicks": 20000})
        H.expect(st.get("dead_letters") == 0, "dead letters: %r", st.get("dead_letters"))
        carts = collections.Counter(e["user_id"] for e in clicks if e["event_type"] == "add_to_cart")
        views = collections.Counter(e["user_category"] for e in clicks if e["event_type"] == "view")
        for user, n in carts.most_common(3):
            j = srv_clicks.http.features("user_cart", user, as_of=until).json
            H.expect(j["features"]["carts_24h"] == n, "%s: carts_24h %r, %d in the files", user,
                     j["features"]["carts_24h"], n)
        # views over 1 h (1-minute tiles, DESIGN section 2): as_of is past every event
        edge = until // 60000 * 60000 + 60000 - HOUR
        for uc, _ in views.most_common(3):
            n1h = sum(1 for e in clicks if e["user_category"] == uc and e["event_type"] == "view"
                      and edge <= e["ts"] <= until)
            j = srv_clicks.http.features("user_category_view", uc, as_of=until).json
            H.expect(j["features"]["views_1h"] == n1h, "%s: views_1h %r, %d in the files", uc,
                     j["features"]["views_1h"], n1h)
    if srv_clicks.alive():
        H.check_clean_stop(r, srv_clicks, "clean_shutdown_clicks")

    # ---- the demo feeds chargebacks ----
    srv_demo = H.Server(fraud_cfg, name="gendemo", extra_args=["--demo", "--demo-rate", "3000"])
    with r.case("demo_writes_chargebacks"):
        srv_demo.start()
        end = time.time() + 120  # the first chargebacks are due 10 s after their transactions
        n = 0
        st = None
        while time.time() < end and n == 0:
            time.sleep(0.5)
            st = srv_demo.http.status()
            n = H.source_status(st, "chargebacks").get("log_end_offset") or 0
        H.expect(n > 0, "no chargeback from the demo: %s", json.dumps(st)[:600])
        H.expect(st.get("dead_letters") == 0, "dead letters: %r", st.get("dead_letters"))
    if srv_demo.alive():
        H.check_clean_stop(r, srv_demo, "clean_shutdown_demo")

    r.finish()


if __name__ == "__main__":
    main()
