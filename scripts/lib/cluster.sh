# shellcheck shell=bash
# The cluster script's shared part, sourced by its two backends: scripts/rocketmq.sh (rocketmq-rust 1.0) and
# scripts/rocketmq-java.sh (Apache RocketMQ 5.5.0 / 4.9.7). Both have the same subcommands, flags and defaults:
#
#   SCRIPT install       [--impl IMPL] [--proxy]
#   SCRIPT start         --dir DIR [--namesrvs N] [--brokers M] [--slaves] [--acl USER:SECRET] [--impl IMPL]
#                        [--watch-pid PID] [--tls CERTDIR [--tls-client-auth]] [--proxy]
#   SCRIPT stop          --dir DIR
#   SCRIPT kill-broker   --dir DIR --index I [--signal KILL|TERM]     (default KILL)
#   SCRIPT start-broker  --dir DIR --index I
#   SCRIPT kill-namesrv  --dir DIR --index I [--signal KILL|TERM]     (default KILL)
#   SCRIPT start-namesrv --dir DIR --index I
#
# IMPL is rust (scripts/rocketmq.sh), java5 or java4 (scripts/rocketmq-java.sh); either script hands a command
# for the other's implementation to it, and a running cluster remembers its implementation (RMQ_IMPL in DIR/env).
#
# `start` picks free loopback ports, writes DIR/env (KEY=VALUE lines, no quotes), starts N name servers (1..99)
# and M brokers (0..26; broker-a, broker-b, ...; one cluster) with fresh store dirs, waits until every name server
# routes TBW102 to every broker (a real GET_ROUTEINFO_BY_TOPIC request), and prints DIR/env. `start-namesrv` waits
# until the restarted name server routes every running broker again, `start-broker` until every running name
# server routes the restarted broker. Killing sends the signal, waits 15 s, then sends KILL.
#
# `--slaves` gives each master a slave: the same brokerName, brokerId 1, role SLAVE, its own ports (listen and
# HA) and store dir (DIR/slave-<i>), started after the masters; `start` then also waits until every name server
# routes each slave's address under its master's name (so routes carry slave addresses). DIR/env gets
# RMQ_SLAVE_COUNT (0 without --slaves), RMQ_SLAVE_<i> and RMQ_SLAVE_<i>_NAME. `stop` stops slaves first. Only
# backends that set SLAVES_SUPPORTED=1 take it; the others refuse with SLAVES_REFUSAL. `stop` stops the
# brokers, then the name servers (TERM, each bounded), removes the stores and renames DIR/env to DIR/env.stopped.
#
# `--acl USER:SECRET` starts the brokers with authentication on: USER is the initial (super) user with SECRET as its
# secret key, and the brokers' own requests use the same credentials; clients must sign every request with them.
# DIR/env gets RMQ_ACL_USER. Only backends that set ACL_SUPPORTED=1 take it (they read ACL_USER / ACL_SECRET when
# writing a broker's config); the others refuse with ACL_REFUSAL.
# `--tls CERTDIR` starts every server TLS-only (plaintext clients refused) with CERTDIR/server.pem and
# CERTDIR/server.key (PKCS#8); `--tls-client-auth` also makes the servers require a client certificate signed by
# CERTDIR/ca.pem (the brokers present CERTDIR/client.pem and client.key to the name servers). DIR/env gets
# RMQ_TLS_DIR (empty without --tls) and RMQ_TLS_CLIENT_AUTH (0 or 1); restarts keep them, and the readiness probe
# speaks TLS then. Only backends that set TLS_SUPPORTED=1 take it; the others refuse with TLS_REFUSAL.
# `--proxy` also starts one proxy in front of the brokers (Apache RocketMQ's rocketmq-proxy in cluster mode, its
# remoting port for clients that take it as their name server), after the brokers, and waits until it routes TBW102
# to every broker (at its own address: a proxy answers routes with itself as every broker). DIR/env gets
# RMQ_PROXY_COUNT (0 without --proxy), RMQ_PROXY_1 and RMQ_PROXY (its remoting address); `stop` stops it with the
# brokers.
# `install --proxy` resolves it as well. Only backends that set PROXY_SUPPORTED=1 take it; the others refuse with
# PROXY_REFUSAL.
#
# Everything stops by itself: a watchdog stops the servers when the process given by --watch-pid exits (the
# caller's pid by default; 0 watches nothing) or after RMQ_MAX_LIFETIME seconds (default 7200). Starting from a
# one-shot shell (`bash -c`), pass the pid of something that lives as long as the cluster should, or 0.
#
# Environment: ROCKETMQ_CACHE (default $HOME/.cache/rocketmq-bridge), RMQ_MAX_LIFETIME, RMQ_READY_TIMEOUT
# (seconds to wait for a set of servers to be ready; the backend's default), RMQ_KEEP_STORE and
# RMQ_STORE_DISK_LIMIT (scripts/store-place.sh), RMQ_IMPL (scripts/rocketmq.sh's default --impl).
#
# A backend sets ME (its name for messages), SELF (its path), DEFAULT_IMPL, IMPLS (the --impl values it runs),
# NS_OFFSETS / BR_OFFSETS (the ports a name server / broker binds, as offsets from its listen port; a proxy gets
# ports from the brokers' pick, so BR_OFFSETS must cover the proxy's ports too), READY_DEFAULT,
# and defines:
#   backend_install              install (cached) what `start` needs for $IMPL
#   backend_check                before `start`: fail early when something is missing
#   backend_env                  print the env lines, from NS_PORTS / BR_PORTS (arrays of listen ports)
#   backend_launch KIND I        start name server / broker / slave / proxy I in the background (configs under DIR/KIND-I);
#                                writes its pid file
#   backend_ready KIND I         an extra readiness check (e.g. an HTTP health endpoint), or `true`
#   backend_pidfile KIND I       the pid file of KIND I
#   backend_logfile KIND I       the log file to show when KIND I fails to start
#   backend_label                what is running, for the "ready" log line
# then calls cluster_main "$@". KIND is namesrv, broker, slave or proxy.

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT_DIR=$(dirname "$LIB_DIR")
REPO_ROOT=$(dirname "$SCRIPT_DIR")
CACHE=${ROCKETMQ_CACHE:-$HOME/.cache/rocketmq-bridge}
MAX_LIFETIME=${RMQ_MAX_LIFETIME:-7200}
STOP_WAIT=15

