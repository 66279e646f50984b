#!/usr/bin/env bash
# Benchmark of the mosquitto plugin (issue 11 acceptance): starts a local RocketMQ with scripts/rocketmq.sh,
# builds the plugin and the benchmark in release mode, runs mosquitto with and without the plugin at a fixed
# offered rate (default 5,000 publishes/s for 60 s, QoS 0 and QoS 1), prints figures and one JSON line.
#   scripts/bench-mosquitto.sh [--rate N] [--secs N] [--qos 0,1] [--search-secs N] [--search-rates a,b,c|none] [--linger D]
# --rate is publishes/s offered (each makes a publish and a delivery event), --secs the duration per QoS;
# the search runs QoS 0 at each rate for --search-secs and stops at the first rate that loses an event.
# Short debugging run: scripts/bench-mosquitto.sh --secs 10 --qos 0 --search-rates none
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v mosquitto >/dev/null || { echo "install mosquitto: apt-get install -y mosquitto mosquitto-clients" >&2; exit 1; }
DIR=$(mktemp -d /tmp/bench-mosq-rmq.XXXXXX)
trap 'scripts/rocketmq.sh stop --dir "$DIR/rmq" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
scripts/rocketmq.sh install
scripts/rocketmq.sh start --dir "$DIR/rmq" >/dev/null
# shellcheck disable=SC1091
. "$DIR/rmq/env"
cargo build --release -q -p rocketmq-bridge-mosquitto --lib --example bench_mosquitto
target/release/examples/bench_mosquitto --namesrv "$RMQ_NAMESRV" --broker-pid "$(cat "$DIR/rmq/broker-1.pid")" \
    --plugin target/release/librocketmq_bridge_mosquitto.so "$@"
