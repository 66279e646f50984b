#!/usr/bin/env bash
# Apache RocketMQ (the Java reference implementation, from Maven Central) as a real broker for tests.
#
#   rocketmq-java.sh install      [--impl java5|java4]
#   rocketmq-java.sh start        --dir DIR [--namesrvs N] [--brokers M] [--impl java5|java4]
#   rocketmq-java.sh stop         --dir DIR
#   rocketmq-java.sh kill-broker  --dir DIR --index I [--signal KILL|TERM]
#   rocketmq-java.sh start-broker --dir DIR --index I
#   rocketmq-java.sh kill-namesrv --dir DIR --index I [--signal KILL|TERM]
#   rocketmq-java.sh start-namesrv --dir DIR --index I
#
# `install` resolves the pinned release with mvn (interop/java/broker/pom.xml) into
# ${ROCKETMQ_CACHE:-$HOME/.cache/rocketmq-bridge}/java-<version>/lib and reuses it afterwards.
# `start` runs N name servers and M brokers (broker-a, broker-b, ...; one cluster) as plain `java`
# processes on free loopback ports with fresh store and home directories under DIR, waits until
# every name server routes TBW102 to every broker (a real GET_ROUTEINFO_BY_TOPIC request), then
# writes DIR/env (KEY=VALUE lines) and prints it. Every process is wrapped in `timeout`, so it
# stops by itself after RMQ_LIFETIME_SECS (default 3600) even if nobody calls `stop`.
#
# Environment knobs: ROCKETMQ_CACHE, RMQ_LIFETIME_SECS, RMQ_START_TIMEOUT (seconds, default 180),
# RMQ_NAMESRV_JAVA_OPTS, RMQ_BROKER_JAVA_OPTS, RMQ_JAVA (java binary).
set -euo pipefail

# Pinned releases. 5.5.1 is listed on Maven Central but rocketmq-namesrv/-client/-auth 5.5.1 jars are
# missing there, so 5.5.0 is the newest 5.x that resolves; 4.9.8's broker jar is not on Maven Central,
# so 4.9.7 is the last 4.9.x that resolves.
JAVA5_VERSION=5.5.0
JAVA4_VERSION=4.9.7
CLUSTER_NAME=rmq-bridge-test

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_ROOT=${ROCKETMQ_CACHE:-$HOME/.cache/rocketmq-bridge}
JAVA_BIN=${RMQ_JAVA:-java}
LIFETIME=${RMQ_LIFETIME_SECS:-3600}
START_TIMEOUT=${RMQ_START_TIMEOUT:-180}
# The name server needs little heap and no C2 JIT; the broker keeps C2 (benchmarks run against it).
NAMESRV_OPTS=${RMQ_NAMESRV_JAVA_OPTS:--Xms64m -Xmx128m -Xss512k -XX:MaxDirectMemorySize=64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1}
BROKER_OPTS=${RMQ_BROKER_JAVA_OPTS:--Xms256m -Xmx256m -Xss512k -XX:MaxDirectMemorySize=256m -XX:+UseSerialGC -XX:CICompilerCount=2}

die() { echo "rocketmq-java.sh: $*" >&2; exit 1; }
log() { echo "rocketmq-java.sh: $*" >&2; }
# shellcheck source=store-place.sh
. "$(dirname "${BASH_SOURCE[0]}")/store-place.sh"
now_ms() { date +%s%3N; }

version_of() {
    case "$1" in
        java5) echo "$JAVA5_VERSION" ;;
        java4) echo "$JAVA4_VERSION" ;;
        *) die "unknown --impl '$1' (expected java5 or java4)" ;;
    esac
}