die() {
    echo "$ME: $*" >&2
    exit 1
}
log() { echo "$ME: $*" >&2; }
now_ms() { date +%s%3N; }
# shellcheck source=../store-place.sh
. "$SCRIPT_DIR/store-place.sh"

usage() {
    sed -n '5,15p' "${BASH_SOURCE[0]}" | sed "s/^# \{0,1\}//; s|SCRIPT|$ME|" >&2
    exit 2
}

# ---------------------------------------------------------------------------------------------------------------
# the Python probe: free ports and readiness

need_python() { command -v python3 >/dev/null || die "python3 is needed (free-port picking and readiness probe)"; }
probe() {
    local tls="" auth=0
    if [ -n "${DIR:-}" ] && [ -f "$DIR/env" ]; then
        tls=$(env_get RMQ_TLS_DIR) auth=$(env_get RMQ_TLS_CLIENT_AUTH)
    fi
    RMQ_PROBE_TLS_DIR=$tls RMQ_PROBE_TLS_CLIENT_AUTH=${auth:-0} python3 "$LIB_DIR/probe.py" "$@"
}

# free_ports COUNT OFFSET...: COUNT base ports; every base+OFFSET is bindable on 127.0.0.1.
free_ports() { probe ports "$@"; }

# ---------------------------------------------------------------------------------------------------------------
# env file and pids

# env_get KEY: a value from DIR/env.
env_get() { sed -n "s/^$1=//p" "$DIR/env" | head -n1; }

