#!/usr/bin/env bash
# Real RocketMQ for tests and CI, rocketmq-rust backend: installs the rocketmq-rust 1.0 name server and broker
# from crates.io into a reused cache and launches them; the commands, flags, env file, watchdog and port picking
# are scripts/lib/cluster.sh's (read it for the whole interface):
#
#   scripts/rocketmq.sh install
#   scripts/rocketmq.sh start --dir DIR [--namesrvs N] [--brokers M] [--impl rust|java5|java4] [--watch-pid PID]
#                             (--slaves, --acl, --tls and --proxy are refused: use --impl java5)
#   scripts/rocketmq.sh stop --dir DIR
#   scripts/rocketmq.sh kill-broker --dir DIR --index I [--signal KILL|TERM]      (default KILL)
#   scripts/rocketmq.sh start-broker --dir DIR --index I
#   scripts/rocketmq.sh kill-namesrv --dir DIR --index I [--signal KILL|TERM]     (default KILL)
#   scripts/rocketmq.sh start-namesrv --dir DIR --index I
#
# --impl java5|java4 (or RMQ_IMPL) hands the command to scripts/rocketmq-java.sh.
#
# `start` writes DIR/env (KEY=VALUE lines, no quotes) and prints it:
#   RMQ_IMPL, RMQ_NAMESRV (a;b), RMQ_NAMESRV_COUNT, RMQ_NAMESRV_<i>, RMQ_BROKER_COUNT, RMQ_BROKER_<i>,
#   RMQ_BROKER_<i>_NAME, RMQ_BROKER_<i>_HA_PORT, RMQ_BROKER_<i>_HEALTH, RMQ_NAMESRV_<i>_HEALTH, RMQ_CLUSTER, RMQ_DIR
# Pids are in DIR/namesrv-<i>.pid and DIR/broker-<i>.pid, logs in DIR/namesrv-<i>.log and DIR/broker-<i>.log.
#
# Environment: ROCKETMQ_CACHE (default $HOME/.cache/rocketmq-bridge), RMQ_MAX_LIFETIME (default 7200),
# RMQ_READY_TIMEOUT (seconds, default 90), RMQ_COMMITLOG_BYTES.
set -euo pipefail

ME=rocketmq.sh
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/rocketmq.sh
DEFAULT_IMPL=${RMQ_IMPL:-rust}
IMPLS=rust
# A name server listens on its port and serves /readyz on port+1; a broker listens on its port, port-2 (fast
# channel), port+1 (HA) and serves /readyz on port+3.
NS_OFFSETS=(0 1)
BR_OFFSETS=(0 -2 1 3)
READY_DEFAULT=90
# rocketmq-rust 1.0 is started here as single masters only: this script has no master/slave (HA) setup for it.
SLAVES_SUPPORTED=0
SLAVES_REFUSAL="rocketmq-rust 1.0 is run by $ME as masters only (no slave / HA replication set up here); use --impl java5 for a master with a slave"
ACL_SUPPORTED=0
ACL_REFUSAL="rocketmq-rust 1.0 is run by $ME without authentication; use --impl java5 for a broker with ACL 2.0"
# The proxy (rocketmq-proxy) is Apache RocketMQ's; rocketmq-rust 1.0 ships none.
PROXY_SUPPORTED=0
PROXY_REFUSAL="rocketmq-rust 1.0 has no proxy (rocketmq-proxy is Apache RocketMQ's, 5.x); use --impl java5 for brokers behind a proxy"
# shellcheck source=lib/cluster.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.sh"

RUST_ROOT="$CACHE/rust-1.0"
NAMESRV_BIN="$RUST_ROOT/bin/rocketmq-namesrv-rust"
BROKER_BIN="$RUST_ROOT/bin/rocketmq-broker-rust"
CLUSTER=TestCluster
# Broker files are preallocated: 64 MiB commit log segments and 30,000-entry consume queue files keep a test
# broker's store near 70 MB instead of 300 MB (RMQ_COMMITLOG_BYTES changes the first).
COMMITLOG_BYTES=${RMQ_COMMITLOG_BYTES:-67108864}

backend_install() {
    if [ -x "$NAMESRV_BIN" ] && [ -x "$BROKER_BIN" ]; then
        return 0
    fi
    mkdir -p "$CACHE"
    # Several test binaries may call install at once on a fresh machine: one installs, the others wait.
    exec 9>"$CACHE/install.lock"
    flock -w 3600 9 || die "timed out waiting for another install (lock $CACHE/install.lock)"
    if [ -x "$NAMESRV_BIN" ] && [ -x "$BROKER_BIN" ]; then
        return 0
    fi
    # An install into the same root started by hand (not through this script) is waited for, not repeated.
    local waited=0
    while pgrep -f -- "cargo install .*--root $RUST_ROOT( |\$)" >/dev/null 2>&1 && ((waited < 3600)); do
        ((waited == 0)) && log "another cargo install into $RUST_ROOT is running; waiting for it"
        sleep 5
        waited=$((waited + 5))
    done
    if [ -x "$NAMESRV_BIN" ] && [ -x "$BROKER_BIN" ]; then
        return 0
    fi
    command -v cargo >/dev/null || die "cargo not found; it is needed to install rocketmq-rust"
    log "installing rocketmq-rust 1.0.0 into $RUST_ROOT (takes 15-30 minutes on 2 cores)"
    cargo install --locked --version 1.0.0 --root "$RUST_ROOT" rocketmq-namesrv rocketmq-broker >&2 ||
        die "cargo install of rocketmq-namesrv/rocketmq-broker 1.0.0 failed"
    [ -x "$NAMESRV_BIN" ] || die "install finished but $NAMESRV_BIN is missing"
    [ -x "$BROKER_BIN" ] || die "install finished but $BROKER_BIN is missing"
    flock -u 9
}

