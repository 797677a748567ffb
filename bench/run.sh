#!/usr/bin/env bash
# run.sh - freshet's benchmarks in one run, with the seedstack peer side by side.
#
#   bench/run.sh [--duration 10] [--threads "2 4"] [--rates "2000 5000 10000 20000"]
#                [--entities 100000] [--ingest-conns 8] [--fresh-load-eps "10000 50000"]
#                [--redis-threads 4] [--kafka-events 1000000] [--avro-events 5000000]
#                [--gen-events 200000] [--steps REGEX]
#                [--seedstack DIR | --no-seedstack] [--no-processor-bench]
#                [--tries 3] [--out FILE] [--no-build]
#
# For each value of server.threads: starts `freshet run` on a copy of
# examples/fraud/freshet.yaml (store in a temp dir, a free loopback port),
# preloads one event for every card c000001..c<entities> plus generator
# traffic, checks that serving answers found:true, then measures
#   noise-floor    GET /healthz, open loop 2000 req/s: the latency floor this VM gives
#                  right now (timer wake-ups delayed by the host show up here)
#   serve-closed   GET /v1/features/card_txn/{random card}, loadgen closed loop, 32 conns
#   serve-wrk      the same with wrk -t2 -c32 (cross-check)
#   serve-open-R   the same, open loop at R req/s (latency from the scheduled send)
#   ingest         durable NDJSON ingest, batches of 1000, closed loop (ingest_bench.sh),
#                  then the time the processor needs to apply and commit it all
#   ingest-serve   the same against `freshet serve` (HTTP ingest without a processor)
#   fresh-idle     ingest ack -> visible in GET, 100 new entities/s, nothing else running
#   fresh-load-E   the same while ingest runs at E events/s (each of --fresh-load-eps)
# then, on a redis-server of its own (free loopback port, no persistence) and
# `freshet run` with store.backend redis (server.threads --redis-threads),
# preloaded and checked the same way:
#   redis-serve-wrk     GET features, wrk -t2 -c32 (as serve-wrk)
#   redis-serve-open-R  open loop at R req/s (each of --rates, and 10000)
#   redis-ingest        durable ingest as `ingest`; its drain is HTTP -> log -> commits into Redis
#   redis-benchmark-get the floor: redis-benchmark -t get -n 200000 -P 1 -c 32 -d <mean size of
#                       a stored card_txn state>, on a key SET to that many bytes beforehand
# then Kafka -> online store through librdkafka's mock cluster (kafka_bench, in-process):
#   kafka-F-S      kafka_bench --events <kafka-events> --format F (avro|json), store S (lmdb, or
#                  redis: the redis-server above, emptied first): the mock's ingest and fetch
#                  ceilings beside freshet process's decode+aggregate+commit rate (over the
#                  events the mock kept: it holds ~5 MiB per partition)
#   kafka-gen-F    freshet generate --to kafka://<kafka_mock>/gen-F --format F --count
#                  <gen-events> (Avro: schema registered in an embedded registry, -c FILE)
#   avro           avro_bench <avro-events>: Avro decode + projection on one core
# then processor_bench (the processing loop alone), then seedstack's FastAPI
# GET /features/{id} with the same wrk and loadgen settings (the peer at
# ../shared/peers/seedstack beside the repository by default; skipped with a
# message when it is absent).  Binaries: `make bench` (BUILD=build):
# build/freshet and build/bench/*.  A section none of
# whose steps --steps selects is skipped whole (no server started, no preload).
#
# The machine is shared: before each step the script waits (up to 120 s)
# for the CPUs to be quiet, measures the CPU other processes used during the
# step (foreign_cpu, %), and retries a step they disturbed by more than
# QUIET_PCT (default 15) %, keeping the least disturbed try.  srv_cpu_ms is
# the CPU the server under test used during the step (contention-robust cost;
# freshet + redis-server for the redis-serve steps, redis-server alone for
# redis-benchmark-get and kafka-*-redis), client_cpu_ms what the load
# generators used (for kafka-*: kafka_bench with its mock cluster, and the
# `freshet process` it starts).
# Every process started here is stopped on exit, error or interrupt.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BUILD="${BUILD:-build}"   # `make bench`: build/freshet and build/bench/*
DURATION=10 THREADS_LIST="2 4" RATES="2000 5000 10000 20000" ENTITIES=100000 INGEST_CONNS=8
FRESH_LOAD_EPS="10000 50000" SEEDSTACK="$ROOT/../shared/peers/seedstack" DO_SEED=1 DO_PROC=1 TRIES=3
OUT="" DO_BUILD=1 STEPS="."
REDIS_THREADS=4 KAFKA_EVENTS=1000000 AVRO_EVENTS=5000000 GEN_EVENTS=200000
QUIET_PCT="${QUIET_PCT:-15}" QUIET_WAIT="${QUIET_WAIT:-120}"
# the system python: a pyenv shim would add its own CPU to every snapshot
PY="${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}"
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2;;
    --threads) THREADS_LIST="$2"; shift 2;;
    --rates) RATES="$2"; shift 2;;
    --entities) ENTITIES="$2"; shift 2;;
    --ingest-conns) INGEST_CONNS="$2"; shift 2;;
    --fresh-load-eps) FRESH_LOAD_EPS="$2"; shift 2;;
    --redis-threads) REDIS_THREADS="$2"; shift 2;;
    --kafka-events) KAFKA_EVENTS="$2"; shift 2;;
    --avro-events) AVRO_EVENTS="$2"; shift 2;;
    --gen-events) GEN_EVENTS="$2"; shift 2;;
    --seedstack) SEEDSTACK="$2"; shift 2;;
    --no-seedstack) DO_SEED=0; shift;;
    --no-processor-bench) DO_PROC=0; shift;;
    --tries) TRIES="$2"; shift 2;;
    --steps) STEPS="$2"; shift 2;;
    --out) OUT="$2"; shift 2;;
    --no-build) DO_BUILD=0; shift;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0;;
    *) echo "run.sh: unknown argument: $1" >&2; exit 2;;
  esac
