#!/bin/sh
# Installs the Debian packages freshet's build, demo, tests and benchmarks need
# (jq and wrk: bench/run.sh).
# Idempotent; prints nothing when everything is already there.
set -e
PKGS="build-essential pkg-config libmicrohttpd-dev libjansson-dev libfyaml-dev liblmdb-dev
lmdb-utils libcurl4-openssl-dev libcriterion-dev libhiredis-dev redis-server redis-tools
curl python3 wrk jq librdkafka-dev kcat libavro-dev python3-confluent-kafka python3-avro
libxgboost-dev python3-xgboost python3-sklearn libdouble-conversion-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
