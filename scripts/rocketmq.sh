#!/usr/bin/env bash
# Real RocketMQ for tests and CI: installs the rocketmq-rust 1.0 name server and broker from crates.io into a
# reused cache, starts N name servers and M brokers on free loopback ports with fresh store dirs, waits until
# they are ready, and stops them by pid. Everything is bounded in time.
#
#   scripts/rocketmq.sh install
#   scripts/rocketmq.sh start --dir DIR [--namesrvs N] [--brokers M] [--impl rust|java5|java4] [--watch-pid PID]
#   scripts/rocketmq.sh stop --dir DIR
#   scripts/rocketmq.sh kill-broker --dir DIR --index I [--signal KILL|TERM]
#   scripts/rocketmq.sh start-broker --dir DIR --index I
#   scripts/rocketmq.sh kill-namesrv --dir DIR --index I [--signal KILL|TERM]
#   scripts/rocketmq.sh start-namesrv --dir DIR --index I
#
# `start` writes DIR/env (KEY=VALUE lines, no quotes) and prints it:
#   RMQ_IMPL, RMQ_NAMESRV (a;b), RMQ_NAMESRV_COUNT, RMQ_NAMESRV_<i>, RMQ_BROKER_COUNT, RMQ_BROKER_<i>,
#   RMQ_BROKER_<i>_NAME, RMQ_BROKER_<i>_HA_PORT, RMQ_BROKER_<i>_HEALTH, RMQ_NAMESRV_<i>_HEALTH, RMQ_CLUSTER, RMQ_DIR
# Pids are in DIR/namesrv-<i>.pid and DIR/broker-<i>.pid, logs in DIR/namesrv-<i>.log and DIR/broker-<i>.log.
#
# Everything stops by itself: a watchdog stops the servers when the process given by --watch-pid exits (the
# caller's pid by default; 0 watches nothing) or after RMQ_MAX_LIFETIME seconds (default 7200). Starting from a
# one-shot shell (`bash -c`), pass the pid of something that lives as long as the cluster should, or 0.
#
# Environment: ROCKETMQ_CACHE (default $HOME/.cache/rocketmq-bridge), RMQ_MAX_LIFETIME, RMQ_READY_TIMEOUT
# (seconds per server, default 90).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${ROCKETMQ_CACHE:-$HOME/.cache/rocketmq-bridge}
RUST_ROOT="$CACHE/rust-1.0"
NAMESRV_BIN="$RUST_ROOT/bin/rocketmq-namesrv-rust"
BROKER_BIN="$RUST_ROOT/bin/rocketmq-broker-rust"
CLUSTER=TestCluster
READY_TIMEOUT=${RMQ_READY_TIMEOUT:-90}
MAX_LIFETIME=${RMQ_MAX_LIFETIME:-7200}
STOP_WAIT=15
# Broker files are preallocated: 64 MiB commit log segments and 30,000-entry consume queue files keep a test
# broker's store near 70 MB instead of 300 MB (RMQ_COMMITLOG_BYTES changes the first).
COMMITLOG_BYTES=${RMQ_COMMITLOG_BYTES:-67108864}

die() {
    echo "rocketmq.sh: $*" >&2
    exit 1
}
log() { echo "rocketmq.sh: $*" >&2; }
# shellcheck source=store-place.sh
. "$SCRIPT_DIR/store-place.sh"

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------------------------------------------------------
# install