backend_check() {
    [ -x "$NAMESRV_BIN" ] || die "rocketmq-rust is not installed ($NAMESRV_BIN missing); run: $0 install"
    ((BROKERS == 0)) || [ -x "$BROKER_BIN" ] || die "rocketmq-rust is not installed ($BROKER_BIN missing); run: $0 install"
    command -v curl >/dev/null || die "curl is needed for the readiness check"
}

backend_label() { echo "rocketmq-rust 1.0"; }
backend_pidfile() { echo "$DIR/$1-$2.pid"; }
backend_logfile() { echo "$DIR/$1-$2.log"; }

backend_env() {
    local i p list=""
    for ((i = 1; i <= NAMESRVS; i++)); do list="${list:+$list;}127.0.0.1:${NS_PORTS[$((i - 1))]}"; done
    echo "RMQ_IMPL=rust"
    echo "RMQ_DIR=$DIR"
    echo "RMQ_CLUSTER=$CLUSTER"
    echo "RMQ_NAMESRV_COUNT=$NAMESRVS"
    for ((i = 1; i <= NAMESRVS; i++)); do
        p=${NS_PORTS[$((i - 1))]}
        echo "RMQ_NAMESRV_$i=127.0.0.1:$p"
        echo "RMQ_NAMESRV_${i}_HEALTH=127.0.0.1:$((p + 1))"
    done
    echo "RMQ_NAMESRV=$list"
    echo "RMQ_BROKER_COUNT=$BROKERS"
    for ((i = 1; i <= BROKERS; i++)); do
        p=${BR_PORTS[$((i - 1))]}
        echo "RMQ_BROKER_$i=127.0.0.1:$p"
        echo "RMQ_BROKER_${i}_NAME=$(broker_name "$i")"
        echo "RMQ_BROKER_${i}_HA_PORT=$((p + 1))"
        echo "RMQ_BROKER_${i}_HEALTH=127.0.0.1:$((p + 3))"
    done
}

# backend_ready KIND I: GET /readyz on the server's health port answers 200.
backend_ready() {
    local code health
    health=$(env_get "RMQ_${1^^}_${2}_HEALTH")
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$health/readyz" 2>/dev/null || true)
    [ "$code" = 200 ]
}

write_namesrv_config() {
    local d=$1 port=$2
    cat >"$d/ns.toml" <<EOF
rocketmqHome = "$d"
kvConfigPath = "$d/kv.json"
configStorePath = "$d/ns.properties"
listenPort = $port
bindAddress = "127.0.0.1"
[runtime]
workerThreads = 2
EOF
}

write_broker_config() {
    local i=$1 d=$2 port=$3 store
    place_store "$d"
    store=$(store_dir "$d")
    cat >"$d/broker.toml" <<EOF
[broker]
namesrvAddr = "$(env_get RMQ_NAMESRV)"
brokerIp1 = "127.0.0.1"
brokerIp2 = "127.0.0.1"
listenPort = $port
storePathRootDir = "$store"
autoCreateTopicEnable = true
autoCreateSubscriptionGroup = true
[broker.brokerServerConfig]
bindAddress = "127.0.0.1"
[broker.brokerIdentity]
brokerName = "$(broker_name "$i")"
brokerClusterName = "$CLUSTER"
brokerId = 0
[broker.topicQueueConfig]
defaultTopicQueueNums = 4
[store]
storeType = "LocalFile"
brokerRole = "ASYNC_MASTER"
flushDiskType = "ASYNC_FLUSH"
storePathRootDir = "$store"
haListenAddress = "127.0.0.1"
haListenPort = $(env_get "RMQ_BROKER_${i}_HA_PORT")
mappedFileSizeCommitLog = $COMMITLOG_BYTES
mappedFileSizeConsumeQueue = 600000
maxHashSlotNum = 50000
maxIndexNum = 200000
EOF
}

# backend_launch KIND I: the config is written on the first launch and reused by restarts (same ports, store).
backend_launch() {
    local kind=$1 i=$2 d="$DIR/$1-$2" addr health bin conf
    addr=$(env_get "RMQ_${kind^^}_$i")
    health=$(env_get "RMQ_${kind^^}_${i}_HEALTH")
    mkdir -p "$d"
    if [ "$kind" = namesrv ]; then
        bin=$NAMESRV_BIN conf="$d/ns.toml"
        [ -f "$conf" ] || write_namesrv_config "$d" "${addr##*:}"
    else
        bin=$BROKER_BIN conf="$d/broker.toml"
        [ -f "$conf" ] || write_broker_config "$i" "$d" "${addr##*:}"
    fi
    (
        cd "$d"
        HOME="$d" ROCKETMQ_HOME="$d" ROCKETMQ_SHUTDOWN_TIMEOUT_SECONDS=5 ROCKETMQ_HEALTH_BIND_ADDR="$health" \
            exec "$bin" -c "$conf" </dev/null >>"$DIR/$kind-$i.log" 2>&1
    ) &
    echo $! >"$(backend_pidfile "$kind" "$i")"
}

cluster_main "$@"
