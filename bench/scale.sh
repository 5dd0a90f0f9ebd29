#!/usr/bin/env bash
# Issue 14's scale target: `heap` and `leaks` on the core of N million allocations (default
# 100, `held_objects.cpp`: about 50 bytes of core an allocation, a 5 GB core), each with its
# CPU seconds and peak anonymous memory per allocation (goal: at most 24 bytes). The core is
# made in a temporary directory and deleted on exit; the script refuses to start without
# twice the core's size free on that disk, or twice the workload's memory free. Not a test:
# run it by hand (`bench/scale.sh [MILLIONS]`); needs g++. Progress bars show only on a
# terminal: `script -qc 'heapmortem leaks CORE' /dev/null` shows them.
source "$(dirname "$0")/common.sh"
millions=${1:-100}
need_kib=$((millions * 50 * 1000000 / 1024 * 2))
free_disk=$(df -k --output=avail "$work" | tail -1)
free_memory=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
if [ "$free_disk" -lt "$need_kib" ] || [ "$free_memory" -lt "$need_kib" ]; then
    echo "not enough room for $millions M allocations: need $need_kib KiB of disk and of" \
        "memory, have $free_disk and $free_memory" >&2
    exit 1
fi
g++ -O1 -g -o "$work/held" "$here/held_objects.cpp"
core=$(core_of "$work/held" "$millions")
echo "core: $(du -h --apparent-size "$core" | cut -f1)"
allocs=$(allocations_in_use "$core")
echo "allocations in use: $allocs"
measure "heap" "$hm" heap "$core"
measure "heap --by type" "$hm" heap "$core" --by type
measure "leaks" "$hm" leaks "$core"
