#!/usr/bin/env bash
# Spool upgrade test (full size; not run by CI, it builds an earlier revision from scratch):
#
#   scripts/upgrade-spool.sh [--old REV] [--events N] [--impl rust|java5]
#
# 1. builds the rocketmq-bridge binary of REV (default 51d7abd, the last commit before spool.id and the
#    spool-id keys) in a temporary git worktree, and the working tree's binary;
# 2. starts a cluster (1 name server, 1 broker), creates the topic, then freezes the broker with SIGSTOP (its
#    connection stays open, so the name server still routes it and any version starts; nothing is answered);
# 3. the OLD binary runs N events (async, spool, drain_timeout 1s) into the spool: nothing can be sent, so it
#    exits leaving them pending (its summary says how many);
# 4. the broker is thawed (SIGCONT; requests it had buffered may still be stored: the spool is at least once);
#    the NEW binary opens the same spool with empty input and drain_timeout 120s;
# 5. the topic is read back with `rocketmq-bridge consume`: every event (client_id u0..u<N-1>) must be there.
# Prints each step's result and one JSON line. Everything it starts it stops (trap).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
old=51d7abd
events=20000
impl=${RMQ_IMPL:-rust}
while [ $# -gt 0 ]; do
    case $1 in
        --old) old=$2; shift 2 ;;
        --events) events=$2; shift 2 ;;
        --impl) impl=$2; shift 2 ;;
        *) echo "upgrade-spool: unknown argument $1" >&2; exit 2 ;;
    esac
done
case $impl in rust) cluster=scripts/rocketmq.sh ;; java5) cluster=scripts/rocketmq-java.sh ;; *) echo "upgrade-spool: --impl rust|java5" >&2; exit 2 ;; esac
old_rev=$(git rev-parse --short "$old^{commit}")
work=$root/target/upgrade-spool
wt=$work/old-src
mkdir -p "$work"
broker_pid() { cat "$work/cluster/broker-1.pid" 2>/dev/null || cat "$work/cluster/broker-1/pid"; }
cleanup() {
    kill -CONT "$(broker_pid 2>/dev/null)" 2>/dev/null || true
    bash "$root/$cluster" stop --dir "$work/cluster" >/dev/null 2>&1 || true
    git -C "$root" worktree remove --force "$wt" >/dev/null 2>&1 || true
}
trap cleanup EXIT

t0=$SECONDS
git worktree remove --force "$wt" >/dev/null 2>&1 || true
git worktree add --detach "$wt" "$old_rev" >/dev/null
# A target dir of its own, kept between runs (the old revision's dependencies build once).
(cd "$wt" && CARGO_TARGET_DIR=$work/old-target cargo build --quiet --bin rocketmq-bridge)
old_bin=$work/old-target/debug/rocketmq-bridge
cargo build --quiet --bin rocketmq-bridge
new_bin=$root/target/debug/rocketmq-bridge
echo "upgrade-spool: built $old_rev and the working tree ($(git describe --always --dirty)) in $((SECONDS - t0)) s"

bash "$cluster" start --dir "$work/cluster" --brokers 1 --watch-pid $$ >/dev/null
# shellcheck disable=SC1091
. "$work/cluster/env"
ns=$RMQ_NAMESRV
topic=UpgradeSpool_$$_$(date +%s)
# The topic exists before the outage (a warm-up message creates it; not counted below).
"$new_bin" send --namesrv "$ns" --topic "$topic" warmup >/dev/null
# Older binaries refuse a topic the name server does not route yet: wait for the broker's next
# registration to carry it (bounded).
for _ in $(seq 1 90); do
    "$new_bin" route --namesrv "$ns" --topic "$topic" >/dev/null 2>&1 && break
    sleep 1
done
"$new_bin" route --namesrv "$ns" --topic "$topic" >/dev/null
kill -STOP "$(broker_pid)"

spool=$work/spool
rm -rf "$spool"
conf() {
    printf '%s\n' "bridge.rocket.servers = $ns" "bridge.rocket.produce = async" \
        "bridge.rocket.spool.dir = $spool" "bridge.rocket.spool.sync = always" \
        "bridge.rocket.drain_timeout = $1" "bridge.rocket.produce.sync_timeout = 1s" \
        "bridge.rocket.hook.client.connected.1 = {\"topic\": \"$topic\"}"
}
conf 1s > "$work/old.conf"
conf 120s > "$work/new.conf"
python3 -c "
import sys
for i in range($events):
    sys.stdout.write('{\"event\":\"client.connected\",\"client_id\":\"u%d\"}\n' % i)
" > "$work/events.ndjson"

t1=$SECONDS
set +e
"$old_bin" run --config "$work/old.conf" < "$work/events.ndjson" 2> "$work/old.log"
old_rc=$?
set -e
old_summary=$(grep "ended by" "$work/old.log" || true)
echo "upgrade-spool: old ($old_rev) exit $old_rc in $((SECONDS - t1)) s: $old_summary"
left=$(sed -n 's/.* \([0-9][0-9]*\) left for the next run.*/\1/p' <<< "$old_summary")
echo "upgrade-spool: spool after the old run: $(ls "$spool" | tr '\n' ' ')"
[ -n "$left" ] && [ "$left" -gt 0 ] || { echo "upgrade-spool: the old run left nothing pending" >&2; cat "$work/old.log" >&2; exit 1; }

kill -CONT "$(broker_pid)"
t2=$SECONDS
set +e
"$new_bin" run --config "$work/new.conf" < /dev/null 2> "$work/new.log"
new_rc=$?
set -e
new_summary=$(grep "ended by" "$work/new.log" || true)
echo "upgrade-spool: new exit $new_rc in $((SECONDS - t2)) s: $new_summary"
recovered=$(sed -n 's/.* \([0-9][0-9]*\) recovered from the last run.*/\1/p' <<< "$new_summary")

echo "upgrade-spool: spool after the new run: $(ls "$spool" | tr '\n' ' ') (spool.id: $(cat "$spool/spool.id" 2>/dev/null || echo none))"
"$new_bin" consume --namesrv "$ns" --topic "$topic" --from-beginning --idle-timeout 5 > "$work/read.ndjson"
python3 - "$work/read.ndjson" "$events" "$left" "${recovered:-0}" "$old_rev" "$new_rc" "$impl" <<'PY'
import json, sys
path, events, left, recovered, old_rev, new_rc, impl = sys.argv[1:]
events, left, recovered = int(events), int(left), int(recovered)
ids, keys, total = set(), set(), 0
for line in open(path):
    m = json.loads(line)
    body = m.get("body")
    try:
        ev = json.loads(body)
    except (TypeError, ValueError):
        continue
    if not isinstance(ev, dict) or "clientid" not in ev and "client_id" not in ev:
        continue
    total += 1
    ids.add(ev.get("clientid", ev.get("client_id")))
    keys.add(tuple(m.get("keys") or []))
want = {"u%d" % i for i in range(events)}
missing = sorted(want - ids)
print("upgrade-spool: read back %d messages, %d distinct events of %d, %d missing%s"
      % (total, len(ids & want), events, len(missing), (": " + ", ".join(missing[:10])) if missing else ""))
print(json.dumps({"bench": "upgrade_spool", "impl": impl, "old_rev": old_rev, "events": events,
                  "left_by_old": left, "recovered_by_new": recovered, "read_back": total,
                  "distinct": len(ids & want), "missing": len(missing), "new_exit": int(new_rc)}))
sys.exit(0 if not missing and recovered == left and new_rc == "0" else 1)
PY