done
cd "$ROOT"
if [ "$DO_BUILD" = 1 ]; then
  make --no-print-directory BUILD="$BUILD" bench "$BUILD/tests/tools/kafka_mock" >/dev/null
fi
FRESHET="$ROOT/$BUILD/freshet"
LOADGEN="$ROOT/$BUILD/bench/loadgen"
FRESH="$ROOT/$BUILD/bench/freshness_bench"
PROC="$ROOT/$BUILD/bench/processor_bench"
KBENCH="$ROOT/$BUILD/bench/kafka_bench"
AVROB="$ROOT/$BUILD/bench/avro_bench"
KMOCK="$ROOT/$BUILD/tests/tools/kafka_mock"
for b in "$FRESHET" "$LOADGEN" "$FRESH"; do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done
command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq not installed" >&2; exit 1; }

selected() {  # selected NAME...: true if --steps selects one of the step names
  local n
  for n; do grep -Eq -- "$STEPS" <<<"$n" && return 0; done
  return 1
}
LMDB_STEPS="noise-floor serve-closed serve-wrk ingest fresh-idle ingest-serve"
for R in $RATES; do LMDB_STEPS="$LMDB_STEPS serve-open-$R"; done
for E in $FRESH_LOAD_EPS; do LMDB_STEPS="$LMDB_STEPS fresh-load-$E"; done
# shellcheck disable=SC2086
REDIS_RATES="$(printf '%s\n' $RATES 10000 | awk '!seen[$0]++' | tr '\n' ' ')"
REDIS_STEPS="redis-serve-wrk redis-ingest redis-benchmark-get"
for R in $REDIS_RATES; do REDIS_STEPS="$REDIS_STEPS redis-serve-open-$R"; done
KAFKA_REDIS_STEPS="kafka-avro-redis kafka-json-redis"
KAFKA_STEPS="kafka-avro-lmdb kafka-json-lmdb $KAFKA_REDIS_STEPS"
GEN_STEPS="kafka-gen-json kafka-gen-avro"
SEED_STEPS="noise-floor serve-closed serve-wrk"
for R in $RATES; do SEED_STEPS="$SEED_STEPS serve-open-$R"; done
# shellcheck disable=SC2086
if selected $REDIS_STEPS $KAFKA_REDIS_STEPS; then
  for b in redis-server redis-cli redis-benchmark; do
    command -v "$b" >/dev/null || { echo "$b not installed" >&2; exit 1; }
  done
fi
# shellcheck disable=SC2086
if selected $KAFKA_STEPS; then [ -x "$KBENCH" ] || { echo "missing $KBENCH" >&2; exit 1; }; fi
# shellcheck disable=SC2086
if selected $GEN_STEPS; then [ -x "$KMOCK" ] || { echo "missing $KMOCK" >&2; exit 1; }; fi
if selected avro; then [ -x "$AVROB" ] || { echo "missing $AVROB" >&2; exit 1; }; fi

