#!/usr/bin/env bash
# Before/after benchmark: the same three benchmark programs built from an earlier revision and from the working
# tree, run in interleaved rounds against one fresh local RocketMQ, with medians and after/before ratios. Not
# part of CI. For changes that must not cost throughput ("within 5% of before").
#
#   scripts/bench-ab.sh --before REV [--rounds R] [--events N] [--messages N] [--records N] [--impl rust|java5]
#
# Builds (release) bench_producer, bench_bridge, bench_spool and the rocketmq-bridge binary of REV in a
# git worktree under target/bench-ab/ (kept, with its build, for the next call) and of the working tree.
# Then one discarded warm-up round and R counted rounds (default 3); each round runs, for both sides in turn
# (A B in odd rounds, B A in even ones, so neither side always runs on the fuller broker):
#   producer  bench_producer --scenarios batch100 --messages N   (20 N messages in batches of 100)
#   bridge    bench_bridge --events N --rounds 1 --bin <that side's rocketmq-bridge>  (the bridge's run against
#             the producer reference around it; its figure is the ratio, which cancels the broker's drift)
#   spool     bench_spool --records N  (no broker: append and drain rates per sync policy)
# Prints each run's JSON line, then per figure the median of each side and after/before; the last line is one
# JSON object. Defaults: N = 5000 messages (100,000 in batches), 200,000 bridge events, 200,000 spool records.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BEFORE='' ROUNDS=3 EVENTS=200000 MESSAGES=5000 RECORDS=200000 IMPL=rust
while [ $# -gt 0 ]; do
    case "$1" in
    --before) BEFORE=${2:?}; shift 2 ;;
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    --events) EVENTS=${2:?}; shift 2 ;;
    --messages) MESSAGES=${2:?}; shift 2 ;;
    --records) RECORDS=${2:?}; shift 2 ;;
    --impl) IMPL=${2:?}; shift 2 ;;
    *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
[ -n "$BEFORE" ] || { echo "bench-ab.sh: --before REV is needed" >&2; exit 2; }
for v in "$ROUNDS" "$EVENTS" "$MESSAGES" "$RECORDS"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench-ab.sh: counts must be positive integers" >&2; exit 2; }
done
log() { echo "bench-ab.sh: $*" >&2; }
TMO=${BENCH_TIMEOUT:-900}

cd "$ROOT"
REV=$(git rev-parse --verify "$BEFORE^{commit}") || { log "unknown revision $BEFORE"; exit 2; }
WORK=$(mktemp -d /tmp/bench-ab.XXXXXX)
# The before side's source and build stay under target/bench-ab/ so the next call with the same REV builds
# nothing.
SRC="$ROOT/target/bench-ab/src-${REV:0:12}"
BT="$ROOT/target/bench-ab/target-${REV:0:12}"
cleanup() {
    "$ROOT/scripts/rocketmq.sh" stop --dir "$WORK/rmq" >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "building before ($REV) in a worktree"
[ -d "$SRC/.git" ] || [ -f "$SRC/.git" ] || { git -C "$ROOT" worktree prune; git -C "$ROOT" worktree add -q --detach "$SRC" "$REV"; }
CARGO_TARGET_DIR="$BT" cargo build --release --locked --manifest-path "$SRC/Cargo.toml" \
    --example bench_producer --example bench_bridge --example bench_spool --bin rocketmq-bridge >&2
log "building after (working tree)"
cargo build --release --locked --example bench_producer --example bench_bridge --example bench_spool \
    --bin rocketmq-bridge >&2
declare -A DIRS=([before]="$BT/release" [after]="$ROOT/target/release")

"$ROOT/scripts/rocketmq.sh" install >&2
"$ROOT/scripts/rocketmq.sh" start --dir "$WORK/rmq" --impl "$IMPL" --watch-pid $$ >/dev/null
NS=$(sed -n 's/^RMQ_NAMESRV=//p' "$WORK/rmq/env")
log "cluster up ($IMPL): namesrv $NS; work dir $WORK"
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# run SIDE ROUND KIND CMD...: bounded run; appends its last JSON line tagged with side, round and kind.
run() {
    local side=$1 r=$2 kind=$3
    shift 3
    local out="$WORK/$kind.$side.$r.out" line
    if ! timeout "$TMO" "$@" >"$out" 2>"$out.err"; then log "$kind $side round $r failed (see $out.err)"; fi
    line=$(grep '^{' "$out" | tail -n1 || true)
    if [ -n "$line" ]; then
        echo "{\"side\":\"$side\",\"round\":$r,\"kind\":\"$kind\",\"data\":$line}" >>"$RESULTS"
        echo "  [$kind $side r$r] $line" >&2
    fi
}

for ((r = 0; r <= ROUNDS; r++)); do
    if ((r % 2 == 1)); then sides="before after"; else sides="after before"; fi
    if ((r == 0)); then what="warm-up round (discarded)"; else what="round $r of $ROUNDS"; fi
    log "$what (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    for side in $sides; do
        d=${DIRS[$side]}
        run "$side" "$r" producer "$d/examples/bench_producer" --namesrv "$NS" --messages "$MESSAGES" \
            --scenarios batch100 --batch-window 8
        run "$side" "$r" bridge "$d/examples/bench_bridge" --namesrv "$NS" --events "$EVENTS" --rounds 1 \
            --sync-events 200 --bin "$d/rocketmq-bridge"
        run "$side" "$r" spool "$d/examples/bench_spool" --records "$RECORDS" --dir "$WORK/spool-$side"
    done
done

python3 - "$RESULTS" "$REV" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r["round"] > 0]
def fig(r):
    d, k = r["data"], r["kind"]
    if k == "producer":
        b = d.get("batch100", {})
        return {"producer_batch100_msgs_per_s": b.get("msgs_per_s"), "producer_batch100_cpu_us_per_msg": b.get("cpu_us_per_msg")}
    if k == "bridge":
        return {"bridge_key_dispatch_ratio": d.get("ratio"), "bridge_roundrobin_ratio": d.get("ratio_roundrobin"),
                "bridge_key_dispatch_events_per_s": d.get("run_async_batch100_events_per_s"),
                "bridge_peak_rss_kib": d.get("run_peak_rss_kib")}
    out = {}
    for s in d.get("scenarios", []):
        out[f"spool_{s['sync']}_append_per_s"] = s["append_per_s"]
        out[f"spool_{s['sync']}_drain_ack_per_s"] = s["drain_ack_per_s"]
    return out
vals = {}
for r in rows:
    for k, v in fig(r).items():
        if v is not None:
            vals.setdefault(k, {}).setdefault(r["side"], []).append(float(v))
summary = {}
print(f"{'figure':44} {'before (median)':>16} {'after (median)':>16} {'after/before':>12}  rounds")
for k in sorted(vals):
    b, a = vals[k].get("before", []), vals[k].get("after", [])
    if not b or not a:
        continue
    mb, ma = statistics.median(b), statistics.median(a)
    ratio = ma / mb if mb else float("nan")
    summary[k] = {"before": mb, "after": ma, "ratio": round(ratio, 4), "before_runs": b, "after_runs": a}
    print(f"{k:44} {mb:16.2f} {ma:16.2f} {ratio:12.3f}  {len(b)}/{len(a)}")
print(json.dumps({"bench": "ab", "before": sys.argv[2], "figures": summary}))
PY