cmd_install() {
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

# ---------------------------------------------------------------------------------------------------------------
# helpers

need_python() { command -v python3 >/dev/null || die "python3 is needed (free-port picking and readiness probe)"; }

# free_ports COUNT SPREAD...: prints COUNT base ports; for each base b every b+offset (offsets given as args) is
# bindable on 127.0.0.1. Ports are taken below the kernel's ephemeral range so outgoing connections cannot take them.
free_ports() {
    need_python
    python3 - "$@" <<'PY'
import random, socket, sys
count = int(sys.argv[1]); offsets = [int(x) for x in sys.argv[2:]]
lo, hi = 11000, 32000
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        eph = int(f.read().split()[0])
    hi = min(hi, eph - 10)
except Exception:
    pass
used = set(); out = []
rng = random.SystemRandom()
for _ in range(2000):
    if len(out) == count:
        break
    b = rng.randrange(lo + 10, hi - 10)
    ports = [b + o for o in offsets]
    if any(p in used for p in ports):
        continue
    ok = True
    socks = []
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            ok = False
        socks.append(s)
    for s in socks:
        s.close()
    if ok:
        used.update(ports); out.append(b)
if len(out) != count:
    sys.exit("no free ports found")
print(" ".join(map(str, out)))
PY
}

# http_ready PORT: true when GET /readyz on 127.0.0.1:PORT answers 200.
http_ready() {
    local code
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/readyz" 2>/dev/null || true)
    [ "$code" = 200 ]
}

# route_has_broker NAMESRV_ADDR BROKER_ADDR: a real GET_ROUTEINFO_BY_TOPIC(TBW102) request; true when the answer is
# code 0 and the route lists BROKER_ADDR (so the broker is up and registered). With BROKER_ADDR empty: true when the
# name server answers at all (any code).
route_has_broker() {
    need_python
    python3 - "$1" "$2" <<'PY'
import json, socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1); want = sys.argv[2]
hdr = json.dumps({"code": 105, "extFields": {"topic": "TBW102"}, "flag": 0, "language": "RUST", "opaque": 1,
                  "serializeTypeCurrentRPC": "JSON", "version": 401}, separators=(",", ":")).encode()
frame = struct.pack(">II", 4 + len(hdr), len(hdr)) + hdr
try:
    s = socket.create_connection((host, int(port)), timeout=3)
    s.settimeout(3)
    s.sendall(frame)
    def recv(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b
    total, word = struct.unpack(">II", recv(8))
    if total > 16 << 20:
        sys.exit(1)
    rest = recv(total - 4)
    hlen = word & 0xFFFFFF
    if word >> 24 != 0:
        sys.exit(0 if not want else 1)
    h = json.loads(rest[:hlen]); body = rest[hlen:]
    if not want:
        sys.exit(0)
    if h.get("code") != 0:
        sys.exit(1)
    sys.exit(0 if want.encode() in body else 1)
except Exception:
    sys.exit(1)
PY
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile FILE SIGNAL: signal the process, wait up to STOP_WAIT seconds, then SIGKILL; removes the file.
stop_pidfile() {
    local f=$1 sig=${2:-TERM} pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -s "$sig" "$pid" 2>/dev/null || true
        for ((i = 0; i < STOP_WAIT * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid did not stop after SIG$sig within ${STOP_WAIT}s; sending SIGKILL"
            kill -s KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
        fi
    fi
    rm -f "$f"
}

# env_get KEY: a value from DIR/env.
env_get() { sed -n "s/^$1=//p" "$DIR/env" | head -n1; }

broker_letter() { printf "\\x$(printf %x $((96 + $1)))"; }

# log_tail LOG: the last lines of a server log, the lines naming why a start was rolled back, and how full
# the disk is (a nearly full disk is the usual reason a broker stops during startup).
log_tail() {
    [ -f "$1" ] || return 0
    tail -n 30 "$1" | sed 's/^/    | /' >&2 || true
    sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -a -e 'cause=' -e 'panicked' -e 'in use' -e 'disk capacity' -e 'ERROR' |
        tail -n 5 | sed 's/^/    ! /' >&2 || true
    log "the disk under $(dirname "$1") is $(fs_used_pct "$(dirname "$1")")% used"
}

# ---------------------------------------------------------------------------------------------------------------
# one name server / one broker

write_namesrv_config() {
    local i=$1
    local port=$2 d="$DIR/namesrv-$i"
    mkdir -p "$d"
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

start_namesrv_proc() {
    local i=$1
    local d="$DIR/namesrv-$i" health addr deadline
    health=$(cat "$d/health_port")
    addr=$(cat "$d/addr")
    if pid_alive "$DIR/namesrv-$i.pid"; then die "name server $i is already running"; fi
    (
        cd "$d"
        HOME="$d" ROCKETMQ_HOME="$d" ROCKETMQ_SHUTDOWN_TIMEOUT_SECONDS=5 ROCKETMQ_HEALTH_BIND_ADDR="127.0.0.1:$health" \
            exec "$NAMESRV_BIN" -c "$d/ns.toml" </dev/null >>"$DIR/namesrv-$i.log" 2>&1
    ) &
    echo $! >"$DIR/namesrv-$i.pid"
    deadline=$((SECONDS + READY_TIMEOUT))
    while ((SECONDS < deadline)); do
        pid_alive "$DIR/namesrv-$i.pid" || { log_tail "$DIR/namesrv-$i.log"; die "name server $i exited during startup (log $DIR/namesrv-$i.log)"; }
        if http_ready "$health" && route_has_broker "$addr" ""; then
            return 0
        fi
        sleep 0.2
    done
    log_tail "$DIR/namesrv-$i.log"
    die "name server $i not ready within ${READY_TIMEOUT}s (log $DIR/namesrv-$i.log)"
}

write_broker_config() {
    local i=$1
    local port=$2 ha=$3 name=$4 d="$DIR/broker-$i" store
    place_store "$d"
    store=$(store_dir "$d")
    cat >"$d/broker.toml" <<EOF
[broker]
namesrvAddr = "$NAMESRV_LIST"
brokerIp1 = "127.0.0.1"
brokerIp2 = "127.0.0.1"
listenPort = $port
storePathRootDir = "$store"
autoCreateTopicEnable = true
autoCreateSubscriptionGroup = true
[broker.brokerServerConfig]
bindAddress = "127.0.0.1"
[broker.brokerIdentity]
brokerName = "$name"
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
haListenPort = $ha
mappedFileSizeCommitLog = $COMMITLOG_BYTES
mappedFileSizeConsumeQueue = 600000
maxHashSlotNum = 50000
maxIndexNum = 200000
EOF
}

start_broker_proc() {
    local i=$1
    local d="$DIR/broker-$i" health addr deadline n ns_addr all
    health=$(cat "$d/health_port")
    addr=$(cat "$d/addr")
    if pid_alive "$DIR/broker-$i.pid"; then die "broker $i is already running"; fi
    (
        cd "$d"
        HOME="$d" ROCKETMQ_HOME="$d" ROCKETMQ_SHUTDOWN_TIMEOUT_SECONDS=5 ROCKETMQ_HEALTH_BIND_ADDR="127.0.0.1:$health" \
            exec "$BROKER_BIN" -c "$d/broker.toml" </dev/null >>"$DIR/broker-$i.log" 2>&1
    ) &
    echo $! >"$DIR/broker-$i.pid"
    deadline=$((SECONDS + READY_TIMEOUT))
    n=$(env_get RMQ_NAMESRV_COUNT)
    while ((SECONDS < deadline)); do
        pid_alive "$DIR/broker-$i.pid" || { log_tail "$DIR/broker-$i.log"; die "broker $i exited during startup (log $DIR/broker-$i.log)"; }
        if http_ready "$health"; then
            # Ready for clients once every running name server routes TBW102 to it.
            all=1
            for ((k = 1; k <= n; k++)); do
                pid_alive "$DIR/namesrv-$k.pid" || continue
                ns_addr=$(env_get "RMQ_NAMESRV_$k")
                route_has_broker "$ns_addr" "$addr" || { all=0; break; }
            done
            [ "$all" = 1 ] && return 0
        fi
        sleep 0.3
    done
    log_tail "$DIR/broker-$i.log"
    die "broker $i not ready within ${READY_TIMEOUT}s (log $DIR/broker-$i.log)"
}

start_watchdog() {
    local watch=$1
    # Detached: stops everything when the watched process exits or the lifetime is over.
    setsid bash -c '
        watch=$1; max=$2; script=$3; dir=$4
        end=$((SECONDS + max))
        while ((SECONDS < end)); do
            if [ "$watch" != 0 ] && ! kill -0 "$watch" 2>/dev/null; then break; fi
            [ -f "$dir/env" ] || exit 0
            sleep 1
        done
        RMQ_FROM_WATCHDOG=1 "$script" stop --dir "$dir" >/dev/null 2>&1
    ' rocketmq-watchdog "$watch" "$MAX_LIFETIME" "$SCRIPT_DIR/rocketmq.sh" "$DIR" </dev/null >/dev/null 2>&1 &
    echo $! >"$DIR/watchdog.pid"
}

# ---------------------------------------------------------------------------------------------------------------
# commands

cmd_start() {
    [ -n "$DIR" ] || die "start needs --dir DIR"
    [[ "$NAMESRVS" =~ ^[1-9][0-9]*$ ]] || die "--namesrvs must be a positive integer, got '$NAMESRVS'"
    [[ "$BROKERS" =~ ^[0-9]+$ ]] && ((BROKERS <= 26)) || die "--brokers must be 0..26, got '$BROKERS'"
    [ -x "$NAMESRV_BIN" ] || die "rocketmq-rust is not installed ($NAMESRV_BIN missing); run: $0 install"
    ((BROKERS == 0)) || [ -x "$BROKER_BIN" ] || die "rocketmq-rust is not installed ($BROKER_BIN missing); run: $0 install"
    command -v curl >/dev/null || die "curl is needed for the readiness check"
    mkdir -p "$DIR"
    [ ! -e "$DIR/env" ] || die "$DIR/env exists: stop that cluster first or use a fresh dir"
    DIR=$(cd "$DIR" && pwd)
    local ns_ports br_ports i p list="" name
    read -r -a ns_ports <<<"$(free_ports "$NAMESRVS" 0 1)"
    br_ports=()
    if ((BROKERS > 0)); then read -r -a br_ports <<<"$(free_ports "$BROKERS" 0 -2 1 3)"; fi
    {
        echo "RMQ_IMPL=rust"
        echo "RMQ_DIR=$DIR"
        echo "RMQ_CLUSTER=$CLUSTER"
        echo "RMQ_NAMESRV_COUNT=$NAMESRVS"
        for ((i = 1; i <= NAMESRVS; i++)); do
            p=${ns_ports[$((i - 1))]}
            echo "RMQ_NAMESRV_$i=127.0.0.1:$p"
            echo "RMQ_NAMESRV_${i}_HEALTH=127.0.0.1:$((p + 1))"
            list="${list:+$list;}127.0.0.1:$p"
        done
        echo "RMQ_NAMESRV=$list"
        echo "RMQ_BROKER_COUNT=$BROKERS"
        for ((i = 1; i <= BROKERS; i++)); do
            p=${br_ports[$((i - 1))]}
            echo "RMQ_BROKER_$i=127.0.0.1:$p"
            echo "RMQ_BROKER_${i}_NAME=broker-$(broker_letter "$i")"
            echo "RMQ_BROKER_${i}_HA_PORT=$((p + 1))"
            echo "RMQ_BROKER_${i}_HEALTH=127.0.0.1:$((p + 3))"
        done
    } >"$DIR/env.tmp"
    mv "$DIR/env.tmp" "$DIR/env"
    NAMESRV_LIST=$list
    start_watchdog "${WATCH_PID:-$PPID}"
    STARTED=0
    trap 'if [ "$STARTED" = 0 ]; then log "start failed; stopping what was started"; cmd_stop >/dev/null 2>&1 || true; fi' EXIT
    for ((i = 1; i <= NAMESRVS; i++)); do
        p=${ns_ports[$((i - 1))]}
        write_namesrv_config "$i" "$p"
        echo "127.0.0.1:$p" >"$DIR/namesrv-$i/addr"
        echo "$((p + 1))" >"$DIR/namesrv-$i/health_port"
        start_namesrv_proc "$i"
    done
    for ((i = 1; i <= BROKERS; i++)); do
        p=${br_ports[$((i - 1))]}
        name="broker-$(broker_letter "$i")"
        write_broker_config "$i" "$p" "$((p + 1))" "$name"
        echo "127.0.0.1:$p" >"$DIR/broker-$i/addr"
        echo "$((p + 3))" >"$DIR/broker-$i/health_port"
        start_broker_proc "$i"
    done
    STARTED=1
    cat "$DIR/env"
}

cmd_stop() {
    [ -n "$DIR" ] || die "stop needs --dir DIR"
    [ -d "$DIR" ] || return 0
    local f kind waits
    # Brokers first (they unregister from the name servers), then name servers; all in parallel, each bounded.
    # Waits name the stoppers: when a failed start stops its own cluster, the servers and the watchdog are
    # children of this shell too, and a bare `wait` would wait for them (the watchdog for hours).
    for kind in broker namesrv; do
        waits=()
        for f in "$DIR"/"$kind"-*.pid; do
            [ -e "$f" ] || continue
            stop_pidfile "$f" TERM &
            waits+=($!)
        done
        ((${#waits[@]} == 0)) || wait "${waits[@]}" || true
    done
    remove_stores "$DIR"
    if [ -z "${RMQ_FROM_WATCHDOG:-}" ] && [ -f "$DIR/watchdog.pid" ]; then
        kill "$(cat "$DIR/watchdog.pid")" 2>/dev/null || true
    fi
    rm -f "$DIR/watchdog.pid"
    [ -f "$DIR/env" ] && mv "$DIR/env" "$DIR/env.stopped"
    return 0
}

check_index() {
    local kind=$1 count
    [ -n "$DIR" ] && [ -f "$DIR/env" ] || die "no running cluster in '${DIR:-}' (missing env file)"
    count=$(env_get "RMQ_${kind}_COUNT")
    [[ "$INDEX" =~ ^[0-9]+$ ]] && ((INDEX >= 1 && INDEX <= count)) || die "--index must be 1..$count, got '${INDEX:-}'"
}

cmd_kill() {
    local kind=$1 file=$2
    check_index "$kind"
    case "$SIGNAL" in KILL | TERM) ;; *) die "--signal must be KILL or TERM, got '$SIGNAL'" ;; esac
    [ -f "$DIR/$file-$INDEX.pid" ] || die "$file $INDEX is not running"
    stop_pidfile "$DIR/$file-$INDEX.pid" "$SIGNAL"
}

main() {
    [ $# -ge 1 ] || usage
    CMD=$1
    shift
    DIR="" NAMESRVS=1 BROKERS=1 IMPL=${RMQ_IMPL:-rust} INDEX="" SIGNAL=TERM WATCH_PID=""
    local args=("$@")
    while [ $# -gt 0 ]; do
        case "$1" in
        --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
        --namesrvs) NAMESRVS=${2:?--namesrvs needs a value}; shift 2 ;;
        --brokers) BROKERS=${2:?--brokers needs a value}; shift 2 ;;
        --impl) IMPL=${2:?--impl needs a value}; shift 2 ;;
        --index) INDEX=${2:?--index needs a value}; shift 2 ;;
        --signal) SIGNAL=${2:?--signal needs a value}; shift 2 ;;
        --watch-pid) WATCH_PID=${2:?--watch-pid needs a value}; shift 2 ;;
        -h | --help) usage ;;
        *) die "unknown argument '$1' (try --help)" ;;
        esac
    done
    # A running cluster remembers its implementation.
    if [ "$CMD" != start ] && [ "$CMD" != install ] && [ -n "$DIR" ] && [ -f "$DIR/env" ]; then
        IMPL=$(env_get RMQ_IMPL)
    fi
    case "$IMPL" in
    rust) ;;
    java5 | java4)
        [ -f "$SCRIPT_DIR/rocketmq-java.sh" ] || die "--impl $IMPL needs scripts/rocketmq-java.sh, which is not in this checkout"
        exec bash "$SCRIPT_DIR/rocketmq-java.sh" "$CMD" "${args[@]}"
        ;;
    *) die "unknown --impl '$IMPL' (rust, java5 or java4)" ;;
    esac
    case "$CMD" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    kill-broker) cmd_kill BROKER broker ;;
    kill-namesrv) cmd_kill NAMESRV namesrv ;;
    start-broker)
        check_index BROKER
        NAMESRV_LIST=$(env_get RMQ_NAMESRV)
        start_broker_proc "$INDEX"
        ;;
    start-namesrv)
        check_index NAMESRV
        start_namesrv_proc "$INDEX"
        ;;
    *) die "unknown command '$CMD' (install, start, stop, kill-broker, start-broker, kill-namesrv, start-namesrv)" ;;
    esac
}

main "$@"
