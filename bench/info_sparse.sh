#!/usr/bin/env bash
# `heapmortem info` on a 10 GiB sparse core, side by side with gdb and readelf reading the
# same core, printed as ratios. Not a test: run it by hand (`bench/info_sparse.sh [GIB]`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
gib=${1:-10}
work=$(mktemp -d /tmp/heapmortem-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
hm="$root/target/release/heapmortem"
gcc -O1 -g -o "$work/sparse" "$here/sparse_core.c"
(cd "$work" && ulimit -c unlimited && ./sparse "$gib" || true)
core=$(ls "$work"/core* 2>/dev/null | head -1)
if [ -z "$core" ]; then
    echo "no core written: core_pattern is $(cat /proc/sys/kernel/core_pattern)" >&2
    exit 1
fi
echo "core: $(du -h --apparent-size "$core" | cut -f1) apparent, $(du -h "$core" | cut -f1) on disk"

best() { # best of 5 wall-clock runs, in seconds
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
t_hm=$(best "$hm" info "$core" --exe "$work/sparse")
t_hm_threads=$(best "$hm" threads "$core" --exe "$work/sparse")
t_gdb=$(best gdb -batch -nx -ex 'info threads' -ex 'info proc mappings' "$work/sparse" "$core")
t_readelf=$(best readelf -n "$core")
printf '%-36s %8.3f s\n' "heapmortem info" "$t_hm" "heapmortem threads" "$t_hm_threads" \
    "gdb info threads + mappings" "$t_gdb" "readelf -n (notes only)" "$t_readelf"
printf 'gdb / heapmortem info: %.1fx\n' "$(echo "$t_gdb / $t_hm" | bc -l)"
