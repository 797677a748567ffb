#!/usr/bin/python3
"""On-demand features on the command line: `freshet validate` counts them in
the example, and reports a broken expression as FILE:LINE:COL at the operand
at fault inside the expression (exit 1, one line on stderr).
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

BASE = """\
sources:
  - name: tx
    timestamp: ts
    fields:
      - { name: card_id, type: string }
      - { name: amount, type: double }
      - { name: country, type: string, optional: true }
      - { name: ts, type: long }
feature_views:
  - name: card
    source: tx
    entity: card_id
    windows: [1h]
    aggregations:
      - { fn: avg, field: amount, name: amount_avg }
      - { fn: last, field: country, name: last_country }
on_demand:
  - { name: ratio, expr: "amount / card.amount_avg_1h" }
"""

# (name, lines appended, expected stderr after "FILE:")
BROKEN = [
    ("type", '  - { name: r, expr: "ratio * 2 + country" }\n',
     "19:35: on-demand feature 'r': '+' needs numbers, got string"),
    ("unknown_feature", "  - name: r\n    expr: >\n      coalesce(card.amount_avg_2h,\n"
     "               0.0)\n",
     "21:16: on-demand feature 'r': view 'card' has no feature 'amount_avg_2h'; expected one of "
     "amount_avg_1h, last_country_1h"),
    ("syntax", "  - { name: r, expr: 'country = \"US\"' }\n",
     "19:31: on-demand feature 'r': '=' is not an operator; expected '==' to compare"),
]


def main():
    r = H.Runner("ondemand_cli", timeout_s=int(os.environ.get("FRESHET_IT_TIMEOUT", "60")))
    H.require_binary(r)
    tmp = H.make_tmpdir("freshet-od-")

    with r.case("validate_example_counts_on_demand_features"):
        rc, out, err = H.run_cli(["validate", "-c", "examples/fraud/freshet.yaml"])
        H.expect(rc == 0 and "2 on-demand features" in out, "exit %d, stdout %r, stderr %r", rc,
                 out, err[:300])

    with r.case("validate_base"):
        p = os.path.join(tmp, "base.yaml")
        with open(p, "w") as f:
            f.write(BASE)
        rc, out, err = H.run_cli(["validate", "-c", p])
        H.expect(rc == 0 and "1 on-demand features" in out, "exit %d, stdout %r, stderr %r", rc,
                 out, err[:300])

    for name, extra, want in BROKEN:
        with r.case("broken_" + name):
            p = os.path.join(tmp, name + ".yaml")
            with open(p, "w") as f:
                f.write(BASE + extra)
            rc, out, err = H.run_cli(["validate", "-c", p])
            H.expect(rc == 1, "exit %d (expected 1); stderr %r", rc, err[:300])
            H.expect(err.strip() == p + ":" + want, "stderr %r, expected %r", err.strip(),
                     p + ":" + want)
    r.finish()


if __name__ == "__main__":
    main()
