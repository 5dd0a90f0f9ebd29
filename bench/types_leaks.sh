#!/usr/bin/env bash
# The type, reference and leak passes on a C++ core of N million allocations (default 4,
# `held_objects.cpp`): `heap --by type`, `leaks`, `explain` of a leaked object and of one
# held through a global vector, each timed (wall clock and CPU) with its peak anonymous memory (RssAnon sampled every 20 ms from /proc: the
# mapped core's pages are not ours), as allocations per second and bytes per allocation.
# Issue 10's goal: at least 5 M allocations/s on 2 cores and at most 32 bytes per
# allocation; issue 14's for `leaks`: at most 24 bytes per allocation. Not a test: run it by hand (`bench/types_leaks.sh [MILLIONS]`); needs g++.
source "$(dirname "$0")/common.sh"
millions=${1:-4}
g++ -O1 -g -o "$work/held" "$here/held_objects.cpp"
core=$(core_of "$work/held" "$millions")
echo "core: $(du -h --apparent-size "$core" | cut -f1)"

allocs=$(allocations_in_use "$core")
echo "allocations in use: $allocs"
measure "heap --by type" "$hm" heap "$core" --by type
measure "leaks" "$hm" leaks "$core"
# The first Shape is leaked (held_objects.cpp leaks one in a hundred, the first included):
# its explain walks the anchors twice (through pointers to starts, then through any).
example=$("$hm" heap "$core" --by type --format json | python3 -c \
    'import json,sys; print(next(t["example"] for t in json.load(sys.stdin)["types"] if t["name"] == "Shape"))')
measure "explain (leaked Shape)" "$hm" explain "$core" "$example"
# The next round's Shape, held through the vector: each round allocates 176 bytes of glibc
# chunks (a Shape 32, a map node 64, a list node 32, a string 48).
held=$("$hm" explain "$core" "$(printf '0x%x' $((example + 176)))" --format json | python3 -c \
    'import json,sys; e=json.load(sys.stdin); print(e["address"] if e["allocation"]["type"] == "Shape" and e["anchored"] else "")')
if [ -n "$held" ]; then
    measure "explain (held Shape)" "$hm" explain "$core" "$held"
else
    echo "explain (held Shape): no held Shape 176 bytes after the first (another allocator?)"
fi
