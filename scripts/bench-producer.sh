#!/usr/bin/env bash
# Producer benchmark, ours against the existing client and against the broker's own ceiling, in one run on one
# fresh local RocketMQ (rocketmq-rust 1.0 via scripts/rocketmq.sh). Not part of CI.
#
#   scripts/bench-producer.sh [--messages N] [--runs R] [--no-peer] [--no-probe] [--keep-going]
#
# Per run (R runs, default 3), against the same broker:
#   ours   cargo run --release --example bench_producer  (sync1, sync8, async, batch100; one process)
#   probe  bench/peer/probe: pre-encoded frames pipelined over 4 connections (batch 100, and single sends)
#   peer   bench/peer/client: rocketmq-client-rust 1.0 from crates.io, one process per scenario
#          (sync1, sync8, async, batch100 = one batch at a time, batch100_async = a burst of callback batches)
# Then: min/median per figure, ratios (ours / peer, ours / probe), the acceptance checks of issue 9, the stripped
# release binary size and the `cargo tree -e normal` crate count; last line one JSON object.
#
# N defaults to 10000 (sync1 sends min(N, 20000), sync8 and async N, batch100 20 N messages, as many as the
# probe sends in batches; the probe also sends N singles). The peer client's build is large (~360 crates, 10+
# minutes on 2 cores); its target dir is bench/peer/target. Environment: BENCH_TIMEOUT (seconds per program,
# default 600); BENCH_WINDOW (our async requests outstanding, default 256, as the Java/Go peers);
# BENCH_BATCH_WINDOW (our batches outstanding in batch100, default 8: rocketmq-rust 1.0 takes about 1,400 requests
# per second one after another whatever their size, so 800 messages in flight already reach the probe's ceiling
# (measured 2026-11-30: 131,000-134,000 msgs/s against the probe's 137,000, p50 5 ms), while 32 batches only add
# queueing (p50 22-25 ms, and no more throughput). The probe keeps 4 x 8 batches in flight: 4 x 16 sometimes
# trips the broker's flow control (code 2, TIMEOUT_CLEAN_QUEUE > 200 ms).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=10000 RUNS=3 PEER=1 PROBE=1
while [ $# -gt 0 ]; do
    case "$1" in
    --messages) N=${2:?}; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --no-peer) PEER=0; shift ;;
    --no-probe) PROBE=0; shift ;;
    *) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "bench-producer.sh: --messages must be a positive integer" >&2; exit 2; }
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "bench-producer.sh: --runs must be a positive integer" >&2; exit 2; }
TMO=${BENCH_TIMEOUT:-600}
WINDOW=${BENCH_WINDOW:-256}
BATCH_WINDOW=${BENCH_BATCH_WINDOW:-8}
PEER_TARGET="$ROOT/bench/peer/target"
log() { echo "bench-producer.sh: $*" >&2; }

cd "$ROOT"
log "building ours (release)"
cargo build --release --locked --example bench_producer --bin rocketmq-bridge >&2
OURS="$ROOT/target/release/examples/bench_producer"
if [ "$PROBE" = 1 ]; then
    log "building the broker probe"
    if ! CARGO_TARGET_DIR="$PEER_TARGET/probe" cargo build --release --locked --manifest-path bench/peer/probe/Cargo.toml >&2; then
        log "probe build failed; continuing without it"
        PROBE=0
    fi
fi
if [ "$PEER" = 1 ]; then
    log "building rocketmq-client-rust 1.0 peer (large; first build takes long)"
    if ! CARGO_TARGET_DIR="$PEER_TARGET" cargo build --release --locked --manifest-path bench/peer/client/Cargo.toml >&2; then
        log "peer build failed; continuing without it"
        PEER=0
    fi
fi
PROBE_BIN="$PEER_TARGET/probe/release/peer-broker-probe"
PEER_BIN="$PEER_TARGET/release/peer-client-bench"