W="$(mktemp -d /tmp/freshet-bench-XXXXXX)"
RES="$W/results"
: > "$RES"
FPID="" SS_PORT="" SS_STARTED=0 BG_PIDS="" RPID="" RPORT="" KMPID=""
stop_freshet() {
  [ -n "$FPID" ] || return 0
  if kill -0 "$FPID" 2>/dev/null; then
    kill -TERM "$FPID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$FPID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$FPID" 2>/dev/null && kill -KILL "$FPID" 2>/dev/null
  fi
  wait "$FPID" 2>/dev/null || true
  FPID=""
}
start_redis() {  # a redis-server of our own, loopback, no persistence: sets RPID, RPORT
  RPORT="$(free_port)"
  mkdir -p "$W/redis"
  redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --dir "$W/redis" \
    > "$W/redis/log" 2>&1 &
  RPID=$!
  for _ in $(seq 100); do redis-cli -h 127.0.0.1 -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -h 127.0.0.1 -p "$RPORT" ping >/dev/null 2>&1 ||
    { log "redis-server did not start:"; cat "$W/redis/log"; exit 1; }
  log "redis-server: pid $RPID on 127.0.0.1:$RPORT (no persistence)"
}
stop_redis() {
  [ -n "$RPID" ] || return 0
  kill -TERM "$RPID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$RPID" 2>/dev/null && kill -KILL "$RPID" 2>/dev/null
  wait "$RPID" 2>/dev/null || true
  RPID=""
  return 0
}
start_kmock() {  # kafka_mock (3 brokers), commands on fd 7: sets KMPID, KBOOT
  mkfifo "$W/kmock.in"
  "$KMOCK" --topic gen-json:8 --topic gen-avro:8 < "$W/kmock.in" > "$W/kmock.out" 2>&1 &
  KMPID=$!
  exec 7>"$W/kmock.in"
  KBOOT=""
  for _ in $(seq 100); do
    KBOOT="$(sed -n 's/^bootstrap //p' "$W/kmock.out")"
    [ -n "$KBOOT" ] && break
    sleep 0.1
  done
  [ -n "$KBOOT" ] || { log "kafka_mock did not start:"; cat "$W/kmock.out"; exit 1; }
  log "kafka_mock: pid $KMPID, bootstrap $KBOOT"
}
stop_kmock() {  # end of input stops it
  [ -n "$KMPID" ] || return 0
  exec 7>&-
  for _ in $(seq 100); do kill -0 "$KMPID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$KMPID" 2>/dev/null && kill -KILL "$KMPID" 2>/dev/null
  wait "$KMPID" 2>/dev/null || true
  KMPID=""
  return 0
}
cleanup() {
  set +e
  if [ -n "$OUT" ] && [ -s "$RES" ]; then cp "$RES" "$OUT"; fi
  # a background job's own children first (kafka_bench's `freshet process`)
  for p in $BG_PIDS; do pkill -TERM -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  stop_freshet
  stop_redis
  stop_kmock
  if [ "$SS_STARTED" = 1 ]; then
    SEEDSTACK_RUN_DIR="$W/seedstack" "$SEEDSTACK/stop.sh" --port "$SS_PORT" >/dev/null 2>&1
  fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*"; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_quiet() {
  local t0=$SECONDS pct
  while :; do
    pct="$("$PY" "$HERE/cpuwatch.py" busy 2)"
    [ "$pct" -lt "$QUIET_PCT" ] && return 0
    if [ $((SECONDS - t0)) -ge "$QUIET_WAIT" ]; then
      log "  (machine still ${pct}% busy after ${QUIET_WAIT}s; measuring anyway)"; return 0; fi
  done
}

# step NAME "SERVER_PIDS" CMD...: a measured step (see the header); appends
# its RESULT lines, tagged, to $RES and prints its output.
step() {
  local name="$1" srv="$2"; shift 2
  local try best_f=1000 f ms cl
  grep -Eq -- "$STEPS" <<<"$name" || return 0   # --steps: not selected
  for try in $(seq "$TRIES"); do
    wait_quiet
    "$PY" "$HERE/cpuwatch.py" snap "$W/s0"
    "$@" > "$W/out.$try" 2>&1 || true
    "$PY" "$HERE/cpuwatch.py" snap "$W/s1"
    # shellcheck disable=SC2086
    f="$("$PY" "$HERE/cpuwatch.py" foreign "$W/s0" "$W/s1" $$ $srv)"
    # shellcheck disable=SC2086
    ms="$("$PY" "$HERE/cpuwatch.py" tree "$W/s0" "$W/s1" $srv)"
    # shellcheck disable=SC2086
    cl="$("$PY" "$HERE/cpuwatch.py" client "$W/s0" "$W/s1" $$ $srv)"
    if [ "$f" -lt "$best_f" ]; then
      best_f="$f"; cp "$W/out.$try" "$W/best"; echo "$ms" > "$W/best.ms"; echo "$cl" > "$W/best.cl"
    fi
    [ "$f" -le "$QUIET_PCT" ] && break
    [ "$try" -lt "$TRIES" ] && log "  ($name: other processes used ${f}% of the CPUs; retrying)"
  done
  sed 's/^/  /' "$W/best"
  grep '^RESULT' "$W/best" |
    sed "s/\$/ step=$name cfg=$CFG foreign_cpu=$best_f srv_cpu_ms=$(cat "$W/best.ms") client_cpu_ms=$(cat "$W/best.cl")/" >> "$RES"
  log "  [$name: foreign_cpu ${best_f}%, server CPU $(cat "$W/best.ms") ms, load generator CPU $(cat "$W/best.cl") ms]"
}