# install IMPL: prints the lib directory.
install_impl() {
    local impl=$1 version dir
    version=$(version_of "$impl")
    dir="$CACHE_ROOT/java-$version"
    if [ -f "$dir/lib/.complete" ]; then
        echo "$dir/lib"
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found on PATH (needed to resolve Apache RocketMQ $version)"
    command -v "$JAVA_BIN" >/dev/null || die "java not found on PATH"
    mkdir -p "$dir"
    rm -rf "$dir/lib.tmp"
    log "resolving Apache RocketMQ $version from Maven Central into $dir/lib"
    if ! mvn -q -B -f "$REPO_ROOT/interop/java/broker/pom.xml" -Drocketmq.version="$version" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/lib.tmp" >&2; then
        die "mvn could not resolve org.apache.rocketmq:rocketmq-broker:$version (see the output above)"
    fi
    [ -f "$dir/lib.tmp/rocketmq-broker-$version.jar" ] || die "rocketmq-broker-$version.jar missing after mvn"
    rm -rf "$dir/lib"
    mv "$dir/lib.tmp" "$dir/lib"
    touch "$dir/lib/.complete"
    echo "$dir/lib"
}

# ---------------------------------------------------------------------------------------------
# python3 helpers: free port blocks and the readiness probe (real remoting requests).
PY_PORTS='
import random, socket, sys
n, width = int(sys.argv[1]), int(sys.argv[2])
taken, out = set(), []
for _ in range(2000):
    if len(out) == n:
        break
    base = random.randrange(20000, 32700 - width)  # below the ephemeral range (32768-60999)
    block = range(base, base + width)
    if any(p in taken for p in block):
        continue
    socks, ok = [], True
    for p in block:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            socks.append(s)
        except OSError:
            ok = False
            break
    for s in socks:
        s.close()
    if ok:
        taken.update(block)
        out.append(base)
if len(out) != n:
    sys.exit("no free loopback port block found")
print(" ".join(map(str, out)))
'

# probe.py MODE ADDR [EXPECTED...]
#   route ADDR name=host:port...  -> exit 0 when the name server routes TBW102 to every listed broker
#   alive ADDR                     -> exit 0 when ADDR answers any remoting request
PY_PROBE='
import json, socket, struct, sys
mode, addr = sys.argv[1], sys.argv[2]
host, port = addr.rsplit(":", 1)
def call(code, ext):
    hdr = json.dumps({"code": code, "extFields": ext, "flag": 0, "language": "JAVA",
                      "opaque": 1, "serializeTypeCurrentRPC": "JSON", "version": 401}).encode()
    frame = struct.pack(">II", 4 + len(hdr), len(hdr)) + hdr
    with socket.create_connection((host, int(port)), timeout=2) as s:
        s.settimeout(3)
        s.sendall(frame)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("closed")
            buf += chunk
            if len(buf) > 16 << 20:
                raise OSError("frame too large")
    total, word = struct.unpack(">II", buf[:8])
    hlen = word & 0xFFFFFF
    if word >> 24 != 0:
        return {"code": -1}, b""
    return json.loads(buf[8:8 + hlen]), buf[8 + hlen:4 + total]
try:
    if mode == "alive":
        call(105, {"topic": "TBW102"})
        sys.exit(0)
    h, body = call(105, {"topic": "TBW102"})
    if h.get("code") != 0:
        sys.exit(1)
    route = json.loads(body)
    have = {bd["brokerName"]: set(bd.get("brokerAddrs", {}).values()) for bd in route.get("brokerDatas", [])}
    for want in sys.argv[3:]:
        name, baddr = want.split("=", 1)
        if baddr not in have.get(name, set()):
            sys.exit(1)
    sys.exit(0)
except (OSError, ValueError, KeyError):
    sys.exit(1)
'

# ---------------------------------------------------------------------------------------------
# State: DIR/java.state holds IMPL, VERSION, LIB, counts and ports (sourced by later commands).

load_state() {
    [ -f "$DIR/java.state" ] || die "$DIR/java.state not found (was 'start --dir $DIR' run?)"
    # shellcheck disable=SC1091
    . "$DIR/java.state"
}

letter() { printf "\\$(printf '%03o' $((96 + $1)))"; }

