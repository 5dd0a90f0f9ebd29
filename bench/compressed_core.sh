#!/usr/bin/env bash
# `heapmortem info` on a zstd-compressed core (as systemd-coredump stores them), side by side
# with `zstd -d` decompressing the same file: wall time and peak resident memory (GNU time's
# %M: for heapmortem it includes the pages of the mapped core it touched), and the disk the
# decompressed core takes in $TMPDIR (holes for the zero pages). Not a test: run it by hand,
# `bench/compressed_core.sh [GIB]` (default 1: a 1 GiB heap); needs gcc, zstd and GNU time.
source "$(dirname "$0")/common.sh"
gib=${1:-1}
gcc -O1 -g -o "$work/heap" "$here/compressed_core.c"
core=$(core_of "$work/heap" "$gib")
zstd -q -T0 "$core" -o "$work/heap.zst"
echo "core: $(du -h --apparent-size "$core" | cut -f1), zstd: $(du -h "$work/heap.zst" | cut -f1)"
rm -f "$core"
mkdir "$work/tmp"

# Median of 5 runs of wall seconds and peak KiB, from GNU time.
median() {
    local out=$1
    shift
    for _ in 1 2 3 4 5; do
        /usr/bin/time -f '%e %M' -a -o "$out" "$@" >/dev/null 2>&1 || true
    done
    sort -n "$out" | sed -n 3p
}
read -r t_hm m_hm < <(TMPDIR="$work/tmp" median "$work/hm.times" "$hm" info "$work/heap.zst" --exe "$work/heap")
read -r t_zstd m_zstd < <(median "$work/zstd.times" zstd -q -d -f "$work/heap.zst" -o "$work/heap.out")
printf '%-34s %8s s %10s KiB peak\n' "heapmortem info heap.zst" "$t_hm" "$m_hm" \
    "zstd -d heap.zst -o FILE" "$t_zstd" "$m_zstd"
printf 'heapmortem / zstd -d: %.2fx time\n' "$(echo "$t_hm / $t_zstd" | bc -l)"

# The decompressed core's disk use while heapmortem reads it (its temporary file is
# unlinked, so it is seen through /proc/PID/fd).
TMPDIR="$work/tmp" "$hm" heap "$work/heap.zst" --exe "$work/heap" >/dev/null 2>&1 &
pid=$!
disk=
while kill -0 "$pid" 2>/dev/null; do
    for fd in /proc/"$pid"/fd/*; do
        if [[ $(readlink "$fd" 2>/dev/null) == "$work/tmp/"* ]]; then
            disk=$(stat -L -c '%b %B %s' "$fd" 2>/dev/null | awk '{ printf "%.0f MiB on disk of %.0f MiB", $1 * $2 / 1048576, $3 / 1048576 }')
        fi
    done
    sleep 0.2
done
wait "$pid" || true
echo "decompressed core: ${disk:-not seen (heapmortem finished first)}"
echo "left in TMPDIR after: $(ls -A "$work/tmp" | wc -l) files"