wait_drained() {  # wait (at most 600 s) until the processor has committed the whole log
  local c e
  for _ in $(seq 6000); do
    read -r c e < <(curl -fsS "$URL/v1/status" |
      jq -r '[([.sources[].committed_offset] | add), ([.sources[].log_end_offset] | add)] | @tsv')
    [ "$c" -ge "$e" ] && return 0
    sleep 0.1
  done
  return 1
}

start_freshet() {  # start_freshet THREADS [run|serve [REDIS_URL]]: sets FPID, URL
  local t="$1" mode="${2:-run}" redis="${3:-}" dir="$W/fr-$1-${2:-run}${3:+-redis}"
  mkdir -p "$dir"
  awk -v path="$dir/data" -v t="$t" -v redis="$redis" '
    /^  backend:/ && redis != "" {
      print "  backend: redis"; print "  redis: { url: \"" redis "\" }"; next }
    /^  path:/ { sub(/path: [^ ]*/, "path: " path) }
    /^  listen:/ { print "  listen: \"127.0.0.1:0\""; print "  threads: " t; next }
    { print }' "$ROOT/examples/fraud/freshet.yaml" > "$dir/freshet.yaml"
  "$FRESHET" "$mode" -c "$dir/freshet.yaml" > "$dir/log" 2>&1 &
  FPID=$!
  local port=""
  for _ in $(seq 100); do
    port="$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$dir/log" | grep -o '[0-9]*$' || true)"
    [ -n "$port" ] && break
    kill -0 "$FPID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$port" ] || { log "freshet did not start:"; cat "$dir/log"; exit 1; }
  URL="http://127.0.0.1:$port"
  log "freshet $mode: pid $FPID on $URL, server.threads=$t, store ${redis:+$redis, log in }$dir/data"
}

check_serving() {  # exits with evidence unless known entities are served
  local id body bad=0
  for id in c000001 "$(printf 'c%06d' $((ENTITIES / 2)))" "$(printf 'c%06d' "$ENTITIES")"; do
    body="$(curl -fsS "$URL/v1/features/card_txn/$id")"
    if ! grep -q '"found":true' <<<"$body" || ! grep -q '"degraded":false' <<<"$body"; then
      log "SERVING CHECK FAILED for $id (it was ingested and the log is drained):"
      log "  $body"; bad=1
    fi
  done
  [ "$bad" = 0 ] || { log "stopping: the features being served are wrong; no figures taken"; exit 3; }
  log "serving check: c000001 .. $(printf 'c%06d' "$ENTITIES") found:true, degraded:false"
}

# ---- data
log "== freshet benchmarks $(date -u +%FT%TZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty'), work dir $W"
NOW=$(date +%s%3N)
awk -v n="$ENTITIES" -v now="$NOW" 'BEGIN { for (i = 1; i <= n; i++)
  printf "{\"card_id\":\"c%06d\",\"amount\":%d.%02d,\"merchant_id\":\"m%04d\",\"country\":\"US\",\"txn_id\":\"p%d\",\"ts\":%.0f}\n",
         i, 10 + i % 290, i % 100, 1 + i % 5000, i, now - 60000 + i % 50000 }' > "$W/preload.ndjson"
"$FRESHET" generate --count $((3 * ENTITIES)) --seed 1 --cards "$ENTITIES" --to - >> "$W/preload.ndjson" 2>/dev/null
"$FRESHET" generate --count 400000 --seed 7 --cards "$ENTITIES" --to - > "$W/ingest.ndjson" 2>/dev/null
PRELOAD_N=$(wc -l < "$W/preload.ndjson")
log "data: preload $PRELOAD_N events ($ENTITIES cards, each at least once), ingest set 400000 events"

preload() {  # POSTs the preload set to $URL, waits until it is committed, checks serving
  "$LOADGEN" -u "$URL/v1/events/transactions" --ndjson "$W/preload.ndjson" --batch 1000 -c 4 \
    -r 0 -w 0 -d 600 -n $(((PRELOAD_N + 999) / 1000)) --sum accepted --label preload | grep -E '^  (requests|sum)' || true
  wait_drained || { log "processor did not catch up"; exit 1; }
  check_serving
}

