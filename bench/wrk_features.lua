-- wrk script for bench/run.sh: GET a random entity's features; prints one RESULT line.
-- env: WRK_PATH   path with one %d (string.format), default /v1/features/card_txn/c%06d
--      WRK_IDS_LO, WRK_IDS_HI   id range, default 1..100000
--      WRK_LABEL  name on the RESULT line
local path = os.getenv("WRK_PATH") or "/v1/features/card_txn/c%06d"
local lo = tonumber(os.getenv("WRK_IDS_LO") or "1")
local hi = tonumber(os.getenv("WRK_IDS_HI") or "100000")
local label = os.getenv("WRK_LABEL") or "wrk"
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0))
end
function request()
  return wrk.format("GET", string.format(path, math.random(lo, hi)))
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT label=%s mode=closed-wrk requests=%d rps=%.1f errors=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
    label, summary.requests, summary.requests / (summary.duration / 1e6),
    e.status + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, latency.max / 1000))
end
