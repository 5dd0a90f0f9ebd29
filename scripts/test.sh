#!/usr/bin/env bash
# The test command (README.md, .ci/run): on Debian, installs what the tests need when it is
# missing (as root; otherwise it says what to install), then checks formatting, runs clippy
# with warnings as errors, and runs every test of the workspace.
#
# The tests compile C workloads, run them until they dump core (ulimit -c unlimited in their
# own directory; gdb's gcore where core_pattern sends cores elsewhere) and compare heapmortem
# with gdb, gdb-multiarch, eu-readelf, valgrind, jeprof/pprof on the same files. They read
# other projects' cores from ../shared/corpus (or $HEAPMORTEM_CORPUS).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    gcc clang gdb gdb-multiarch valgrind libc6-dbg elfutils debuginfod binutils strace bc linux-perf
    zstd xz-utils bzip2 lz4 gzip sqlite3
    libjemalloc-dev google-perftools libgoogle-perftools-dev libtcmalloc-minimal4 golang-go
    curl autoconf automake libtool g++
    qemu-user gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross lldb-16
    chromium
)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    else
        echo "scripts/test.sh: missing packages: ${missing[*]}" >&2
        echo "  install them with: sudo apt-get install ${missing[*]}" >&2
        echo "  (tests that need them will fail and name the package)" >&2
    fi
fi

if ! command -v cargo >/dev/null; then
    echo "scripts/test.sh: cargo not found; install Rust with https://rustup.rs" >&2
    exit 1
fi
if command -v rustup >/dev/null; then
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
fi

corpus=${HEAPMORTEM_CORPUS:-../shared/corpus}
if [[ ! -d $corpus ]]; then
    echo "scripts/test.sh: the corpus is not at $corpus (set HEAPMORTEM_CORPUS)" >&2
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