WORK=$(mktemp -d /tmp/bench-producer.XXXXXX)
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
cleanup() {
    "$ROOT/scripts/rocketmq.sh" stop --dir "$WORK/rmq" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$ROOT/scripts/rocketmq.sh" install >&2
"$ROOT/scripts/rocketmq.sh" start --dir "$WORK/rmq" --watch-pid $$ >"$WORK/env.out"
NS=$(sed -n 's/^RMQ_NAMESRV=//p' "$WORK/rmq/env")
BROKER=$(sed -n 's/^RMQ_BROKER_1=//p' "$WORK/rmq/env")
log "cluster up: namesrv $NS broker $BROKER (work dir $WORK)"

# run KIND RUN CMD...: runs a program bounded in time, keeps its output, appends its last JSON line tagged.
run() {
    local kind=$1 r=$2
    shift 2
    local out="$WORK/$kind.$r.out"
    if timeout "$TMO" "$@" >"$out" 2>"$out.err"; then :; else log "$kind run $r exited $? (see $out.err)"; fi
    # Our program's table lines are worth seeing; the peer client logs on stdout, so only its JSON.
    if [ "$kind" = ours ]; then grep -v '^{' "$out" | sed "s/^/  [$kind] /" >&2 || true; fi
    local line
    line=$(grep '^{' "$out" | tail -n1 || true)
    if [ -n "$line" ]; then
        echo "{\"kind\":\"$kind\",\"run\":$r,\"data\":$line}" >>"$RESULTS"
        echo "  [$kind] $line" >&2
    fi
}

for ((r = 1; r <= RUNS; r++)); do
    log "run $r of $RUNS (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    run ours "$r" "$OURS" --namesrv "$NS" --messages "$N" --window "$WINDOW" --batch-window "$BATCH_WINDOW"
    if [ "$PROBE" = 1 ]; then
        run probe_batch "$r" "$PROBE_BIN" --broker "$BROKER" --messages $((N * 20)) --batch 100 --conns 4 --window 8
        run probe_single "$r" "$PROBE_BIN" --broker "$BROKER" --messages "$N" --batch 1 --conns 4 --window 64
    fi
    if [ "$PEER" = 1 ]; then
        for s in sync1 sync8 async batch100 batch100_async; do
            run "peer_$s" "$r" "$PEER_BIN" --namesrv "$NS" --scenario "$s" --messages "$N"
        done
    fi
done

log "release binary and dependency count"
BIN_BYTES=$(stat -c %s "$ROOT/target/release/rocketmq-bridge")
STRIPPED=$(mktemp "$WORK/strip.XXXX")
strip -o "$STRIPPED" "$ROOT/target/release/rocketmq-bridge" 2>/dev/null || cp "$ROOT/target/release/rocketmq-bridge" "$STRIPPED"
STRIPPED_BYTES=$(stat -c %s "$STRIPPED")
CRATES=$(cargo tree -e normal --prefix none --locked 2>/dev/null | sed 's/ (\*)$//' | sort -u | grep -c . || true)

python3 - "$RESULTS" "$BIN_BYTES" "$STRIPPED_BYTES" "$CRATES" "$N" "$RUNS" <<'EOF'
import json, statistics, sys
path, bin_bytes, stripped, crates, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
rows = [json.loads(l) for l in open(path) if l.strip()]

def series(kind, key, sub=None):
    out = []
    for row in rows:
        if row["kind"] != kind:
            continue
        d = row["data"]
        if sub is not None:
            d = d.get(sub)
            if d is None:
                continue
        if key in d:
            out.append(d[key])
    return out

def mm(v):
    return (min(v), statistics.median(v), max(v)) if v else None

summary = {}
def put(name, kind, key, sub=None):
    s = mm(series(kind, key, sub))
    if s:
        summary[name] = {"min": s[0], "median": s[1], "max": s[2]}

SCEN = ["sync1", "sync8", "async", "batch100"]
for sc in SCEN:
    for key in ["msgs_per_s", "p50_us", "p99_us", "cpu_us_per_msg", "failed"]:
        put(f"ours.{sc}.{key}", "ours", key, sc)
put("ours.peak_rss_kib", "ours", "peak_rss_kib")
for sc in SCEN + ["batch100_async"]:
    for key in ["msgs_per_s", "ok_per_s", "p50_us", "p99_us", "cpu_us_per_msg", "failed", "peak_rss_kib"]:
        put(f"peer.{sc}.{key}", f"peer_{sc}", key)
for kind in ["probe_batch", "probe_single"]:
    for key in ["msgs_per_s", "failed"]:
        put(f"{kind}.{key}", kind, key)

def med(name):
    return summary.get(name, {}).get("median")

print()
print(f"Figures: median (min..max) over {runs} run(s), N={n}; ours = rocketmq-bridge, peer = rocketmq-client-rust 1.0")
print(f"{'scenario':<15}{'who':<6}{'msgs/s':>20}{'p50 us':>10}{'p99 us':>10}{'cpu us/msg':>20}{'failed':>8}{'RSS KiB':>10}")
def fmt(name, prec=0):
    s = summary.get(name)
    if not s:
        return "-"
    f = f"{{:.{prec}f}}"
    return f"{f.format(s['median'])} ({f.format(s['min'])}..{f.format(s['max'])})"
for sc in SCEN + ["batch100_async"]:
    for who in ["ours", "peer"]:
        if who == "ours" and sc == "batch100_async":
            continue
        key = "ok_per_s" if who == "peer" else "msgs_per_s"
        if f"{who}.{sc}.{key}" not in summary:
            continue
        rss = fmt("ours.peak_rss_kib") if who == "ours" else fmt(f"peer.{sc}.peak_rss_kib")
        print(f"{sc:<15}{who:<6}{fmt(f'{who}.{sc}.{key}'):>20}{fmt(f'{who}.{sc}.p50_us'):>10}{fmt(f'{who}.{sc}.p99_us'):>10}"
              f"{fmt(f'{who}.{sc}.cpu_us_per_msg', 2):>20}{fmt(f'{who}.{sc}.failed'):>8}{rss:>10}")
for kind in ["probe_batch", "probe_single"]:
    if f"{kind}.msgs_per_s" in summary:
        print(f"{kind:<15}{'broker':<6}{fmt(kind + '.msgs_per_s'):>20}{'':>10}{'':>10}{'':>20}{fmt(kind + '.failed'):>8}")

ratios = {}
def ratio(name, a, b):
    if a is not None and b:
        ratios[name] = round(a / b, 3)
# The peer's batch throughput: its best batch scenario that stored every message (the issue's "about 50,000
# msgs/s" is its one-batch-at-a-time run; its async burst reaches the broker's ceiling only by failing part of
# the burst, so it is shown beside but not taken as the lossless figure).
def lossless(sc):
    f = summary.get(f"peer.{sc}.failed")
    return med(f"peer.{sc}.ok_per_s") if f is not None and f["max"] == 0 else None
peer_batch_best = max([v for v in [lossless("batch100"), lossless("batch100_async")] if v is not None], default=None)
ratio("batch100_vs_peer_burst_ok", med("ours.batch100.msgs_per_s"), med("peer.batch100_async.ok_per_s"))
ratio("batch100_vs_peer", med("ours.batch100.msgs_per_s"), peer_batch_best)
ratio("batch100_vs_probe", med("ours.batch100.msgs_per_s"), med("probe_batch.msgs_per_s"))
ratio("async_vs_probe_single", med("ours.async.msgs_per_s"), med("probe_single.msgs_per_s"))
for sc in SCEN:
    ratio(f"{sc}_msgs_per_s_vs_peer", med(f"ours.{sc}.msgs_per_s"), med(f"peer.{sc}.ok_per_s"))
    peer_cpu = med(f"peer.{sc}.cpu_us_per_msg")
    if peer_cpu is not None and med(f"ours.{sc}.cpu_us_per_msg") is not None:
        ratios[f"{sc}_cpu_per_msg_peer_over_ours"] = round(peer_cpu / max(med(f"ours.{sc}.cpu_us_per_msg"), 1e-9), 2)
print()
print("Ratios (medians): " + ", ".join(f"{k} {v}" for k, v in ratios.items()))

checks = {}
def check(name, ok):
    if ok is not None:
        checks[name] = bool(ok)
def both(*v):
    return None if any(x is None for x in v) else v
b = both(med("ours.batch100.msgs_per_s"), peer_batch_best)
check("batch100_at_least_2x_peer", b and b[0] >= 2 * b[1])
b = both(med("ours.batch100.msgs_per_s"), med("probe_batch.msgs_per_s"))
check("batch100_at_least_90pct_probe", b and b[0] >= 0.9 * b[1])
b = both(med("ours.async.msgs_per_s"), med("probe_single.msgs_per_s"))
check("async_at_least_90pct_single_ceiling", b and b[0] >= 0.9 * b[1])
fails = summary.get("ours.async.failed")
check("async_zero_failed", fails and fails["max"] == 0)
check("sync_cpu_at_most_30us", all((med(f"ours.{sc}.cpu_us_per_msg") or 1e9) <= 30 for sc in ["sync1", "sync8"]))
rss = summary.get("ours.peak_rss_kib")
check("peak_rss_below_8mb", rss and rss["max"] < 8 * 1024)
check("stripped_binary_below_2mb", stripped < 2 * 1024 * 1024)
check("crates_at_most_25", crates <= 25)
print(f"Release binary {bin_bytes} bytes ({stripped} stripped); cargo tree -e normal: {crates} crates")
print("Acceptance: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in checks.items()))
print(json.dumps({"bench": "producer-compare", "messages": n, "runs": runs, "summary": summary, "ratios": ratios,
                  "binary_bytes": bin_bytes, "stripped_binary_bytes": stripped, "crates_normal": crates,
                  "acceptance": checks}, separators=(",", ":")))
EOF