namesrv_list() {
    local i out=""
    for ((i = 1; i <= NAMESRV_COUNT; i++)); do
        local p="NS_PORT_$i"
        out+="${out:+;}127.0.0.1:${!p}"
    done
    echo "$out"
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# launch NAME WORKDIR MAINCLASS OPTS ARGS... ; writes WORKDIR/pid (java) and WORKDIR/wrapper.pid
launch() {
    local name=$1 wd=$2 main=$3 opts=$4
    shift 4
    local home="$wd/home"
    mkdir -p "$home/logs"
    # 4.x reads its logback configuration from $ROCKETMQ_HOME/conf; 5.x ships it in its jars.
    mkdir -p "$wd/rmqhome/conf"
    write_logback "$wd/rmqhome/conf" "$home/logs"
    # shellcheck disable=SC2086
    setsid timeout --kill-after=10 "$LIFETIME" "$JAVA_BIN" $opts \
        -Duser.home="$home" -Drocketmq.home.dir="$wd/rmqhome" -Djava.io.tmpdir="$home" \
        -Drocketmq.client.logRoot="$home/logs" \
        -cp "$LIB/*" "$main" "$@" >"$wd/stdout.log" 2>&1 </dev/null &
    local wrapper=$!
    echo "$wrapper" >"$wd/wrapper.pid"
    local jpid="" t
    for t in $(seq 1 50); do
        jpid=$(pgrep -P "$wrapper" -x java 2>/dev/null | head -n1 || true)
        [ -n "$jpid" ] && break
        pid_alive "$wrapper" || break
        sleep 0.1
    done
    [ -n "$jpid" ] || die "$name did not start (see $wd/stdout.log): $(tail -n 5 "$wd/stdout.log" 2>/dev/null)"
    echo "$jpid" >"$wd/pid"
}

write_logback() {
    local conf=$1 logs=$2 f
    for f in namesrv broker; do
        cat >"$conf/logback_$f.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$logs/$f.log</file>
    <encoder><pattern>%d{yyy-MM-dd HH:mm:ss,GMT+0} %p %t - %m%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
EOF
    done
}

# 4.9.x unmaps store files through reflection on java.nio.DirectByteBuffer.attachment(); on Java 17 that
# throws InaccessibleObjectException ("module java.base does not \"opens java.nio\" to unnamed module")
# when a broker reopens an existing store (restart after kill), and then the same for
# jdk.internal.ref.Cleaner.clean() ("does not \"exports jdk.internal.ref\""), unless both are opened.
impl_opts() {
    case "$IMPL" in
        java4) echo "--add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/jdk.internal.ref=ALL-UNNAMED" ;;
        *) echo "" ;;
    esac
}

start_namesrv_proc() {
    local i=$1 wd="$DIR/namesrv-$1" p="NS_PORT_$1"
    mkdir -p "$wd"
    cat >"$wd/namesrv.conf" <<EOF
listenPort=${!p}
bindAddress=127.0.0.1
rocketmqHome=$wd/rmqhome
kvConfigPath=$wd/home/namesrv/kvConfig.json
configStorePath=$wd/home/namesrv/namesrv.properties
EOF
    launch "namesrv-$i" "$wd" org.apache.rocketmq.namesrv.NamesrvStartup "$NAMESRV_OPTS $(impl_opts)" -c "$wd/namesrv.conf"
}

start_broker_proc() {
    local i=$1 wd="$DIR/broker-$1" p="BROKER_PORT_$1" name store
    name="broker-$(letter "$i")"
    place_store "$wd"
    store=$(store_dir "$wd")
    cat >"$wd/broker.conf" <<EOF
brokerClusterName=$CLUSTER_NAME
brokerName=$name
brokerId=0
brokerRole=ASYNC_MASTER
flushDiskType=ASYNC_FLUSH
brokerIP1=127.0.0.1
listenPort=${!p}
bindAddress=127.0.0.1
haListenPort=$(( ${!p} + 1 ))
namesrvAddr=$(namesrv_list)
autoCreateTopicEnable=true
autoCreateSubscriptionGroup=true
registerNameServerPeriod=10000
rocketmqHome=$wd/rmqhome
storePathRootDir=$store
storePathCommitLog=$store/commitlog
mappedFileSizeCommitLog=33554432
mappedFileSizeConsumeQueue=600000
maxHashSlotNum=50000
maxIndexNum=200000
timerWheelEnable=false
diskMaxUsedSpaceRatio=98
deleteWhen=04
fileReservedTime=1
EOF
    launch "broker-$i" "$wd" org.apache.rocketmq.broker.BrokerStartup "$BROKER_OPTS $(impl_opts)" -c "$wd/broker.conf"
}

