#!/usr/bin/env bash
# Interop with the reference Java client on the reference Java broker (kept out of CI):
#  1. starts Apache RocketMQ 5.x (scripts/rocketmq.sh --impl java5), runs our bridge
#     (`rocketmq-bridge run`) on the sample events with the shipped config (servers pointed at that
#     name server; a tag on every hook rule), and checks that the Java DefaultMQPushConsumer
#     (bench/peer/java PushConsumer, the seed's quickstart consumer) receives all seven seed topics,
#     field by field as the seed shows them, with tags, keys and mqtt_* properties intact, and that
#     our `consume` reads the very same messages;
#  2. sends messages with the Java DefaultMQProducer (keys, tag, user properties, UTF-8 body) and
#     checks that our `consume` reads each one intact.
# Exits non-zero on any mismatch.
#
#   scripts/interop-java.sh [--impl java5|java4] [--events FILE]
#
# BRIDGE_BIN=PATH uses that rocketmq-bridge binary instead of building this checkout;
# BRIDGE_CONF=FILE starts from that config instead of etc/emqx_bridge_rocket.conf.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
impl=java5
events=examples/events.ndjson
while [ $# -gt 0 ]; do
    case "$1" in
        --impl) impl=$2; shift 2 ;;
        --events) events=$2; shift 2 ;;
        *) echo "interop-java.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
node="interop@127.0.0.1"
bridge_id="interop-bridge"
tag_suffix="Tag"
seven="ClientConnected,ClientDisconnected,SessionSubscribed,SessionUnsubscribed,MessagePublish,MessageDeliver,MessageAcked"

work=$(mktemp -d "${TMPDIR:-/tmp}/rocketmq-bridge-interop-java.XXXXXX")
cleanup() {
    scripts/rocketmq.sh stop --dir "$work/rmq" >/dev/null 2>&1 || true
    rm -rf "$work"/rmq/broker-*/store   # the message store; logs stay in $work for inspection
    echo "logs: $work" >&2
}
trap cleanup EXIT

conf=${BRIDGE_CONF:-etc/emqx_bridge_rocket.conf}
[ -f "$conf" ] || { echo "interop-java.sh: $conf not found" >&2; exit 1; }
if [ -n "${BRIDGE_BIN:-}" ]; then
    bin=$BRIDGE_BIN
    echo "== using $bin; building the Java peer (mvn)"
else
    echo "== building: rocketmq-bridge (cargo --release), the Java peer (mvn)"
    cargo build --release --locked --quiet --bin rocketmq-bridge
    bin=$root/target/release/rocketmq-bridge
fi
mvn -q -B -f bench/peer/java/pom.xml package dependency:build-classpath -Dmdep.outputFile=target/classpath.txt >&2
java_cp="$root/bench/peer/java/target/classes:$(cat bench/peer/java/target/classpath.txt)"

echo "== starting Apache RocketMQ ($impl) in $work/rmq"
mkdir -p "$work/rmq"
scripts/rocketmq.sh start --dir "$work/rmq" --impl "$impl" >/dev/null
ns=$(sed -n 's/^RMQ_NAMESRV=//p' "$work/rmq/env")
echo "   name server $ns (Apache RocketMQ $(sed -n 's/^RMQ_VERSION=//p' "$work/rmq/env"))"

# The shipped config, pointed at this name server, with a node name, a bridge id and a tag per rule.
sed -e "s/^bridge.rocket.servers = .*/bridge.rocket.servers = $ns/" \
    -e "s/^\(bridge.rocket.hook.[a-z.]*\.1 *= *{.*\"topic\": *\"\([A-Za-z]*\)\"\)}/\1, \"tag\": \"\2$tag_suffix\"}/" \
    "$conf" >"$work/bridge.conf"
printf 'bridge.rocket.node = %s\nbridge.rocket.bridge_id = %s\n' "$node" "$bridge_id" >>"$work/bridge.conf"
[ "$(grep -c "\"tag\": \"[A-Za-z]*$tag_suffix\"" "$work/bridge.conf")" = 7 ] \
    || { echo "interop-java.sh: could not add a tag to the seven hook rules of $conf" >&2; exit 1; }
grep '^bridge.rocket.hook' "$work/bridge.conf" | sed 's/^/   /'

echo "== rocketmq-bridge run --config (servers = $ns) --input $events"
"$bin" run --config "$work/bridge.conf" --input "$events"

n_events=$(grep -c . "$events")
echo "== Java DefaultMQPushConsumer (quickstart consumer) on the seven seed topics, expecting $n_events messages"
java -cp "$java_cp" rocketmqbridge.peer.PushConsumer --namesrv "$ns" --topics "$seven" \
    --expect "$n_events" --idle-timeout 5 --max-secs 90 >"$work/java-consumer.jsonl" 2>"$work/java-consumer.err" \
    || { cat "$work/java-consumer.err" >&2; exit 1; }
tail -n 1 "$work/java-consumer.err"
: >"$work/ours.jsonl"
for t in ${seven//,/ }; do
    "$bin" consume --namesrv "$ns" --topic "$t" --from-beginning --idle-timeout 2 >>"$work/ours.jsonl"
done
echo "== field-by-field check (java consumer vs the seed vs our consume)"
python3 bench/peer/check_interop.py bridge --events "$events" --java "$work/java-consumer.jsonl" \
    --ours "$work/ours.jsonl" --node "$node" --bridge-id "$bridge_id" --tag-suffix "$tag_suffix"

count=20
topic="PeerJavaToOurs$$"
echo "== Java DefaultMQProducer sends $count messages to $topic; our consume reads them"
java -cp "$java_cp" rocketmqbridge.peer.Sender --namesrv "$ns" --topic "$topic" --count "$count" \
    --tag javaTag >"$work/java-sent.jsonl" 2>"$work/java-sender.err" \
    || { cat "$work/java-sender.err" >&2; exit 1; }
"$bin" consume --namesrv "$ns" --topic "$topic" --from-beginning --count "$count" --idle-timeout 5 >"$work/ours-java.jsonl"
head -n 1 "$work/ours-java.jsonl" | sed 's/^/   first read: /'
python3 bench/peer/check_interop.py java2ours --sent "$work/java-sent.jsonl" --ours "$work/ours-java.jsonl"
echo "interop-java.sh: all checks passed"
