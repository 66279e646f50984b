# Sourced by scripts/lib/cluster.sh (for scripts/rocketmq.sh and scripts/rocketmq-java.sh): where a broker keeps its store.
#
# Brokers protect a nearly full disk: rocketmq-rust 1.0 refuses to start when the store's file system is
# about 87% used (its forced-clean ratio is capped at 85%), and both brokers refuse writes at 90%. A build
# machine whose disk is that full would fail every test for a reason that has nothing to do with the code.
# So when the disk under DIR is RMQ_STORE_DISK_LIMIT percent used or more (default 80), a broker's store
# goes to a fresh directory under /dev/shm, linked from DIR/broker-N/store, provided /dev/shm is under half
# used. Stores are removed when the cluster is stopped (RMQ_KEEP_STORE=1 keeps those on disk); logs and
# configs stay in DIR.

# fs_used_pct PATH: how full PATH's file system is, in percent, counted as the brokers count it: all but
# the space available to us is used (so root's reserved blocks count as used, unlike df's Use%). Empty when
# unknown.
fs_used_pct() { df -P "$1" 2>/dev/null | awk 'NR == 2 && $2 > 0 { print int(100 - $4 * 100 / $2) }'; }

# place_store BROKER_DIR: creates BROKER_DIR/store (a directory, or a link into /dev/shm) unless it exists.
place_store() {
    local d=$1 used shm_used shm
    [ -e "$d/store" ] && return 0
    mkdir -p "$d"
    used=$(fs_used_pct "$d")
    if [[ "$used" =~ ^[0-9]+$ ]] && ((used >= ${RMQ_STORE_DISK_LIMIT:-80})) && [ -d /dev/shm ] && [ -w /dev/shm ]; then
        shm_used=$(fs_used_pct /dev/shm)
        if [[ "$shm_used" =~ ^[0-9]+$ ]] && ((shm_used < 50)); then
            shm=$(mktemp -d /dev/shm/rocketmq-bridge-store.XXXXXX)
            ln -s "$shm" "$d/store"
            log "the disk under $d is ${used}% used (brokers refuse it near 90%); its store is in $shm until stop"
            return 0
        fi
    fi
    mkdir -p "$d/store"
}

# store_dir BROKER_DIR: the store's physical path, for the broker's config (rocketmq-rust 1.0 takes a store
# path through a link for a corrupted store).
store_dir() { (cd "$1/store" && pwd -P); }

# remove_stores DIR: after the cluster stopped, removes every broker's (and slave's) store (and its /dev/shm target).
remove_stores() {
    local s target
    for s in "$1"/broker-*/store "$1"/slave-*/store; do
        if [ -L "$s" ]; then
            target=$(readlink "$s")
            case "$target" in /dev/shm/rocketmq-bridge-store.*) rm -rf -- "$target" ;; esac
            rm -f -- "$s"
        elif [ -d "$s" ] && [ "${RMQ_KEEP_STORE:-0}" != 1 ]; then
            rm -rf -- "$s"
        fi
    done
}
