#!/usr/bin/env bash
# `heapmortem heap` on a glibc core with six million chunks: the walk must take under a
# second (issue: "a 6-million-chunk heap is walked in under a second"), and its malloc_info
# must equal glibc's. Prints the best of 5 wall-clock runs for each output format, with and
# without libc's debug info. Not a test: run it by hand (`bench/glibc_walk.sh`).
source "$(dirname "$0")/common.sh"
gcc -O1 -g -o "$work/walk6m" "$here/glibc_walk_6m.c"
core=$(core_of "$work/walk6m" "$work/malloc_info.xml")
echo "core: $(du -h --apparent-size "$core" | cut -f1)"
mkdir -p "$work/sysroot/usr/lib/x86_64-linux-gnu" "$work/empty"
cp /usr/lib/x86_64-linux-gnu/libc.so.6 "$work/sysroot/usr/lib/x86_64-linux-gnu/"

"$hm" heap "$core" --format malloc-info >"$work/ours.xml"
if ! cmp -s "$work/ours.xml" "$work/malloc_info.xml"; then
    echo "malloc_info differs:" >&2
    diff "$work/ours.xml" "$work/malloc_info.xml" | head >&2
    exit 1
fi
chunks=$("$hm" heap "$core" --format json | python3 -c \
    'import json,sys; a=json.load(sys.stdin)["arenas"]; print(sum(x["in_use_chunks"]+x["free_chunks"] for x in a))')
echo "chunks walked: $chunks (malloc_info equal to glibc's)"
printf '%-52s %8.3f s\n' \
    "heap --format malloc-info (libc6-dbg)" "$(best "$hm" heap "$core" --format malloc-info)" \
    "heap (text, libc6-dbg)" "$(best "$hm" heap "$core")" \
    "heap --format json (libc6-dbg)" "$(best "$hm" heap "$core" --format json)" \
    "heap (text, stripped libc: arena found by its shape)" \
    "$(best "$hm" heap "$core" --sysroot "$work/sysroot" --debug-dir "$work/empty")" \
    "heap --list all --format json" "$(best "$hm" heap "$core" --list all --format json)"
