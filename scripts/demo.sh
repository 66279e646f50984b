#!/usr/bin/env bash
# The main job against a local RocketMQ it starts itself: installs rocketmq-rust if missing, starts a name
# server and a broker on free loopback ports, runs the bridge on the shipped config (etc/emqx_bridge_rocket.conf,
# pointed at that name server) with the sample events in examples/events.ndjson, then reads every one of the
# seven seed topics back with `rocketmq-bridge consume`, the way the seed shows a consumer per topic.
# Stops everything on exit.
#
#   scripts/demo.sh [EVENTS.ndjson]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
events=${1:-examples/events.ndjson}
work=$(mktemp -d "${TMPDIR:-/tmp}/rocketmq-bridge-demo.XXXXXX")
cleanup() {
    scripts/rocketmq.sh stop --dir "$work/rmq" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

scripts/rocketmq.sh install
echo "== starting a local RocketMQ (rocketmq-rust 1.0) in $work/rmq"
mkdir -p "$work/rmq"
scripts/rocketmq.sh start --dir "$work/rmq" --namesrvs 1 --brokers 1 --watch-pid $$ >/dev/null
ns=$(sed -n 's/^RMQ_NAMESRV=//p' "$work/rmq/env")
echo "   name server $ns"

echo "== building rocketmq-bridge (release)"
cargo build --release --locked --quiet
bin=target/release/rocketmq-bridge

sed "s/^bridge.rocket.servers = .*/bridge.rocket.servers = $ns/" etc/emqx_bridge_rocket.conf >"$work/bridge.conf"
echo "== rocketmq-bridge run --config etc/emqx_bridge_rocket.conf (servers = $ns) --input $events"
RUST_LOG=${RUST_LOG:-info} "$bin" run --config "$work/bridge.conf" --input "$events"

for topic in ClientConnected ClientDisconnected SessionSubscribed SessionUnsubscribed MessagePublish MessageDeliver MessageAcked; do
    echo "== rocketmq-bridge consume --topic $topic --from-beginning"
    "$bin" consume --namesrv "$ns" --topic "$topic" --from-beginning --idle-timeout 2
done