# wait_until DESC CMD...: bounded poll; dies with the log tail of every process on timeout.
wait_until() {
    local desc=$1
    shift
    local deadline=$(( $(date +%s) + START_TIMEOUT ))
    while ! "$@"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            local f
            for f in "$DIR"/*/stdout.log; do
                [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
            done
            die "timed out after ${START_TIMEOUT}s waiting for $desc"
        fi
        sleep 0.5
    done
}

check_procs_alive() {
    local f
    for f in "$DIR"/*/pid; do
        [ -f "$f" ] || continue
        pid_alive "$(cat "$f")" && continue
        local wd
        wd=$(dirname "$f")
        rm -f "$f" "$wd/wrapper.pid"
        echo "--- $wd/stdout.log" >&2
        tail -n 30 "$wd/stdout.log" >&2
        echo "--- errors in $wd/home/logs" >&2
        grep -rh -m 5 -A 3 -E "ERROR|Exception" "$wd/home/logs" 2>/dev/null | head -n 20 >&2 || true
        die "$(basename "$wd") exited during startup"
    done
}

broker_expect() { # name=addr for broker I
    local p="BROKER_PORT_$1"
    echo "broker-$(letter "$1")=127.0.0.1:${!p}"
}

routes_ready() { # all name servers route TBW102 to all running brokers given as args
    check_procs_alive
    local i p
    for ((i = 1; i <= NAMESRV_COUNT; i++)); do
        p="NS_PORT_$i"
        [ -f "$DIR/namesrv-$i/pid" ] && pid_alive "$(cat "$DIR/namesrv-$i/pid")" || continue
        python3 -c "$PY_PROBE" route "127.0.0.1:${!p}" "$@" || return 1
    done
}

alive_ready() { check_procs_alive; python3 -c "$PY_PROBE" alive "$1"; }

write_env() {
    local i p
    {
        echo "RMQ_IMPL=$IMPL"
        echo "RMQ_VERSION=$VERSION"
        echo "RMQ_NAMESRV=$(namesrv_list)"
        echo "RMQ_NAMESRV_COUNT=$NAMESRV_COUNT"
        for ((i = 1; i <= NAMESRV_COUNT; i++)); do
            p="NS_PORT_$i"
            echo "RMQ_NAMESRV_$i=127.0.0.1:${!p}"
        done
        echo "RMQ_BROKER_COUNT=$BROKER_COUNT"
        for ((i = 1; i <= BROKER_COUNT; i++)); do
            p="BROKER_PORT_$i"
            echo "RMQ_BROKER_$i=127.0.0.1:${!p}"
            echo "RMQ_BROKER_${i}_NAME=broker-$(letter "$i")"
        done
        echo "RMQ_CLUSTER=$CLUSTER_NAME"
    } >"$DIR/env"
    cat "$DIR/env"
}

# stop_proc WORKDIR SIGNAL: signal the java process, wait (bounded), then KILL it and its wrapper.
stop_proc() {
    local wd=$1 sig=${2:-TERM} pid wrapper t
    [ -f "$wd/pid" ] || return 0
    pid=$(cat "$wd/pid")
    wrapper=$(cat "$wd/wrapper.pid" 2>/dev/null || true)
    if pid_alive "$pid"; then
        kill -s "$sig" "$pid" 2>/dev/null || true
        for t in $(seq 1 150); do
            pid_alive "$pid" || break
            sleep 0.1
        done
        if pid_alive "$pid"; then
            log "$(basename "$wd") (pid $pid) ignored SIG$sig for 15s, sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    for t in $(seq 1 50); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    if pid_alive "$wrapper"; then kill -KILL "$wrapper" 2>/dev/null || true; fi
    rm -f "$wd/pid" "$wd/wrapper.pid"
}