broker_letter() { printf "\\x$(printf %x $((96 + $1)))"; }
broker_name() { echo "broker-$(broker_letter "$1")"; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
running() { pid_alive "$(backend_pidfile "$1" "$2")"; }

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

# log_tail KIND I: the last lines of a server's log, the lines naming why it failed, and how full the disk is
# (a nearly full disk is the usual reason a broker stops during startup).
log_tail() {
    local f
    f=$(backend_logfile "$1" "$2")
    [ -f "$f" ] || return 0
    echo "--- $f" >&2
    tail -n 30 "$f" | sed 's/^/    | /' >&2 || true
    sed 's/\x1b\[[0-9;]*m//g' "$f" | grep -a -e 'cause=' -e 'panicked' -e 'in use' -e 'disk capacity' -e 'ERROR' \
        -e 'Exception' | tail -n 5 | sed 's/^/    ! /' >&2 || true
    log "the disk under $DIR is $(fs_used_pct "$DIR")% used"
}

# ---------------------------------------------------------------------------------------------------------------
# readiness

# ready KIND I: KIND I answers, and the routes agree: a name server routes every running broker, a broker is
# routed by every running name server.
ready() {
    local kind=$1 i=$2 k addr want=()
    backend_ready "$kind" "$i" || return 1
    if [ "$kind" = proxy ]; then
        # The proxy routes every broker at its own address.
        addr=$(env_get "RMQ_PROXY_$i")
        probe alive "$addr" || return 1
        for ((k = 1; k <= $(env_get RMQ_BROKER_COUNT); k++)); do
            running broker "$k" && want+=("$(broker_name "$k")=$addr")
        done
        probe route "$addr" "${want[@]}"
    elif [ "$kind" = slave ]; then
        addr=$(env_get "RMQ_SLAVE_$i")
        probe alive "$addr" || return 1
        want=("$(env_get "RMQ_SLAVE_${i}_NAME")=$addr")
        for ((k = 1; k <= $(env_get RMQ_NAMESRV_COUNT); k++)); do
            running namesrv "$k" || continue
            probe route "$(env_get "RMQ_NAMESRV_$k")" "${want[@]}" || return 1
        done
    elif [ "$kind" = namesrv ]; then
        addr=$(env_get "RMQ_NAMESRV_$i")
        probe alive "$addr" || return 1
        for ((k = 1; k <= $(env_get RMQ_BROKER_COUNT); k++)); do
            running broker "$k" && want+=("$(broker_name "$k")=$(env_get "RMQ_BROKER_$k")")
        done
        ((${#want[@]} == 0)) || probe route "$addr" "${want[@]}"
    else
        addr=$(env_get "RMQ_BROKER_$i")
        probe alive "$addr" || return 1
        want=("$(broker_name "$i")=$addr")
        for ((k = 1; k <= $(env_get RMQ_NAMESRV_COUNT); k++)); do
            running namesrv "$k" || continue
            probe route "$(env_get "RMQ_NAMESRV_$k")" "${want[@]}" || return 1
        done
    fi
}

# wait_ready KIND I...: bounded poll until every listed server is ready; fails with its log when one exits or
# the time is up.
wait_ready() {
    local kind=$1 i left deadline=$((SECONDS + READY_TIMEOUT))
    shift
    left=("$@")
    while ((${#left[@]} > 0)); do
        local still=()
        for i in "${left[@]}"; do
            running "$kind" "$i" || { log_tail "$kind" "$i"; die "$kind $i exited during startup (log $(backend_logfile "$kind" "$i"))"; }
            ready "$kind" "$i" || still+=("$i")
        done
        left=("${still[@]+"${still[@]}"}")
        ((${#left[@]} > 0)) || break
        if ((SECONDS >= deadline)); then
            for i in "${left[@]}"; do log_tail "$kind" "$i"; done
            die "$kind ${left[*]} not ready within ${READY_TIMEOUT}s (log $(backend_logfile "$kind" "${left[0]}"))"
        fi
        sleep 0.25
    done
}

# ---------------------------------------------------------------------------------------------------------------
# watchdog

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
        RMQ_FROM_WATCHDOG=1 bash "$script" stop --dir "$dir" >/dev/null 2>&1
    ' rocketmq-watchdog "$watch" "$MAX_LIFETIME" "$SELF" "$DIR" </dev/null >/dev/null 2>&1 &
    echo $! >"$DIR/watchdog.pid"
}

# ---------------------------------------------------------------------------------------------------------------
# commands

cmd_start() {
    [ -n "$DIR" ] || die "start needs --dir DIR"
    [[ "$NAMESRVS" =~ ^[1-9][0-9]?$ ]] || die "--namesrvs must be 1..99, got '$NAMESRVS'"
    [[ "$BROKERS" =~ ^[0-9]+$ ]] && ((BROKERS <= 26)) || die "--brokers must be 0..26, got '$BROKERS'"
    if [ "$SLAVES" = 1 ] && [ "${SLAVES_SUPPORTED:-0}" != 1 ]; then
        die "--slaves: ${SLAVES_REFUSAL:-this backend cannot start slaves}"
    fi
    if [ -n "$ACL" ]; then
        [ "${ACL_SUPPORTED:-0}" = 1 ] || die "--acl: ${ACL_REFUSAL:-this backend cannot start brokers with ACL}"
        [[ "$ACL" =~ ^[A-Za-z0-9_.-]+:[^[:space:]\"]{6,}$ ]] ||
            die "--acl must be USER:SECRET (a secret of 6 or more characters, no spaces or quotes), got '$ACL'"
        ACL_USER=${ACL%%:*} ACL_SECRET=${ACL#*:}
    fi
    if [ -n "$TLS_DIR" ]; then
        [ "${TLS_SUPPORTED:-0}" = 1 ] || die "--tls: ${TLS_REFUSAL:-this backend cannot start TLS servers}"
        TLS_DIR=$(cd "$TLS_DIR" && pwd) || die "--tls: no directory '$TLS_DIR'"
        local f need=(server.pem server.key)
        [ "$TLS_CLIENT_AUTH" = 0 ] || need+=(ca.pem client.pem client.key)
        for f in "${need[@]}"; do [ -f "$TLS_DIR/$f" ] || die "--tls: $TLS_DIR/$f is missing"; done
    elif [ "$TLS_CLIENT_AUTH" = 1 ]; then
        die "--tls-client-auth needs --tls CERTDIR"
    fi
    if [ "$PROXY" = 1 ]; then
        [ "${PROXY_SUPPORTED:-0}" = 1 ] || die "--proxy: ${PROXY_REFUSAL:-this backend cannot start a proxy}"
        ((BROKERS > 0)) || die "--proxy needs at least one broker"
        [ -z "$TLS_DIR" ] || die "--proxy with --tls is not set up here"
        [ -z "$ACL" ] || die "--proxy with --acl is not set up here"
    fi
    need_python
    backend_check
    mkdir -p "$DIR"
    [ ! -e "$DIR/env" ] || die "$DIR/env exists: stop that cluster first or use a fresh dir"
    DIR=$(cd "$DIR" && pwd)
    local i t0 t1 t2 t3 t4 ns=() br=() all=()
    read -r -a NS_PORTS <<<"$(free_ports "$NAMESRVS" "${NS_OFFSETS[@]}")"
    BR_PORTS=()
    SL_PORTS=()
    PX_PORTS=()
    # One call for masters, slaves and the proxy, so no two of them get the same ports.
    if ((BROKERS > 0)); then
        read -r -a all <<<"$(free_ports $((BROKERS * (1 + SLAVES) + PROXY)) "${BR_OFFSETS[@]}")"
        BR_PORTS=("${all[@]:0:BROKERS}")
        ((SLAVES == 0)) || SL_PORTS=("${all[@]:BROKERS:BROKERS}")
        ((PROXY == 0)) || PX_PORTS=("${all[@]:BROKERS*(1+SLAVES)}")
    fi
    # Servers of an earlier cluster in this dir (stopped) leave configs and homes: start afresh.
    rm -rf "$DIR"/namesrv-*/ "$DIR"/broker-*/ "$DIR"/slave-*/ "$DIR"/proxy-*/
    {
        backend_env
        echo "RMQ_TLS_DIR=$TLS_DIR"
        echo "RMQ_TLS_CLIENT_AUTH=$TLS_CLIENT_AUTH"
        echo "RMQ_SLAVE_COUNT=${#SL_PORTS[@]}"
        echo "RMQ_PROXY_COUNT=${#PX_PORTS[@]}"
        if ((${#PX_PORTS[@]} > 0)); then
            echo "RMQ_PROXY_1=127.0.0.1:${PX_PORTS[0]}"
            echo "RMQ_PROXY=127.0.0.1:${PX_PORTS[0]}"
        fi
        [ -z "$ACL" ] || echo "RMQ_ACL_USER=$ACL_USER"
        for ((i = 1; i <= ${#SL_PORTS[@]}; i++)); do
            echo "RMQ_SLAVE_$i=127.0.0.1:${SL_PORTS[$((i - 1))]}"
            echo "RMQ_SLAVE_${i}_NAME=$(broker_name "$i")"
        done
    } >"$DIR/env.tmp"
    mv "$DIR/env.tmp" "$DIR/env"
    start_watchdog "${WATCH_PID:-$PPID}"
    STARTED=0
    trap 'if [ "$STARTED" = 0 ]; then log "start failed; stopping what was started"; cmd_stop >/dev/null 2>&1 || true; fi' EXIT
    for ((i = 1; i <= NAMESRVS; i++)); do ns+=("$i"); done
    for ((i = 1; i <= BROKERS; i++)); do br+=("$i"); done
    t0=$(now_ms)
    for i in "${ns[@]}"; do backend_launch namesrv "$i"; done
    wait_ready namesrv "${ns[@]}"
    t1=$(now_ms)
    for i in "${br[@]+"${br[@]}"}"; do backend_launch broker "$i"; done
    ((BROKERS == 0)) || wait_ready broker "${br[@]}"
    t2=$(now_ms)
    if ((${#SL_PORTS[@]} > 0)); then
        for i in "${br[@]}"; do backend_launch slave "$i"; done
        wait_ready slave "${br[@]}"
    fi
    t3=$(now_ms)
    if ((${#PX_PORTS[@]} > 0)); then
        backend_launch proxy 1
        wait_ready proxy 1
    fi
    t4=$(now_ms)
    STARTED=1
    log "$(backend_label) ready: name servers $NAMESRVS in $((t1 - t0)) ms, brokers $BROKERS in $((t2 - t1)) ms more, slaves ${#SL_PORTS[@]} in $((t3 - t2)) ms more, proxies ${#PX_PORTS[@]} in $((t4 - t3)) ms more (total $((t4 - t0)) ms)"
    cat "$DIR/env"
}

cmd_stop() {
    [ -n "$DIR" ] || die "stop needs --dir DIR"
    [ -d "$DIR" ] || return 0
    local f kind i n waits
    # Slaves first, then brokers (they unregister from the name servers) together with the proxy (it keeps
    # nothing; its 10 s shutdown need not add to theirs), then name servers; each wave in parallel, each
    # server bounded.
    # Waits name the stoppers: when a failed start stops its own cluster, the servers and the watchdog are
    # children of this shell too, and a bare `wait` would wait for them (the watchdog for hours).
    local wave
    for wave in slave "proxy broker" namesrv; do
        waits=()
        for kind in $wave; do
            n=99
            [ ! -f "$DIR/env" ] || n=$(env_get "RMQ_${kind^^}_COUNT")
            n=${n:-0}
            for ((i = 1; i <= n; i++)); do
                f=$(backend_pidfile "$kind" "$i")
                [ -e "$f" ] || continue
                stop_pidfile "$f" TERM &
                waits+=($!)
            done
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

# check_index KIND: DIR runs a cluster and --index names one of its KIND servers.
check_index() {
    local count
    [ -n "$DIR" ] && [ -f "$DIR/env" ] || die "no running cluster in '${DIR:-}' (missing env file)"
    count=$(env_get "RMQ_$1_COUNT")
    [[ "$INDEX" =~ ^[0-9]+$ ]] && ((INDEX >= 1 && INDEX <= count)) || die "--index must be 1..$count, got '${INDEX:-}'"
}

cmd_kill() {
    local kind=$1 f
    check_index "${kind^^}"
    case "$SIGNAL" in KILL | TERM) ;; *) die "--signal must be KILL or TERM, got '$SIGNAL'" ;; esac
    f=$(backend_pidfile "$kind" "$INDEX")
    [ -f "$f" ] || die "$kind $INDEX is not running"
    stop_pidfile "$f" "$SIGNAL"
}

cmd_restart() {
    local kind=$1 t0
    check_index "${kind^^}"
    need_python
    if running "$kind" "$INDEX"; then die "$kind $INDEX is already running"; fi
    t0=$(now_ms)
    backend_launch "$kind" "$INDEX"
    wait_ready "$kind" "$INDEX"
    log "$kind $INDEX ready in $(($(now_ms) - t0)) ms"
}

# backend_for IMPL: the script that runs IMPL.
backend_for() {
    case "$1" in
    rust) echo "$SCRIPT_DIR/rocketmq.sh" ;;
    java5 | java4) echo "$SCRIPT_DIR/rocketmq-java.sh" ;;
    *) die "unknown --impl '$1' (rust, java5 or java4)" ;;
    esac
}

cluster_main() {
    [ $# -ge 1 ] && [ "$1" != -h ] && [ "$1" != --help ] || usage
    CMD=$1
    shift
    DIR="" NAMESRVS=1 BROKERS=1 SLAVES=0 IMPL=$DEFAULT_IMPL INDEX="" SIGNAL=KILL WATCH_PID="" ACL="" TLS_DIR=""
    TLS_CLIENT_AUTH=0 PROXY=0
    local args=("$@") other
    while [ $# -gt 0 ]; do
        case "$1" in
        --dir) DIR=${2:?--dir needs a value}; shift 2 ;;
        --namesrvs) NAMESRVS=${2:?--namesrvs needs a value}; shift 2 ;;
        --brokers) BROKERS=${2:?--brokers needs a value}; shift 2 ;;
        --slaves) SLAVES=1; shift ;;
        --acl) ACL=${2:?--acl needs a value}; shift 2 ;;
        --impl) IMPL=${2:?--impl needs a value}; shift 2 ;;
        --index) INDEX=${2:?--index needs a value}; shift 2 ;;
        --signal) SIGNAL=${2:?--signal needs a value}; shift 2 ;;
        --watch-pid) WATCH_PID=${2:?--watch-pid needs a value}; shift 2 ;;
        --tls) TLS_DIR=${2:?--tls needs a value}; shift 2 ;;
        --tls-client-auth) TLS_CLIENT_AUTH=1; shift ;;
        --proxy) PROXY=1; shift ;;
        -h | --help) usage ;;
        *) die "unknown argument '$1' (try --help)" ;;
        esac
    done
    # A running cluster remembers its implementation.
    if [ "$CMD" != start ] && [ "$CMD" != install ] && [ -n "$DIR" ] && [ -f "$DIR/env" ]; then
        IMPL=$(env_get RMQ_IMPL)
    fi
    other=$(backend_for "$IMPL")
    if [[ " $IMPLS " != *" $IMPL "* ]]; then
        [ -f "$other" ] || die "--impl $IMPL needs $other, which is not in this checkout"
        exec bash "$other" "$CMD" "${args[@]+"${args[@]}"}"
    fi
    READY_TIMEOUT=${RMQ_READY_TIMEOUT:-$READY_DEFAULT}
    case "$CMD" in
    install) backend_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    kill-broker) cmd_kill broker ;;
    kill-namesrv) cmd_kill namesrv ;;
    start-broker) cmd_restart broker ;;
    start-namesrv) cmd_restart namesrv ;;
    *) die "unknown command '$CMD' (install, start, stop, kill-broker, start-broker, kill-namesrv, start-namesrv)" ;;
    esac
}
