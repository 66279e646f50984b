#!/usr/bin/env bash
# End-to-end benchmark of `rocketmq-bridge mqtt` (issue 23): mosquitto 2.0 -> the bridge -> RocketMQ
# (rocketmq-rust via scripts/rocketmq.sh), beside mosquitto's own delivery rate to a plain mosquitto_sub.
# Not run in CI. Prints figures on stderr and one JSON line on stdout.
#
#   scripts/bench-mqtt.sh [--count N] [--qos 1|2] [--mode sync|spool] [--version 5|3.1.1]
#
# --count publishes (default 20000) by one `mosquitto_pub -l` as fast as it goes, each payload `<i> <ms>` with
# the time it was written to mosquitto_pub's stdin (so it can be early by up to a pipe buffer, 64 KiB, of lines:
# the latency includes that wait). First to a plain `mosquitto_sub -q QOS -F '%U %p'` (mosquitto's own delivery:
# received time), then to the bridge (mqtt.qos = QOS), read back with `rocketmq-bridge consume` (RocketMQ's
# store_timestamp). For each: messages/s from the first publish to the last receipt or store, and p50 / p99 / max
# of that time minus the publish time (ms; one machine, one clock); the bridge process's CPU per message and
# peak RSS. Measured 2026-12-06 (debug machine, 2 shared
# cores, release build, sync mode, MQTT 5, QoS 1): see the README's mqtt section.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
N=20000 QOS=1 MODE=sync VERSION=5
while [ $# -gt 0 ]; do
    case "$1" in
        --count) N=$2; shift 2 ;;
        --qos) QOS=$2; shift 2 ;;
        --mode) MODE=$2; shift 2 ;;
        --version) VERSION=$2; shift 2 ;;
        *) echo "usage: bench-mqtt.sh [--count N] [--qos 1|2] [--mode sync|spool] [--version 5|3.1.1]" >&2; exit 2 ;;
    esac
done
for c in mosquitto mosquitto_pub mosquitto_sub python3; do
    command -v "$c" >/dev/null || { echo "bench-mqtt.sh: $c not found (apt-get install -y mosquitto mosquitto-clients)" >&2; exit 1; }