GET_PATH='/v1/features/card_txn/c%06d'
# shellcheck disable=SC2086
selected $LMDB_STEPS || THREADS_LIST=""
for T in $THREADS_LIST; do
  CFG="fr-t$T"
  log ""
  log "== freshet, server.threads=$T"
  start_freshet "$T"
  preload

  log "-- noise floor: GET /healthz, open loop at 2000 req/s (how late this VM runs timers)"
  step noise-floor "$FPID" "$LOADGEN" -u "$URL/healthz" -c 32 -r 2000 -d "$DURATION" --label noise-floor
  log "-- serving, closed loop (loadgen, 32 connections)"
  step serve-closed "$FPID" "$LOADGEN" -u "$URL$GET_PATH" --ids "1-$ENTITIES" -c 32 -r 0 \
    -d "$DURATION" --expect '"found":true' --label serve-closed
  log "-- serving, closed loop (wrk -t2 -c32)"
  step serve-wrk "$FPID" env WRK_PATH="$GET_PATH" WRK_IDS_LO=1 WRK_IDS_HI="$ENTITIES" \
    WRK_LABEL=serve-wrk wrk -t2 -c32 -d"${DURATION}s" -s "$HERE/wrk_features.lua" "$URL"
  for R in $RATES; do
    log "-- serving, open loop at $R req/s"
    step "serve-open-$R" "$FPID" "$LOADGEN" -u "$URL$GET_PATH" --ids "1-$ENTITIES" -c 32 -r "$R" \
      -d "$DURATION" --expect '"found":true' --label "serve-open-$R"
  done
  log "-- durable ingest, NDJSON batches of 1000, $INGEST_CONNS connections"
  step ingest "$FPID" "$HERE/ingest_bench.sh" --url "$URL" --data "$W/ingest.ndjson" \
    --conns "$INGEST_CONNS" --duration "$DURATION" --loadgen "$LOADGEN"
  log "-- freshness, idle server"
  step fresh-idle "$FPID" "$FRESH" -u "$URL" -r 100 -d "$DURATION" --label fresh-idle
  fresh_load() {  # fresh_load EPS: freshness probes while ingest runs at EPS events/s
    "$LOADGEN" -u "$URL/v1/events/transactions" --ndjson "$W/ingest.ndjson" --batch 1000 -c 4 \
      -r "$(awk -v e="$1" 'BEGIN { print e / 1000 }')" -w 0 -d $((DURATION + 2)) \
      --sum accepted --label "fresh-bg-ingest-$1" > "$W/bg.out" 2>&1 &
    local bg=$!
    BG_PIDS="$bg"
    sleep 1
    "$FRESH" -u "$URL" -r 100 -d "$DURATION" --label "fresh-load-$1"
    wait "$bg" || true
    BG_PIDS=""
    grep -E '^RESULT' "$W/bg.out"
  }
  for E in $FRESH_LOAD_EPS; do
    log "-- freshness under ingest load ($E events/s in batches of 1000)"
    wait_drained || true
    step "fresh-load-$E" "$FPID" fresh_load "$E"
  done
  wait_drained || true
  stop_freshet
  if grep -Eq -- "$STEPS" <<<ingest-serve; then
    log "-- durable ingest without a processor (freshet serve), $INGEST_CONNS connections"
    start_freshet "$T" serve
    step ingest-serve "$FPID" "$HERE/ingest_bench.sh" --url "$URL" --data "$W/ingest.ndjson" \
      --conns "$INGEST_CONNS" --duration "$DURATION" --loadgen "$LOADGEN" --no-drain \
      --label ingest-serve
    stop_freshet
  fi
done

# shellcheck disable=SC2086
if selected $REDIS_STEPS $KAFKA_REDIS_STEPS; then
  log ""
  log "== Redis online store"
  start_redis
  RCLI=(redis-cli -h 127.0.0.1 -p "$RPORT")
