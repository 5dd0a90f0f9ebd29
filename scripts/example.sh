#!/usr/bin/env bash
# The README's first command: heapmortem on a sample under examples/.
#
# The sample is tests/fixtures/threads.c built statically (so its core needs no libraries
# from this machine): four threads, three parked in named functions, the main thread
# crashed with a NULL write. If examples/threads.core is missing, this builds the program
# and runs it until it dumps core (ulimit -c unlimited; gdb's gcore where the kernel's
# core_pattern sends cores elsewhere), then runs `heapmortem info` and `heapmortem threads`
# on it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
exe=examples/threads
core=examples/threads.core

if [[ ! -f $core ]]; then
    mkdir -p examples
    if [[ ! -x $exe ]]; then
        command -v gcc >/dev/null || { echo "example.sh: needs gcc (apt-get install gcc)" >&2; exit 1; }
        echo "+ gcc -g -O2 -static -pthread tests/fixtures/threads.c -o $exe" >&2
        gcc -g -O2 -static -pthread tests/fixtures/threads.c -o "$exe"
    fi
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo core)
    if [[ $pattern == '|'* || $pattern == */* ]]; then
        command -v gdb >/dev/null || { echo "example.sh: core_pattern is '$pattern'; needs gdb for gcore" >&2; exit 1; }
        echo "+ gdb … run, gcore (core_pattern is '$pattern')" >&2
        gdb -batch -nx -ex run -ex "gcore $tmp/core" -ex kill --args "$root/$exe" >/dev/null
    else
        echo "+ running $exe until it crashes (a 'Segmentation fault' message is expected)" >&2
        (cd "$tmp" && ulimit -c unlimited && exec "$root/$exe") || true
    fi
    made=$(find "$tmp" -maxdepth 1 -type f | head -n 1)
    [[ -n $made ]] || { echo "example.sh: no core was written in $tmp" >&2; exit 1; }
    mv "$made" "$core"
fi

# The core records where the program ran; --exe says where it is now.
set -x
cargo run --quiet --release -- info "$core" --exe "$exe"
cargo run --quiet --release -- threads "$core" --exe "$exe"
cargo run --quiet --release -- heap "$core" --exe "$exe"
cargo run --quiet --release -- report "$core" --exe "$exe" -o target/example-report.html
{ set +x; } 2>/dev/null
echo "The HTML report: $root/target/example-report.html (open it in a browser)"
