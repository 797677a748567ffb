#!/usr/bin/env bash
# ingest_bench.sh - durable HTTP ingest throughput of a running freshet.
#
#   bench/ingest_bench.sh --url http://127.0.0.1:PORT --data EVENTS.ndjson
#                         [--conns 4] [--duration 10] [--batch 1000] [--label ingest]
#                         [--loadgen build/bench/loadgen] [--no-drain]
#
# CONNS clients POST NDJSON batches of BATCH events (cut from EVENTS, in turn)
# to /v1/events/transactions as fast as the acknowledgements come back
# (closed loop: an answer means the events are durable in the log).  Prints
# loadgen's figures (acknowledged events/s = sum of "accepted" per second,
# request latency percentiles), then waits until the processor has applied
# and committed everything in the log and prints the end-to-end processed
# rate over the whole span (first POST -> last commit) and the drain time
# (--no-drain skips that: for `freshet serve`, which has no processor).
# Make EVENTS with: freshet generate --count 400000 --seed 7 --to - > EVENTS
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
URL="" DATA="" CONNS=4 DURATION=10 BATCH=1000 LABEL=ingest DRAIN=1
LOADGEN="$HERE/../build/bench/loadgen"
while [ $# -gt 0 ]; do
  case "$1" in
    --url) URL="$2"; shift 2;;
    --data) DATA="$2"; shift 2;;
    --conns) CONNS="$2"; shift 2;;
    --duration) DURATION="$2"; shift 2;;
    --batch) BATCH="$2"; shift 2;;
    --label) LABEL="$2"; shift 2;;
    --loadgen) LOADGEN="$2"; shift 2;;
    --no-drain) DRAIN=0; shift;;
    -h|--help) sed -n '2,17p' "$0"; exit 0;;
    *) echo "ingest_bench: unknown argument: $1" >&2; exit 2;;
  esac
done
[ -n "$URL" ] && [ -s "$DATA" ] || { sed -n '2,17p' "$0" >&2; exit 2; }

# committed offset and log end, summed over sources: "COMMITTED END"
offsets() {
  curl -fsS --max-time 5 "$URL/v1/status" |
    jq -r '[([.sources[].committed_offset] | add), ([.sources[].log_end_offset] | add)] | @tsv'
}
now_ms() { date +%s%3N; }

read -r C0 _ < <(offsets)
T0=$(now_ms)
set +e
"$LOADGEN" -u "$URL/v1/events/transactions" --ndjson "$DATA" --batch "$BATCH" \
  -c "$CONNS" -r 0 -d "$DURATION" -w 1 --sum accepted --label "$LABEL"
LG_RC=$?
set -e
T1=$(now_ms)
[ "$DRAIN" = 1 ] || exit "$LG_RC"
# wait (at most 300 s) until the processor has committed the whole log
for _ in $(seq 3000); do
  read -r C1 END < <(offsets)
  [ "$C1" -ge "$END" ] && break
  sleep 0.1
done
T2=$(now_ms)
read -r C1 END < <(offsets)
awk -v c0="$C0" -v c1="$C1" -v end="$END" -v t0="$T0" -v t1="$T1" -v t2="$T2" -v l="$LABEL" 'BEGIN {
  span = (t2 - t0) / 1000.0; drain = (t2 - t1) / 1000.0
  printf "  processor: %d events applied and committed in %.2f s from the first POST " \
         "(%.0f events/s end to end); drained %.2f s after the last answer%s\n",
         c1 - c0, span, (c1 - c0) / span, drain, (c1 < end ? " (NOT caught up)" : "")
  printf "RESULT label=%s-drain processed_events=%d span_s=%.2f processed_per_s=%.0f drain_s=%.2f caught_up=%d\n",
         l, c1 - c0, span, (c1 - c0) / span, drain, (c1 >= end)
}'
exit "$LG_RC"
