#!/usr/bin/env bash
# Producer benchmark on the Apache RocketMQ (Java) broker: ours (examples/bench_producer.rs) against
# the Java DefaultMQProducer (bench/peer/java) and rocketmq-client-go v2 (bench/peer/go), same broker,
# same run, same workload (256-byte bodies; sync 1 thread, sync 8 threads, async with 256 requests in
# flight, async batches of 100). Prints each client's figures, then a side-by-side table with ratios
# (throughput, client CPU per message, peak RSS) and the broker's CPU (cores, /proc/PID/stat) per
# scenario, and ends with one JSON line. Kept out of CI.
#
#   scripts/bench-java.sh [--messages N] [--rounds R] [--warmup N] [--impl java5|java4] [--scenarios a,b,...]
#                         [--rss-per-scenario]
#
# --rss-per-scenario afterwards runs every client once per scenario, each in a fresh process, and
# prints the peak RSS per scenario (which scenario makes a client grow).
#
# Before measuring, every client runs once with --warmup messages (default 2000; 0 skips it) and its
# figures are discarded, so the broker's JIT is warm for whichever client is measured first. With
# --rounds R > 1 the clients run interleaved R times and the median round per scenario is shown.
#
# Needs cargo, mvn, java 17 and go (the Go module proxy) — nothing is committed in binary form.
# The Java client runs with the JVM's default options (as a user's application would), overridable
# with PEER_JAVA_OPTS. Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
messages=10000
rounds=1
warmup=2000
rss_per_scenario=0
impl=java5
scenarios=sync1,sync8,async,batch100
while [ $# -gt 0 ]; do
    case "$1" in
        --messages) messages=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --rss-per-scenario) rss_per_scenario=1; shift ;;
        --impl) impl=$2; shift 2 ;;
        --scenarios) scenarios=$2; shift 2 ;;
        *) echo "bench-java.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[[ "$messages" =~ ^[1-9][0-9]*$ ]] || { echo "bench-java.sh: --messages must be a positive number" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rocketmq-bridge-bench-java.XXXXXX")
cleanup() {
    scripts/rocketmq.sh stop --dir "$work/rmq" >/dev/null 2>&1 || true
    rm -rf "$work"/rmq/broker-*/store   # the message store; logs stay in $work for inspection
    echo "logs: $work" >&2
}
trap cleanup EXIT

echo "== building: ours (cargo --release), the Java peer (mvn), the Go peer (go build)"
cargo build --release --locked --quiet --example bench_producer
mvn -q -B -f bench/peer/java/pom.xml package dependency:build-classpath -Dmdep.outputFile=target/classpath.txt >&2
(cd bench/peer/go && go build -o peer-bench .)

echo "== starting Apache RocketMQ ($impl) in $work/rmq"
mkdir -p "$work/rmq"
scripts/rocketmq.sh start --dir "$work/rmq" --impl "$impl" >/dev/null
ns=$(sed -n 's/^RMQ_NAMESRV=//p' "$work/rmq/env")
version=$(sed -n 's/^RMQ_VERSION=//p' "$work/rmq/env")
broker_pid=$(cat "$work/rmq/broker-1/pid")
echo "   name server $ns, broker pid $broker_pid (Apache RocketMQ $version)"
echo "   machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"

common="--namesrv $ns --messages $messages --scenarios $scenarios"
java_cp="$root/bench/peer/java/target/classes:$(cat bench/peer/java/target/classpath.txt)"
warm=()
[ "$warmup" -gt 0 ] && warm=(--warmup-cmd-sub "--messages $messages " "--messages $warmup ")
# BENCH_OURS_EXTRA: extra arguments for ours only, e.g. --no-unique-ids (no UNIQ_KEY per message,
# as the Go client sends batch members) to compare like with like.
ours_cmd="$root/target/release/examples/bench_producer ${BENCH_OURS_EXTRA:-}"
java_cmd="java ${PEER_JAVA_OPTS:-} -cp $java_cp rocketmqbridge.peer.Bench"
go_cmd="$root/bench/peer/go/peer-bench"
if [ "$rss_per_scenario" = 1 ]; then
    echo "== peak RSS per scenario (each client and scenario in a fresh process, --messages $messages)"
    printf '   %-9s %10s %10s %10s\n' scenario "ours KiB" "java KiB" "go KiB"
    for s in ${scenarios//,/ }; do
        row=()
        for c in "$ours_cmd" "$java_cmd" "$go_cmd"; do
            # shellcheck disable=SC2086
            row+=("$($c --namesrv "$ns" --messages "$messages" --scenarios "$s" 2>/dev/null | sed -n 's/^peak RSS \([0-9]*\) KiB$/\1/p')")
        done
        printf '   %-9s %10s %10s %10s\n' "$s" "${row[@]}"
    done
fi
python3 bench/peer/compare.py --broker-pid "$broker_pid" --out "$work/logs" --rounds "$rounds" "${warm[@]}" \
    "ours=$ours_cmd $common" "java=$java_cmd $common" "go=$go_cmd $common"
