# Sourced by the bench scripts: strict mode, the folders, a release build of heapmortem in
# $hm, a scratch folder $work removed on exit, and helpers to make a workload's core and
# time commands.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
root=$(dirname "$here")
work=$(mktemp -d /tmp/heapmortem-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
hm="$root/target/release/heapmortem"

# core_of EXE ARGS...: runs the workload in $work to its kernel core; prints the core's path.
core_of() {
    (cd "$work" && ulimit -c unlimited && "$@" || true) >/dev/null 2>&1
    local core
    core=$(ls "$work"/core* 2>/dev/null | head -1)
    if [ -z "$core" ]; then
        echo "no core written: core_pattern is $(cat /proc/sys/kernel/core_pattern)" >&2
        exit 1
    fi
    echo "$core"
}

# best CMD...: the best of 5 wall-clock runs, in seconds.
best() {
    local best=999999
    for _ in 1 2 3 4 5; do
        local s e
        s=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        e=$(date +%s.%N)
        best=$(echo "$e - $s" | bc -l | awk -v b="$best" '{ print ($1 < b) ? $1 : b }')
    done
    echo "$best"
}

# median_of RUNS CMD...: the median wall seconds (bash's microsecond clock around each run:
# GNU time's %e has 10 ms steps, and `info` on a small core takes less) and peak RSS (KiB,
# from GNU time) of RUNS runs, as "SECONDS KIB" (each the median of its own column).
median_of() {
    local n=$1 times s e
    shift
    times=$(mktemp "$work/times.XXXXXX")
    for ((i = 0; i < n; i++)); do
        s=$EPOCHREALTIME
        /usr/bin/time -f '%M' -a -o "$times" "$@" >/dev/null 2>&1 || true
        e=$EPOCHREALTIME
        echo "$s $e" >>"$times.wall"
    done
    # GNU time writes "Command terminated by signal N" first for a command that aborts.
    grep -E '^[0-9]+$' "$times" >"$times.ok" || true
    local mid=$(((n + 1) / 2))
    echo "$(awk '{ printf "%.3f\n", $2 - $1 }' "$times.wall" | sort -n | sed -n "${mid}p") $(sort -n "$times.ok" | sed -n "${mid}p")"
}

# peak_anon CMD...: one run's wall seconds, peak anonymous memory (RssAnon, KiB, sampled
# every 20 ms from /proc: the pages of a mapped core are not the tool's) and CPU seconds
# (user + system, as last sampled: within 20 ms of the end), as "SECONDS KIB CPU". On a
# loaded machine wall time measures the load; CPU time measures the tool.
peak_anon() {
    local s e peak=0 kib ticks=0 t hz
    hz=$(getconf CLK_TCK)
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1 &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        kib=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ "${kib:-0}" -gt "$peak" ] && peak=$kib
        # utime and stime: fields 14 and 15, after the parenthesized command name.
        t=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }' || echo 0)
        [ "${t:-0}" -gt "$ticks" ] && ticks=$t
        sleep 0.02
    done
    wait "$pid" || true
    e=$(date +%s.%N)
    echo "$(echo "$e - $s" | bc -l) $peak $(echo "$ticks / $hz" | bc -l)"
}

# measure NAME CMD...: one run's wall and CPU seconds and peak RssAnon (peak_anon), per
# allocation of $allocs (set by the script).
measure() {
    local name=$1 secs peak cpu
    shift
    read -r secs peak cpu < <(peak_anon "$@")
    printf '%-24s %7.2f s %7.2f s CPU %9d KiB peak anon %10.0f alloc/s %10.0f alloc/CPU-s %6.1f B/alloc\n' \
        "$name" "$secs" "$cpu" "$peak" "$(echo "$allocs / $secs" | bc -l)" \
        "$(echo "$allocs / ($cpu + 0.001)" | bc -l)" "$(echo "$peak * 1024 / $allocs" | bc -l)"
}

# allocations_in_use CORE: the allocations in use in the heap of CORE (`heap --format json`'s
# in_use_chunks over every arena), what measure divides by.
allocations_in_use() {
    "$hm" heap "$1" --format json | python3 -c \
        'import json,sys; print(sum(a["in_use_chunks"] for a in json.load(sys.stdin)["arenas"]))'
}
