#!/usr/bin/env bash
# Multi-master figures (issue #20), full size by default. Not part of CI: the tests run the same paths at CI sizes.
#
#   scripts/cluster-suite.sh [--impls rust,java5] [--masters 1,2,3] [--messages N] [--events E] [--rounds R]
#                            [--only scaling|failover]
#
# Scaling: for each implementation and each cluster size M (a fresh cluster of M masters, broker-a, broker-b, ...,
# started by scripts/rocketmq.sh / rocketmq-java.sh, one name server), the topic is created on every master with 4
# queues (examples/cluster_topic.rs), every master is warmed up by a probe run of 10 N messages (not recorded), then R
# rounds of, one after the other on the same cluster:
#   probe     bench/peer/probe on every master at once (pre-encoded batches of 100, 4 connections x 8 in flight per
#             master): the cluster's ceiling, total messages over the slowest master's time
#   producer  examples/bench_producer, scenario batch100 (20 N messages, 8 M batches in flight)
#   bridge    examples/bench_bridge --rounds 1: `rocketmq-bridge run` (async, batch 100) on E events, key_dispatch
#             and roundrobin, each against the producer reference on the bridge's messages around it
# Then a table per implementation (medians over the rounds): the probe, the producer and its share of the probe,
# the producer's speed-up over one master, the bridge and its share of its producer reference; last line one JSON
# object. N defaults to 10000 (200,000 messages per producer run), E to 200000, R to 3.
#
# Failover: the fault suite's cluster scenarios at full size on each implementation (TEST_SCALE=full, release):
# 100,000 events at 5,000/s into 3 masters, one SIGKILLed at 30% and restarted at 60%, another stopped at 70%, with
# and without the spool (tests/faults/cluster_failover.rs); their figure lines are printed.
#
# Environment: BENCH_TIMEOUT (seconds per program, default 600). Everything runs on loopback; the clusters stop
# when the script exits.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMPLS=rust,java5 MASTERS=1,2,3 N=10000 E=200000 ROUNDS=3 ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
    --impls) IMPLS=${2:?}; shift 2 ;;
    --masters) MASTERS=${2:?}; shift 2 ;;
    --messages) N=${2:?}; shift 2 ;;
    --events) E=${2:?}; shift 2 ;;
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    --only) ONLY=${2:?}; shift 2 ;;
    *) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
for v in "$N" "$E" "$ROUNDS"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "cluster-suite.sh: sizes must be positive integers" >&2; exit 2; }
done
[[ "$MASTERS" =~ ^[1-9](,[1-9])*$ ]] || { echo "cluster-suite.sh: --masters is a list like 1,2,3" >&2; exit 2; }
TMO=${BENCH_TIMEOUT:-600}
log() { echo "cluster-suite.sh: $*" >&2; }
script_of() { if [ "$1" = rust ]; then echo "$ROOT/scripts/rocketmq.sh"; else echo "$ROOT/scripts/rocketmq-java.sh"; fi; }

cd "$ROOT"
log "building (release): the binary, bench_producer, bench_bridge, cluster_topic and the broker probe"
cargo build --release --locked --bin rocketmq-bridge --example bench_producer --example bench_bridge \
    --example cluster_topic >&2
CARGO_TARGET_DIR="$ROOT/bench/peer/target/probe" cargo build --release --locked \
    --manifest-path bench/peer/probe/Cargo.toml >&2
EX="$ROOT/target/release/examples"
PROBE_BIN="$ROOT/bench/peer/target/probe/release/peer-broker-probe"

