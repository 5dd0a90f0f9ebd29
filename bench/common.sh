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