stop_all() {
    local i waits=()
    # Stops brokers, then name servers, then removes the stores. Waits name the stoppers: after a failed
    # start the servers are children of this shell too, and a bare `wait` would wait for them.
    for ((i = 1; i <= BROKER_COUNT; i++)); do stop_proc "$DIR/broker-$i" TERM & waits+=($!); done
    ((${#waits[@]} == 0)) || wait "${waits[@]}" || true
    waits=()
    for ((i = 1; i <= NAMESRV_COUNT; i++)); do stop_proc "$DIR/namesrv-$i" TERM & waits+=($!); done
    ((${#waits[@]} == 0)) || wait "${waits[@]}" || true
    remove_stores "$DIR"
}

# ---------------------------------------------------------------------------------------------

CMD=${1:-}
[ -n "$CMD" ] || die "usage: $0 install|start|stop|kill-broker|start-broker|kill-namesrv|start-namesrv [options]"
shift
DIR="" ; NS_N=1 ; BR_N=1 ; IMPL_ARG=java5 ; INDEX="" ; SIGNAL=KILL ; WATCH_PID=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) DIR=$2; shift 2 ;;
        --namesrvs) NS_N=$2; shift 2 ;;
        --brokers) BR_N=$2; shift 2 ;;
        --impl) IMPL_ARG=$2; shift 2 ;;
        --index) INDEX=$2; shift 2 ;;
        --signal) SIGNAL=$2; shift 2 ;;
        --watch-pid) WATCH_PID=$2; shift 2 ;;
        *) die "unknown argument '$1'" ;;
    esac
done
need_dir() { [ -n "$DIR" ] || die "$CMD needs --dir DIR"; DIR=$(mkdir -p "$DIR" && cd "$DIR" && pwd); }
need_index() {
    [[ "$INDEX" =~ ^[1-9][0-9]*$ ]] || die "$CMD needs --index I (1-based)"
    [ "$INDEX" -le "$1" ] || die "--index $INDEX out of range 1..$1"
}
case "$SIGNAL" in KILL|TERM) ;; *) die "--signal must be KILL or TERM, not '$SIGNAL'" ;; esac

case "$CMD" in
install)
    install_impl "$IMPL_ARG"
    ;;