done
DIR=$(mktemp -d /tmp/bench-mqtt.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    scripts/rocketmq.sh stop --dir "$DIR/rmq" >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT
# Lines `<i> <ms>` for 0..N-1, the time taken as each is written.
lines() {
    python3 -c '
import sys, time
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    out.write("%d %d\n" % (i, int(time.time() * 1000)))
    if i % 64 == 63:
        out.flush()
out.flush()
' "$N"
}

scripts/rocketmq.sh install >&2
scripts/rocketmq.sh start --dir "$DIR/rmq" >/dev/null
# shellcheck disable=SC1090
. "$DIR/rmq/env"
cargo build --release -q --bin rocketmq-bridge
BIN=$ROOT/target/release/rocketmq-bridge

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$DIR/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_inflight_messages 100
log_dest file $DIR/mosquitto.log
log_type error
log_type warning
log_type subscribe
EOF
[ "$(id -u)" = 0 ] && echo "user root" >>"$DIR/mosquitto.conf"
mosquitto -c "$DIR/mosquitto.conf" & PIDS+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

# 1. mosquitto alone: the same publishes to a plain mosquitto_sub.
timeout 600 mosquitto_sub -h 127.0.0.1 -p "$PORT" -q "$QOS" -t bench/base -C "$N" -F '%U %p' >"$DIR/sub.out" & SUB=$!
PIDS+=($SUB)
for _ in $(seq 100); do grep -q "bench/base" "$DIR/mosquitto.log" 2>/dev/null && break; sleep 0.1; done
lines | mosquitto_pub -h 127.0.0.1 -p "$PORT" -q "$QOS" -t bench/base -l
wait "$SUB"
echo "mosquitto -> mosquitto_sub: $(wc -l <"$DIR/sub.out") of $N" >&2

# 2. The bridge.
TOPIC=BenchMqtt_$$
"$BIN" send --namesrv "$RMQ_NAMESRV" --topic "$TOPIC" warmup >/dev/null
PRODUCE="bridge.rocket.produce = sync"
[ "$MODE" = spool ] && PRODUCE=$'bridge.rocket.produce = async\nbridge.rocket.spool.dir = '"$DIR/spool"
cat >"$DIR/bridge.conf" <<EOF
bridge.rocket.servers = $RMQ_NAMESRV
$PRODUCE
bridge.rocket.encode_payload_type = plain
bridge.rocket.stats_interval = 0s
bridge.rocket.hook.message.publish.1 = {"filter": "bench/e2e", "topic": "$TOPIC"}
bridge.rocket.mqtt.server = 127.0.0.1:$PORT
bridge.rocket.mqtt.client_id = bench-$$
bridge.rocket.mqtt.version = $VERSION
bridge.rocket.mqtt.qos = $QOS
EOF
"$BIN" mqtt --config "$DIR/bridge.conf" 2>"$DIR/bridge.stderr" & BRIDGE=$!
PIDS+=($BRIDGE)
for _ in $(seq 200); do grep -q "bench/e2e" "$DIR/mosquitto.log" 2>/dev/null && break; sleep 0.1; done
grep -q "bench/e2e" "$DIR/mosquitto.log" || { echo "the bridge did not subscribe: $(cat "$DIR/bridge.stderr")" >&2; exit 1; }
lines | mosquitto_pub -h 127.0.0.1 -p "$PORT" -q "$QOS" -t bench/e2e -l
timeout 900 "$BIN" consume --namesrv "$RMQ_NAMESRV" --topic "$TOPIC" --from-beginning --count $((N + 1)) \
    --idle-timeout 20 --group "bench_mqtt_$$" >"$DIR/consumed.ndjson"
# The bridge's CPU (user + system, in USER_HZ ticks of 1/100 s) and peak RSS, read before it stops (the drain
# and exit add little: everything is stored by now).
CPU_TICKS=$(awk '{print $14 + $15}' "/proc/$BRIDGE/stat")
PEAK_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$BRIDGE/status")
kill -TERM "$BRIDGE"
wait "$BRIDGE" || true
echo "bridge: $(tail -1 "$DIR/bridge.stderr")" >&2

python3 - "$N" "$QOS" "$MODE" "$VERSION" "$DIR/sub.out" "$DIR/consumed.ndjson" "$CPU_TICKS" "$PEAK_KB" <<'EOF'
import json, sys
n, qos, mode, version, sub, path, cpu_ticks, peak_kb = sys.argv[1:]
n = int(n)
# (publish ms, received or stored ms) of each first copy, by index.
def figures(first, copies):
    lat = sorted(s - p for p, s in first.values())
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None
    span = (max(s for _, s in first.values()) - min(p for p, _ in first.values())) if first else 0
    return {
        "received": len(first), "duplicates": copies - len(first),
        "per_s": round(len(first) * 1000 / max(1, span)),
        "latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": lat[-1] if lat else None},
    }
base = {}
base_copies = 0
for line in open(sub):
    t, i, sent = line.split()
    base_copies += 1
    base.setdefault(int(i), (int(sent), int(float(t) * 1000)))
first = {}
copies = 0
for line in open(path):
    m = json.loads(line)
    body = json.loads(m["body"]) if m.get("body", "").startswith("{") else None
    if body is None:
        continue
    i, sent = (int(x) for x in body["payload"].split())
    copies += 1
    if i not in first:
        first[i] = (sent, m["store_timestamp"])
print(json.dumps({
    "bench": "mqtt", "count": n, "qos": int(qos), "mode": mode, "mqtt_version": version,
    "mosquitto_sub": figures(base, base_copies),
    "bridge_to_rocketmq": figures(first, copies),
    "bridge_cpu_us_per_message": round(int(cpu_ticks) * 10000 / max(1, n), 2),
    "bridge_peak_rss_kib": int(peak_kb),
}))
EOF
