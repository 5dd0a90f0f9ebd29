#!/usr/bin/env bash
# Runs the cargo-fuzz targets, each for a given time, keeps their corpora, and turns every
# crash, hang (timeout) and out-of-memory found into a regression input the normal test suite
# replays.
#
#   scripts/fuzz.sh [-t SECONDS] [-j JOBS] [CRATE/TARGET ...]
#
# With no targets, runs every target of core-reader/fuzz, heap-walkers/fuzz and
# profile-import/fuzz (`scripts/fuzz.sh -l` lists them). -t is the time per target (default
# 600), -j how many run at once (default 1). Needs cargo-fuzz and a nightly toolchain
# (`cargo install cargo-fuzz`). Everything runs under `nice -n 19`: other work keeps priority.
#
# Builds: `cargo +nightly fuzz build -s none` — optimized, with debug assertions and overflow
# checks, without AddressSanitizer (safe Rust needs none; about 3x the executions per second).
# Each fuzz package has its own target dir (<crate>/fuzz/target, ~1-2 GB each), or
# $FUZZ_TARGET_DIR/<crate> when FUZZ_TARGET_DIR is set (outside the checkout). Not one folder
# for all: heap-walkers and profile-import both have a target named `jemalloc`, and their
# binaries would overwrite each other.
#
# Corpus: $FUZZ_CORPUS/<crate>/<target> (default <crate>/fuzz/corpus/<target>, ignored by git:
# it grows to thousands of files). Set FUZZ_CORPUS to a folder outside the checkout to keep it
# across checkouts. Seeds: profile-import's targets start from ../shared/corpus/profiles
# (cut to 8 KiB by -max_len), core-reader's from the small corpus cores; heap-walkers' targets
# build their seed heap in code and start empty.
#
# Findings: libFuzzer writes crash-*, timeout-* and oom-* into <crate>/fuzz/artifacts/<target>/;
# each new one is copied to the crate's tests/fuzz-regressions/ (core-reader and the `read`
# target: <name>.bin at the top, as their robustness tests read them; every other target:
# <target>/<name>), which the crate's tests replay through the same body — so the suite fails
# until it is fixed. Minimize one first with
# `cargo +nightly fuzz tmin -s none TARGET ARTIFACT` in the crate.
#
# Each run's executions, time and findings are appended to <crate>/fuzz/runs.log (ignored by
# git) and printed; copy the totals into the crate's fuzz/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${HEAPMORTEM_CORPUS:-$root/../shared/corpus}
seconds=600
jobs=1
list=false
while getopts "t:j:l" opt; do
    case $opt in
    t) seconds=$OPTARG ;;
    j) jobs=$OPTARG ;;
    l) list=true ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

all_targets() {
    local crate
    for crate in core-reader heap-walkers profile-import; do
        sed -n 's/^name = "\(.*\)"$/\1/p' "$root/$crate/fuzz/Cargo.toml" | grep -v -- '-fuzz$' |
            sed "s|^|$crate/|"
    done
}
if $list; then
    all_targets
    exit 0
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(all_targets)

# Longest input per target: profile-import's targets read at most 8 KiB (MAX_INPUT in
# profile-import/fuzz/exercise.rs; `read` is cut here: a profile of a few samples reaches
# every branch, and tests/robustness.rs runs the same body on the corpus's whole profiles),
# heap-walkers' inputs are lists of patches.
max_len() {
    case $1 in
    core-reader/*) echo 4194304 ;;
    profile-import/*) echo 8192 ;;
    heap-walkers/*) echo 512 ;;
    esac
}

seed() { # seed CRATE TARGET CORPUS: the first seeds of an empty corpus
    local crate=$1 target=$2 corpus=$3
    [ -z "$(ls -A "$corpus")" ] || return 0
    case $crate in
    profile-import)
        [ -d "$shared/profiles" ] && find "$shared/profiles" -type f ! -name '*.sh' \
            -size -2M -exec cp -t "$corpus" {} + ;;
    core-reader)
        # The cores (and ELF files) of the shared corpus under 4 MiB, decompressed; the
        # corpus also holds expected outputs named core.PID.*, which the ELF check drops.
        [ -d "$shared/cores" ] || return 0
        local f out
        while IFS= read -r f; do
            out=$corpus/$(basename "$f")
            case $f in
            *.bz2) bzip2 -dc "$f" >"${out%.bz2}" 2>/dev/null || true ;;
            *.zst) zstd -dcq "$f" >"${out%.zst}" 2>/dev/null || true ;;
            *.xz) xz -dc "$f" >"${out%.xz}" 2>/dev/null || true ;;
            *) cp "$f" "$out" ;;
            esac
        done < <(find "$shared/cores" -type f -size -4096k -size +0 \( -name '*core*' \
            -o -name 'testfile*' \) ! -name '*.sh' ! -name '*.py' ! -name '*.c')
        find "$corpus" -type f -size +4096k -delete
        for f in "$corpus"/*; do
            [ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || rm -f "$f"
        done ;;
    esac
}

regression_dir() { # where a finding of CRATE/TARGET is kept
    case $1 in
    core-reader/* | profile-import/read) echo "$root/${1%%/*}/tests/fuzz-regressions" ;;
    *) echo "$root/${1%%/*}/tests/fuzz-regressions/${1#*/}" ;;
    esac
}