start)
    need_dir
    [[ "$NS_N" =~ ^[1-9][0-9]?$ ]] || die "--namesrvs must be 1..99"
    [[ "$BR_N" =~ ^[1-9]$|^1[0-9]$|^2[0-6]$ ]] || die "--brokers must be 1..26"
    if [ -f "$DIR/java.state" ]; then
        for f in "$DIR"/*/pid; do
            [ -f "$f" ] && pid_alive "$(cat "$f")" && die "$DIR already has running processes; stop it first"
        done
    fi
    command -v python3 >/dev/null || die "python3 not found (used for free ports and the readiness probe)"
    LIB=$(install_impl "$IMPL_ARG")
    IMPL=$IMPL_ARG
    VERSION=$(version_of "$IMPL")
    NAMESRV_COUNT=$NS_N
    BROKER_COUNT=$BR_N
    read -r -a ns_ports <<<"$(python3 -c "$PY_PORTS" "$NS_N" 1)"
    read -r -a br_bases <<<"$(python3 -c "$PY_PORTS" "$BR_N" 4)"
    rm -rf "$DIR"/namesrv-* "$DIR"/broker-* "$DIR/env"
    {
        echo "IMPL=$IMPL"; echo "VERSION=$VERSION"; echo "LIB=$LIB"
        echo "NAMESRV_COUNT=$NAMESRV_COUNT"; echo "BROKER_COUNT=$BROKER_COUNT"
        for ((i = 1; i <= NS_N; i++)); do echo "NS_PORT_$i=${ns_ports[$((i - 1))]}"; done
        # a broker listens on listenPort-2 (fast/VIP channel), listenPort and listenPort+1 (HA)
        for ((i = 1; i <= BR_N; i++)); do echo "BROKER_PORT_$i=$(( br_bases[i - 1] + 2 ))"; done
    } >"$DIR/java.state"
    load_state
    # A failed start leaves nothing running.
    trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed, stopping what was started"; stop_all; fi' EXIT
    t0=$(now_ms)
    for ((i = 1; i <= NS_N; i++)); do start_namesrv_proc "$i"; done
    for ((i = 1; i <= NS_N; i++)); do p="NS_PORT_$i"; wait_until "namesrv-$i" alive_ready "127.0.0.1:${!p}"; done
    t1=$(now_ms)
    for ((i = 1; i <= BR_N; i++)); do start_broker_proc "$i"; done
    expect=()
    for ((i = 1; i <= BR_N; i++)); do expect+=("$(broker_expect "$i")"); done
    wait_until "brokers in the TBW102 route" routes_ready "${expect[@]}"
    t2=$(now_ms)
    trap - EXIT
    log "Apache RocketMQ $VERSION ($IMPL) ready: name servers ${NS_N} in $((t1 - t0)) ms, brokers ${BR_N} in $((t2 - t1)) ms more (total $((t2 - t0)) ms)"
    write_env
    # --watch-pid PID (as scripts/rocketmq.sh): stop everything once that process exits (0: don't watch).
    if [ -n "$WATCH_PID" ] && [ "$WATCH_PID" != 0 ]; then
        setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec bash "$2" stop --dir "$3"' \
            rocketmq-java-watchdog "$WATCH_PID" "$0" "$DIR" </dev/null >/dev/null 2>&1 &
    fi
    ;;
stop)
    need_dir
    [ -f "$DIR/java.state" ] || { log "nothing to stop in $DIR"; exit 0; }
    load_state
    stop_all
    log "stopped $DIR"
    ;;
kill-broker)
    need_dir; load_state; need_index "$BROKER_COUNT"
    stop_proc "$DIR/broker-$INDEX" "$SIGNAL"
    ;;
kill-namesrv)
    need_dir; load_state; need_index "$NAMESRV_COUNT"
    stop_proc "$DIR/namesrv-$INDEX" "$SIGNAL"
    ;;
start-broker)
    need_dir; load_state; need_index "$BROKER_COUNT"
    if [ -f "$DIR/broker-$INDEX/pid" ] && pid_alive "$(cat "$DIR/broker-$INDEX/pid")"; then die "broker-$INDEX is running"; fi
    t0=$(now_ms)
    start_broker_proc "$INDEX"
    p="BROKER_PORT_$INDEX"
    wait_until "broker-$INDEX to answer" alive_ready "127.0.0.1:${!p}"
    wait_until "broker-$INDEX in the TBW102 route" routes_ready "$(broker_expect "$INDEX")"
    log "broker-$INDEX ready in $(( $(now_ms) - t0 )) ms"
    ;;
start-namesrv)
    need_dir; load_state; need_index "$NAMESRV_COUNT"
    if [ -f "$DIR/namesrv-$INDEX/pid" ] && pid_alive "$(cat "$DIR/namesrv-$INDEX/pid")"; then die "namesrv-$INDEX is running"; fi
    t0=$(now_ms)
    start_namesrv_proc "$INDEX"
    p="NS_PORT_$INDEX"
    wait_until "namesrv-$INDEX to answer" alive_ready "127.0.0.1:${!p}"
    # Running brokers register again within registerNameServerPeriod (10 s here); wait for them so
    # that the restarted name server routes like the others.
    expect=()
    for ((i = 1; i <= BROKER_COUNT; i++)); do
        [ -f "$DIR/broker-$i/pid" ] && pid_alive "$(cat "$DIR/broker-$i/pid")" && expect+=("$(broker_expect "$i")")
    done
    wait_until "running brokers in the TBW102 route of namesrv-$INDEX" python3 -c "$PY_PROBE" route "127.0.0.1:${!p}" "${expect[@]}"
    log "namesrv-$INDEX ready in $(( $(now_ms) - t0 )) ms"
    ;;
*)
    die "unknown command '$CMD'"
    ;;
esac