fi
# shellcheck disable=SC2086
if selected $REDIS_STEPS; then
  CFG="redis-t$REDIS_THREADS"
  log "== freshet on Redis, server.threads=$REDIS_THREADS"
  start_freshet "$REDIS_THREADS" run "redis://127.0.0.1:$RPORT"
  preload
  # the mean size of a stored card_txn state, over 1000 cards spread over the ids
  STATE_BYTES="$(awk -v n="$ENTITIES" 'BEGIN { s = n / 1000; if (s < 1) s = 1
      for (i = 1; i <= n; i += s) printf "STRLEN fr:v:card_txn:{c%06d}\n", i }' |
    "${RCLI[@]}" | awk '$1 > 0 { t += $1; k++; if ($1 > m) m = $1 }
      END { printf "%d %d %d", k ? t / k : 0, k, m }')"
  read -r STATE_BYTES STATE_N STATE_MAX <<<"$STATE_BYTES"
  log "stored card_txn states: mean $STATE_BYTES bytes (largest $STATE_MAX) over $STATE_N sampled cards; $("${RCLI[@]}" dbsize) keys"
  RSRV="$FPID $RPID"
  log "-- freshet on Redis, serving, closed loop (wrk -t2 -c32)"
  step redis-serve-wrk "$RSRV" env WRK_PATH="$GET_PATH" WRK_IDS_LO=1 WRK_IDS_HI="$ENTITIES" \
    WRK_LABEL=redis-serve-wrk wrk -t2 -c32 -d"${DURATION}s" -s "$HERE/wrk_features.lua" "$URL"
  for R in $REDIS_RATES; do
    log "-- freshet on Redis, serving, open loop at $R req/s"
    step "redis-serve-open-$R" "$RSRV" "$LOADGEN" -u "$URL$GET_PATH" --ids "1-$ENTITIES" -c 32 \
      -r "$R" -d "$DURATION" --expect '"found":true' --label "redis-serve-open-$R"
  done
  log "-- the floor: redis-benchmark GET of one $STATE_BYTES-byte value, 32 connections, no pipelining"
  # without a stored key every GET would answer nil; the key redis-benchmark asks for is
  # literally key:__rand_int__ when no -r is given
  head -c "$STATE_BYTES" /dev/zero | tr '\0' x | "${RCLI[@]}" -x set 'key:__rand_int__' >/dev/null
  redis_floor() {
    redis-benchmark -h 127.0.0.1 -p "$RPORT" -t get -n 200000 -P 1 -c 32 -d "$STATE_BYTES" --csv |
      awk -v b="$STATE_BYTES" '{ print } /^"GET"/ { gsub(/"/, ""); split($0, f, ",")
        printf "RESULT label=redis-benchmark-get mode=closed-redis-benchmark requests=200000 rps=%s errors=0 p50_ms=%s p95_ms=%s p99_ms=%s max_ms=%s value_bytes=%s\n",
               f[2], f[5], f[6], f[7], f[8], b }'
  }
  step redis-benchmark-get "$RPID" redis_floor
  "${RCLI[@]}" del 'key:__rand_int__' >/dev/null
  log "-- freshet on Redis, durable ingest, NDJSON batches of 1000, $INGEST_CONNS connections (drain: commits into Redis)"
  step redis-ingest "$RSRV" "$HERE/ingest_bench.sh" --url "$URL" --data "$W/ingest.ndjson" \
    --conns "$INGEST_CONNS" --duration "$DURATION" --loadgen "$LOADGEN" --label redis-ingest
  wait_drained || true
  stop_freshet
fi

# shellcheck disable=SC2086
if selected $KAFKA_STEPS; then
  CFG=kafka
  log ""
  log "== Kafka -> online store: $KBENCH, librdkafka's mock cluster in its process"
  kafka_run() {  # kafka_run FORMAT STORE: one kafka_bench on a fresh store, RESULT line
    local fmt="$1" st="$2" dir kb
    local extra=()
    dir="$(mktemp -d "$W/kbench-XXXXXX")"
    if [ "$st" = redis ]; then
      "${RCLI[@]}" flushall >/dev/null   # positions and states of an earlier try
      extra=(--redis "redis://127.0.0.1:$RPORT")
    fi
    "$KBENCH" --events "$KAFKA_EVENTS" --format "$fmt" --freshet "$FRESHET" --dir "$dir" \
      "${extra[@]}" > "$dir/out" 2>&1 &
    kb=$!
    BG_PIDS="$kb"
    wait "$kb" || true
    BG_PIDS=""
    grep -v ' info  ' "$dir/out"
    awk -v l="kafka-$fmt-$st" -v st="$st" '
      / events \(/ { ev = kept = $2; bytes = substr($5, 2) }
      /mock cluster kept/ { kept = $5 }   # it holds ~5 MiB per partition; the figures count these
      /mock cluster ingest/ { ing = $(NF - 3) }
      /mock cluster fetch/ { fet = $(NF - 3) }
      /freshet process/ { for (i = 1; i <= NF; i++) {
          if ($i == "first" && !pr) pr = $(i - 4)
          if ($i == "start" && !ps) ps = $(i - 4) } }
      END { if (pr) printf "RESULT label=%s kind=kafka store=%s events=%s kept=%s bytes_per_event=%s mock_ingest_per_s=%s mock_fetch_per_s=%s process_per_s=%s process_from_start_per_s=%s\n",
              l, st, ev, kept, bytes, ing, fet, pr, ps }' "$dir/out"
    rm -rf "$dir"
  }
  for ST in lmdb redis; do
    for FMT in avro json; do
      selected "kafka-$FMT-$ST" || continue
      log "-- Kafka -> $ST, $FMT, $KAFKA_EVENTS events"
      if [ "$ST" = redis ]; then KSRV="$RPID"; else KSRV=""; fi
      step "kafka-$FMT-$ST" "$KSRV" kafka_run "$FMT" "$ST"
    done
  done
fi
stop_redis

# shellcheck disable=SC2086
if selected $GEN_STEPS; then
  CFG=kafka
  log ""
  log "== freshet generate -> Kafka (kafka_mock, 3 brokers, topics of 8 partitions)"
  start_kmock
  mkdir -p "$W/gen"
  # an LMDB store of its own: its embedded registry takes the Avro schema
  awk -v path="$W/gen/data" '/^  path:/ { sub(/path: [^ ]*/, "path: " path) } { print }' \
    "$ROOT/examples/fraud/freshet.yaml" > "$W/gen/freshet.yaml"
  gen_run() {  # gen_run FORMAT
    local reg=()
    [ "$1" = avro ] && reg=(-c "$W/gen/freshet.yaml")
    "$FRESHET" generate --to "kafka://$KBOOT/gen-$1" --format "$1" --count "$GEN_EVENTS" --seed 1 \
      "${reg[@]}" 2>&1 | awk -v l="kafka-gen-$1" '{ print } /^generate: / {
        for (i = 1; i <= NF; i++) if ($i == "events/s)") r = substr($(i - 1), 2)
        printf "RESULT label=%s kind=kafka-gen events=%s events_per_s=%s\n", l, $2, r }'
  }
  for FMT in json avro; do
    selected "kafka-gen-$FMT" || continue
    log "-- freshet generate --to kafka://.../gen-$FMT --format $FMT --count $GEN_EVENTS"
    step "kafka-gen-$FMT" "$KMPID" gen_run "$FMT"
  done
  stop_kmock