set_target_dir() { # target_dir=(the --target-dir arguments for CRATE), see the header
    target_dir=()
    [ -z "${FUZZ_TARGET_DIR:-}" ] || target_dir=(--target-dir "$FUZZ_TARGET_DIR/$1")
}

run_one() {
    local spec=$1 crate=${1%%/*} target=${1#*/}
    local target_dir
    set_target_dir "$crate"
    local corpus=$root/$crate/fuzz/corpus/$target
    [ -z "${FUZZ_CORPUS:-}" ] || corpus=$FUZZ_CORPUS/$crate/$target
    local artifacts=$root/$crate/fuzz/artifacts/$target
    mkdir -p "$corpus" "$artifacts"
    seed "$crate" "$target" "$corpus"
    local log
    log=$(mktemp /tmp/fuzz-"$crate"-"$target".XXXXXX)
    local start=$SECONDS
    # heap-walkers' inputs are lists of patches (6 or 8 bytes and up): libFuzzer's length
    # limit, grown slowly from 4 bytes, kept a slow target on unpatched seeds for minutes.
    local extra=()
    [ "$crate" != heap-walkers ] || extra=(-len_control=0)
    # One thread for rayon's work: an input takes a millisecond, which rayon's threads
    # handing it among themselves cost more than they save, and runs go side by side (-j).
    local -x RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
    # -timeout: a run over 60 s is a hang (libFuzzer counts wall time: at nice 19 on a
    # loaded machine a 16 ms input once took 10 s, so a timeout is replayed at normal
    # priority below before it is kept); -rss_limit_mb: 2 GiB is an out-of-memory (the
    # machine is shared). Leak detection is off: core-reader keeps mapped files for the life
    # of the process on purpose (core-reader/fuzz/fuzz_targets/core.rs).
    (cd "$root/$crate" && nice -n 19 cargo +nightly fuzz run -s none "${target_dir[@]}" \
        "$target" "$corpus" -- -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 \
        -detect_leaks=0 -max_len="$(max_len "$spec")" "${extra[@]}" -print_final_stats=1) \
        >"$log" 2>&1 || true
    local execs found=0 f dir
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    dir=$(regression_dir "$spec")
    mkdir -p "$dir"
    for f in "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
        # Only this run's: an earlier run's artifact was copied then, or dropped on purpose
        # (a second input of a fault already kept).
        [ -e "$f" ] && [ "$f" -nt "$log" ] || continue
        local name
        name=$(basename "$f")
        # A timeout that replays within 10 s at normal priority was the machine's load.
        if [[ $name == timeout-* ]] && (cd "$root/$crate" && cargo +nightly fuzz run -s none \
            "${target_dir[@]}" "$target" "$f" -- -timeout=10 -runs=1) >/dev/null 2>&1; then
            echo "    $name: replays in time at normal priority, not a hang: dropped"
            rm -f "$f"
            continue
        fi
        case $dir in */fuzz-regressions) name=$name.bin ;; esac
        # An artifact kept before, and renamed for what it found, is not new.
        local kept=false g
        for g in "$dir"/*; do
            if [ -f "$g" ] && cmp -s "$f" "$g"; then kept=true; fi
        done
        if ! $kept && [ ! -e "$dir/$name" ]; then
            cp "$f" "$dir/$name"
            found=$((found + 1))
        fi
    done
    local line
    line=$(printf '%s %-28s %6d s %12s executions %8s/s  %d new findings  (corpus %s files)' \
        "$(date -u +%FT%TZ)" "$spec" $((SECONDS - start)) "${execs:-?}" \
        "$([ -n "$execs" ] && echo $((execs / (SECONDS - start + 1))) || echo '?')" "$found" \
        "$(find "$corpus" -type f | wc -l)")
    echo "$line" | tee -a "$root/$crate/fuzz/runs.log"
    if [ "$found" -gt 0 ]; then
        grep -m3 -E "panicked|ERROR|SUMMARY" "$log" | sed 's/^/    /'
        echo "    new regression inputs in $dir (log: $log)"
    else
        rm -f "$log"
    fi
}

# Build each package once, before runs start side by side.
for crate in $(printf '%s\n' "${targets[@]}" | cut -d/ -f1 | sort -u); do
    set_target_dir "$crate"
    (cd "$root/$crate" && nice -n 19 cargo +nightly fuzz build -s none "${target_dir[@]}")
done

running=0
for spec in "${targets[@]}"; do
    run_one "$spec" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait
