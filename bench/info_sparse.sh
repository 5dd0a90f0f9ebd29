#!/usr/bin/env bash
# `heapmortem info` on a 10 GiB sparse core, side by side with gdb and readelf reading the
# same core, printed as ratios. Not a test: run it by hand (`bench/info_sparse.sh [GIB]`).
source "$(dirname "$0")/common.sh"
gib=${1:-10}
gcc -O1 -g -o "$work/sparse" "$here/sparse_core.c"
core=$(core_of "$work/sparse" "$gib")
echo "core: $(du -h --apparent-size "$core" | cut -f1) apparent, $(du -h "$core" | cut -f1) on disk"

t_hm=$(best "$hm" info "$core" --exe "$work/sparse")
t_hm_threads=$(best "$hm" threads "$core" --exe "$work/sparse")
t_gdb=$(best gdb -batch -nx -ex 'info threads' -ex 'info proc mappings' "$work/sparse" "$core")
t_readelf=$(best readelf -n "$core")
printf '%-36s %8.3f s\n' "heapmortem info" "$t_hm" "heapmortem threads" "$t_hm_threads" \
    "gdb info threads + mappings" "$t_gdb" "readelf -n (notes only)" "$t_readelf"
printf 'gdb / heapmortem info: %.1fx\n' "$(echo "$t_gdb / $t_hm" | bc -l)"
