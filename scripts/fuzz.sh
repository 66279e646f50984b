#!/usr/bin/env bash
# Runs every cargo-fuzz target (`cargo fuzz list`, so new targets are picked up) on the stable
# toolchain (RUSTC_BOOTSTRAP=1) with AddressSanitizer, debug assertions and overflow checks.
#
#   scripts/fuzz.sh [SECONDS]     each target SECONDS (default 600), then merge what it found
#                                 into fuzz/corpus/<target>/ for you to review and commit
#   scripts/fuzz.sh --ci [SECONDS] each target SECONDS or FUZZ_CI_SECONDS (default 10) on a
#                                 temporary copy of the corpus; never writes to fuzz/corpus
#                                 (CI=true in the environment means --ci)
#
# Builds once (`cargo fuzz build`), then runs each built binary: RSS limit FUZZ_RSS_MB (default
# 2048; ASan alone takes about 460 MB), per-input timeout FUZZ_TIMEOUT (default 10 s). Prints per
# target the executions per second, the final corpus size and the findings. Exits non-zero when any target found a crash,
# leak, timeout or out-of-memory, naming the artifact (in fuzz/artifacts/<target>/; reproduce
# with `RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a <target> <artifact>`). FUZZ_TARGETS="a b" runs only those
# targets (for example to run two halves at once on two cores).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=
ci=false
[ "${CI:-}" = true ] && ci=true
for arg in "$@"; do
    case "$arg" in
        --ci) ci=true ;;
        -h | --help)
            sed -n '2,15p' "$0"
            exit 0
            ;;
        *[!0-9]* | '')
            echo "usage: scripts/fuzz.sh [SECONDS] [--ci]" >&2
            exit 2
            ;;
        *) seconds=$arg ;;
    esac
done
if [ -z "$seconds" ]; then
    if $ci; then seconds=${FUZZ_CI_SECONDS:-10}; else seconds=600; fi
fi
rss_mb=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}

export RUSTC_BOOTSTRAP=1
# The same flags for build, run and merge, so nothing is rebuilt: optimised, with debug
# assertions (and overflow checks), AddressSanitizer (cargo fuzz's default).
flags=(-O -a --sanitizer address)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    t0=$SECONDS
    cargo install cargo-fuzz --locked
    echo "== cargo-fuzz installed in $((SECONDS - t0)) s"
fi

mapfile -t targets < <(cd fuzz && cargo fuzz list)
if [ -n "${FUZZ_TARGETS:-}" ]; then
    for t in $FUZZ_TARGETS; do
        printf '%s\n' "${targets[@]}" | grep -qx -- "$t" || { echo "no fuzz target $t" >&2; exit 2; }
    done
    read -r -a targets <<<"$FUZZ_TARGETS"
fi
[ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets" >&2; exit 1; }

t0=$SECONDS
(cd fuzz && cargo fuzz build "${flags[@]}")
echo "== built ${#targets[@]} targets in $((SECONDS - t0)) s: ${targets[*]}"
bin_dir=fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release

work=$(mktemp -d "${TMPDIR:-/tmp}/rocketmq-bridge-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

summary=()
findings=()
for t in "${targets[@]}"; do
    seeds=fuzz/corpus/$t
    mkdir -p "$work/$t" "fuzz/artifacts/$t"
    [ -d "$seeds" ] && cp -R "$seeds/." "$work/$t/"
    before=$(find "$work/$t" -type f | wc -l)
    log=$work/$t.log
    echo "== $t: ${seconds} s, $before seeds"
    status=0
    # The temporary copy is the only corpus directory libFuzzer writes to.
    "$bin_dir/$t" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$timeout" \
        -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 "$work/$t" >"$log" 2>&1 ||
        status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    after=$(find "$work/$t" -type f | wc -l)
    found=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tr '\n' ' ')
    result=ok
    if [ "$status" -ne 0 ] || [ -n "$found" ]; then
        kind=$(grep -m1 -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer): [a-z-]+|panicked at [^ ]+|deadly signal|timeout|out-of-memory|allocation cap exceeded[^,]*' "$log" || true)
        result="FINDING (${kind:-exit $status}): ${found:-see log}"
        findings+=("$t: ${kind:-exit $status}: ${found:-no artifact}")
        echo "---- last lines of $t's log:"
        tail -n 40 "$log"
    fi
    corpus=$after
    if ! $ci && [ "$status" -eq 0 ]; then
        # Keep what adds coverage over the committed corpus (its seeds and crash_* files stay).
        mkdir -p "$seeds"
        "$bin_dir/$t" -merge=1 -rss_limit_mb="$rss_mb" -timeout="$timeout" \
            -artifact_prefix="fuzz/artifacts/$t/" "$seeds" "$work/$t" >"$work/$t.merge.log" 2>&1 ||
            { result="$result; merge failed (see below)"; tail -n 20 "$work/$t.merge.log"; }
        corpus="$after (merged: $(find "$seeds" -type f | wc -l) in $seeds)"
    fi
    line=$(printf '%-22s %10s exec/s %12s execs  corpus %s  peak RSS %s MB  %s' \
        "$t" "${rate:-?}" "${execs:-?}" "$corpus" "${rss:-?}" "$result")
    echo "$line"
    summary+=("$line")
done

echo
echo "== summary (${seconds} s per target, $(((SECONDS - t0))) s with the build)"
printf '%s\n' "${summary[@]}"
if ! $ci; then
    for t in "${targets[@]}"; do
        n=$(git status --porcelain --untracked-files=all -- "fuzz/corpus/$t" | wc -l)
        [ "$n" -eq 0 ] || echo "fuzz/corpus/$t: $n new files"
    done
    echo "(review and commit the new corpus files worth keeping: git add fuzz/corpus)"
fi
if [ ${#findings[@]} -gt 0 ]; then
    echo
    echo "FINDINGS:"
    printf '  %s\n' "${findings[@]}"
    exit 1
fi