WORK=$(mktemp -d /tmp/cluster-suite.XXXXXX)
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
CURRENT=""
cleanup() { if [ -n "$CURRENT" ]; then "$(script_of "${CURRENT%%:*}")" stop --dir "${CURRENT#*:}" >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT

# record KIND IMPL M ROUND JSON: appends one tagged result line.
record() { echo "{\"kind\":\"$1\",\"impl\":\"$2\",\"masters\":$3,\"round\":$4,\"data\":$5}" >>"$RESULTS"; }

# last_json FILE: the file's last line that is a JSON object.
last_json() { grep '^{' "$1" | tail -n1 || true; }

IFS=, read -r -a impl_list <<<"$IMPLS"
IFS=, read -r -a m_list <<<"$MASTERS"
if [ "$ONLY" != scaling ]; then
    for impl in "${impl_list[@]}"; do
        log "failover, $impl: the fault suite's cluster scenarios at full size"
        "$(script_of "$impl")" install --impl "$impl" >&2
        TEST_SCALE=full RMQ_IMPL=$impl timeout 3600 cargo test --release --locked --test faults -- cluster_failover \
            --nocapture --test-threads=1 >"$WORK/failover-$impl.out" 2>&1 || log "  failover suite on $impl failed (see below)"
        grep -E '^cluster failover|^spool o|test result|panicked' "$WORK/failover-$impl.out" | sed "s/^/[$impl] /"
    done
fi
[ "$ONLY" = failover ] && exit 0
for impl in "${impl_list[@]}"; do
    s=$(script_of "$impl")
    "$s" install --impl "$impl" >&2
    for m in "${m_list[@]}"; do
        dir="$WORK/$impl-$m"
        log "$impl, $m master(s): starting (load $(cut -d' ' -f1-3 /proc/loadavg))"
        CURRENT="$impl:$dir"
        "$s" start --dir "$dir" --brokers "$m" --impl "$impl" --watch-pid $$ >/dev/null
        ns=$(sed -n 's/^RMQ_NAMESRV=//p' "$dir/env")
        mapfile -t brokers < <(sed -n 's/^RMQ_BROKER_[0-9]*=//p' "$dir/env")
        topic="ClusterSuite${m}_$$"
        timeout "$TMO" "$EX/cluster_topic" --namesrv "$ns" --topic "$topic" --queues 4 >"$WORK/topic.out"
        log "  topic: $(cat "$WORK/topic.out")"
        # Warm-up, not recorded: a JVM broker is several times slower until its JIT has seen the load.
        for b in "${brokers[@]}"; do
            timeout "$TMO" "$PROBE_BIN" --broker "$b" --topic "$topic" --messages $((N * 10)) --batch 100 --conns 4 \
                --window 8 >/dev/null 2>&1 || log "  warm-up probe on $b exited $?"
        done
        for ((r = 1; r <= ROUNDS; r++)); do
            # The probe on every master at once; each sends its share of 20 N messages.
            per=$(((N * 20 + m - 1) / m))
            pids=()
            for i in "${!brokers[@]}"; do
                timeout "$TMO" "$PROBE_BIN" --broker "${brokers[$i]}" --topic "$topic" --messages "$per" \
                    --batch 100 --conns 4 --window 8 >"$WORK/probe.$i.out" 2>&1 &
                pids+=($!)
            done
            for p in "${pids[@]}"; do wait "$p" || log "  a probe exited $?"; done
            probe=$(for i in "${!brokers[@]}"; do last_json "$WORK/probe.$i.out"; done | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
msgs = sum(r["msgs"] for r in rows)
slowest = max(r["msgs"] / r["msgs_per_s"] for r in rows if r["msgs_per_s"] > 0)
print(json.dumps({"msgs": msgs, "msgs_per_s": round(msgs / slowest), "failed": sum(r.get("failed", 0) for r in rows),
                  "per_master": [round(r["msgs_per_s"]) for r in rows]}))')
            record probe "$impl" "$m" "$r" "$probe"
            log "  round $r probe:    $probe"
            timeout "$TMO" "$EX/bench_producer" --namesrv "$ns" --topic "$topic" --scenarios batch100 \
                --messages "$N" --batch-window $((8 * m)) >"$WORK/producer.out" 2>&1 || log "  bench_producer exited $?"
            line=$(last_json "$WORK/producer.out")
            [ -n "$line" ] && record producer "$impl" "$m" "$r" "$line"
            log "  round $r producer: $(grep -m1 batch100 "$WORK/producer.out" || echo none)"
            timeout "$TMO" "$EX/bench_bridge" --namesrv "$ns" --topic "$topic" --events "$E" --rounds 1 \
                --sync-events 200 >"$WORK/bridge.out" 2>&1 || log "  bench_bridge exited $?"
            line=$(last_json "$WORK/bridge.out")
            [ -n "$line" ] && record bridge "$impl" "$m" "$r" "$line"
            log "  round $r bridge:   $(grep -m1 '^median' "$WORK/bridge.out" || echo none)"
        done
        "$s" stop --dir "$dir" >/dev/null
        CURRENT=""
    done
done

python3 - "$RESULTS" "$N" "$E" "$ROUNDS" <<'EOF'
import json, statistics, sys
path, n, e, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(l) for l in open(path) if l.strip()]

def med(kind, impl, m, get):
    v = []
    for r in rows:
        if r["kind"] == kind and r["impl"] == impl and r["masters"] == m:
            try:
                x = get(r["data"])
            except (KeyError, TypeError, IndexError):
                continue
            if x is not None:
                v.append(x)
    return statistics.median(v) if v else None

def producer_rate(d):
    return d["batch100"]["msgs_per_s"]

summary = {"suite": "cluster-scaling", "messages_per_producer_run": n * 20, "bridge_events": e, "rounds": rounds, "rows": []}
for impl in sorted({r["impl"] for r in rows}):
    print(f"\n{impl}: medians of {rounds} round(s)")
    print(f"{'masters':>7} {'probe msgs/s':>13} {'producer':>10} {'of probe':>9} {'vs 1 master':>12} "
          f"{'bridge KD':>10} {'KD/ref':>7} {'bridge RR':>10} {'RR/ref':>7}")
    base = None
    for m in sorted({r["masters"] for r in rows if r["impl"] == impl}):
        probe = med("probe", impl, m, lambda d: d["msgs_per_s"])
        prod = med("producer", impl, m, producer_rate)
        kd = med("bridge", impl, m, lambda d: d["run_async_batch100_events_per_s"])
        kd_ratio = med("bridge", impl, m, lambda d: d["ratio"])
        rr = med("bridge", impl, m, lambda d: d["run_roundrobin_events_per_s"])
        rr_ratio = med("bridge", impl, m, lambda d: d["ratio_roundrobin"])
        if m == 1:
            base = prod
        of_probe = prod / probe if prod and probe else None
        speedup = prod / base if prod and base else None
        f = lambda x, p=0: "-" if x is None else f"{x:.{p}f}"
        print(f"{m:>7} {f(probe):>13} {f(prod):>10} {f(of_probe, 3):>9} {f(speedup, 2):>12} "
              f"{f(kd):>10} {f(kd_ratio, 3):>7} {f(rr):>10} {f(rr_ratio, 3):>7}")
        summary["rows"].append({"impl": impl, "masters": m, "probe_msgs_per_s": probe, "producer_batch100_msgs_per_s": prod,
                                "producer_of_probe": of_probe, "producer_vs_one_master": speedup,
                                "bridge_key_dispatch_events_per_s": kd, "bridge_key_dispatch_of_producer": kd_ratio,
                                "bridge_roundrobin_events_per_s": rr, "bridge_roundrobin_of_producer": rr_ratio})
print(json.dumps(summary))
EOF
log "work dir $WORK (results.jsonl)"