fi

if selected avro; then
  CFG=avro
  log ""
  log "== Avro decode + projection, one core ($AVROB $AVRO_EVENTS)"
  avro_run() {
    "$AVROB" "$AVRO_EVENTS" | awk '{ print } / events\/s / {
        for (i = 1; i <= NF; i++) if ($i == "events/s") { r = $(i - 1); break }
        n = $1; for (j = 2; j < i - 1; j++) n = n "-" $j
        if (n !~ /^avro/) n = "avro-" n
        printf "RESULT label=%s kind=avro events_per_s=%s ns_per_event=%s\n", n, r, $(i + 1) }'
  }
  step avro "" avro_run
fi

if [ "$DO_PROC" = 1 ] && [ -x "$PROC" ]; then
  CFG=processor
  log ""
  log "== processor hot path ($PROC, default arguments)"
  proc_bench() { "$PROC" 2>&1 | awk '{ print } /events\/s on one thread/ {
      gsub(/[()]/, ""); printf "RESULT label=processor events_per_s=%s ns_per_event=%s\n", $1, $6 }'; }
  step processor "" proc_bench
fi

# shellcheck disable=SC2086
if [ "$DO_SEED" = 1 ] && selected $SEED_STEPS && [ ! -x "$SEEDSTACK/run.sh" ]; then
  log ""
  log "== seedstack: no peer at $SEEDSTACK (--seedstack DIR names another); its steps are skipped"
  DO_SEED=0
fi
# shellcheck disable=SC2086
if [ "$DO_SEED" = 1 ] && selected $SEED_STEPS; then
  CFG=seedstack
  log ""
  log "== seedstack (FastAPI + Redis, 2 uvicorn workers) from $SEEDSTACK"
  SS_PORT="$(free_port)"; SS_REDIS="$(free_port)"
  SS_STARTED=1
  # (its output to a file, not a pipe: redis-server keeps the inherited stdout open)
  SEEDSTACK_RUN_DIR="$W/seedstack" "$SEEDSTACK/run.sh" --port "$SS_PORT" --redis-port "$SS_REDIS" \
    --workers 2 --cards "$ENTITIES" > "$W/seedstack-start.log" 2>&1 ||
    { cat "$W/seedstack-start.log"; exit 1; }
  tail -1 "$W/seedstack-start.log"
  SS_PIDS="$(cat "$W/seedstack/uvicorn.pid" "$W/seedstack/redis.pid" | tr '\n' ' ')"
  SURL="http://127.0.0.1:$SS_PORT"
  curl -fsS "$SURL/features/4242" | head -c 200; echo
  SS_PATH='/features/%d'
  log "-- seedstack noise floor: GET /healthz, open loop at 2000 req/s"
  step noise-floor "$SS_PIDS" "$LOADGEN" -u "$SURL/healthz" -c 32 -r 2000 -d "$DURATION" \
    --label ss-noise-floor
  log "-- seedstack serving, closed loop (loadgen, 32 connections)"
  step serve-closed "$SS_PIDS" "$LOADGEN" -u "$SURL$SS_PATH" --ids "0-$((ENTITIES - 1))" -c 32 -r 0 \
    -d "$DURATION" --expect '"feature_store"' --label ss-serve-closed
  log "-- seedstack serving, closed loop (wrk -t2 -c32)"
  step serve-wrk "$SS_PIDS" env WRK_PATH="$SS_PATH" WRK_IDS_LO=0 WRK_IDS_HI=$((ENTITIES - 1)) \
    WRK_LABEL=ss-serve-wrk wrk -t2 -c32 -d"${DURATION}s" -s "$HERE/wrk_features.lua" "$SURL"
  for R in $RATES; do
    log "-- seedstack serving, open loop at $R req/s"
    step "serve-open-$R" "$SS_PIDS" "$LOADGEN" -u "$SURL$SS_PATH" --ids "0-$((ENTITIES - 1))" -c 32 \
      -r "$R" -d "$DURATION" --expect '"feature_store"' --label "ss-serve-open-$R"
  done
  SEEDSTACK_RUN_DIR="$W/seedstack" "$SEEDSTACK/stop.sh" --port "$SS_PORT" >/dev/null 2>&1 || true
  SS_STARTED=0
fi

log ""
log "== summary (server.threads per cfg; foreign = CPU other processes took during the step)"
awk '
  function get(k,   i, n, kv) { n = split($0, kv, " "); for (i = 1; i <= n; i++)
      if (index(kv[i], k "=") == 1) return substr(kv[i], length(k) + 2); return "" }
  BEGIN { print "srv us / cli us = server / load generator CPU per request (srv: per event for"
          print "ingest-drain, HTTP ingest + processing); foreign = CPU other processes took"
          printf "%-11s %-26s %12s %9s %9s %9s %9s %7s %8s %8s %8s\n", "cfg", "what", "rate", "p50 ms",
          "p99 ms", "p99.9 ms", "max ms", "errors", "srv us", "cli us", "foreign" }
  {
    lab = get("label"); cfg = get("cfg"); f = get("foreign_cpu") "%"; srv = get("srv_cpu_ms")
    if (get("mode") != "") {
      rate = get("rps") " r/s"; n = get("requests") + 0
      if (get("sum_per_s") != "") rate = sprintf("%.0f ev/s", get("sum_per_s"))
      us = (n > 0 && srv != "" && lab !~ /ingest/) ? sprintf("%.1f", srv * 1000 / n) : "-"
      cl = get("client_cpu_ms")
      cu = (n > 0 && cl != "" && lab !~ /ingest/) ? sprintf("%.1f", cl * 1000 / n) : "-"
      printf "%-11s %-26s %12s %9s %9s %9s %9s %7s %8s %8s %8s\n", cfg, lab, rate, get("p50_ms"),
             get("p99_ms"), get("p999_ms"), get("max_ms"), get("errors"), us, cu, f
    } else if (lab ~ /drain/) {
      n = get("processed_events") + 0
      us = n > 0 ? sprintf("%.2f/ev", srv * 1000 / n) : "-"
      printf "%-11s %-26s %12s %9s %9s %9s %9s %7s %8s %8s %8s\n", cfg, lab, get("processed_per_s") " ev/s",
             "", "", "", "", "", us, "-", f
    } else if (get("fresh_p99_ms") != "") {
      printf "%-11s %-26s %12s %9s %9s %9s %9s %7s %8s %8s %8s\n", cfg, lab " ack->visible",
             get("probes") " probes", get("fresh_p50_ms"), get("fresh_p99_ms"), get("fresh_p999_ms"),
             get("fresh_max_ms"), get("errors") + get("timeouts"), "-", "-", f
    } else if (lab == "processor") {
      printf "%-11s %-26s %12s %s\n", cfg, lab, get("events_per_s") " ev/s", get("ns_per_event") " ns/event, one thread"
    } else if (get("kind") == "kafka") {
      printf "%-11s %-26s %12s %s\n", cfg, lab, get("process_per_s") " ev/s",
             sprintf("decode+aggregate+commit from the first commit (%s from the start); mock ingest %s, fetch %s ev/s; %s of %s events kept by the mock; foreign %s",
                     get("process_from_start_per_s"), get("mock_ingest_per_s"), get("mock_fetch_per_s"),
                     get("kept"), get("events"), f)
    } else if (get("kind") == "kafka-gen") {
      printf "%-11s %-26s %12s %s\n", cfg, lab, get("events_per_s") " ev/s",
             get("events") " events produced and acknowledged; foreign " f
    } else if (get("kind") == "avro") {
      printf "%-11s %-26s %12s %s\n", cfg, lab, get("events_per_s") " ev/s", get("ns_per_event") " ns/event CPU, one core; foreign " f
    }
  }' "$RES"
if [ -n "$OUT" ]; then log "raw RESULT lines saved to $OUT (on exit)"; fi
