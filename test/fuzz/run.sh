#!/usr/bin/env bash
# Builds the libFuzzer targets (fcgi2's record parser: ext/fcgi2 + test/fuzz; the request gate's scanner:
# native/gate.cc + fuzz_gate.cc; ASan + UBSan) into test/fuzz/build and runs them, one after the other.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: test/fuzz/run.sh [SECONDS]        fuzz each target for SECONDS (default 60); exit 1 on a crash
       test/fuzz/run.sh --merge          minimise each target's corpus plus what runs found (build/corpus*)
       test/fuzz/run.sh --replay FILE... run the target once on each FILE (e.g. test/fuzz/crashes/*)

Targets: records (fcgi2 through serve.c: corpus/, crashes/) and gate (the
request gate's scanner: corpus-gate/, crashes-gate/).  FUZZ_TARGETS picks
them (default "records gate"; --replay takes the first).

Needs clang with libFuzzer (Debian: clang and libclang-rt-<version>-dev).
The committed corpus (test/fuzz/corpus) is read, never written, by a run;
new inputs go to test/fuzz/build/corpus.  Crash, leak and timeout
reproducers are written to test/fuzz/crashes/.  Environment: CC (default
clang), FUZZ_JOBS (parallel fuzzing processes, default 1).
USAGE
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$here/build
CC=${CC:-clang}
CXX=${CXX:-clang++}
read -r -a targets <<< "${FUZZ_TARGETS:-records gate}"

mode=fuzz
seconds=60
case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    --merge) mode=merge ;;
    --replay) mode=replay; shift ;;
    '') ;;
    *)
        [[ "$1" =~ ^[0-9]+$ ]] || { usage >&2; exit 2; }
        seconds=$1
        ;;
esac

command -v "$CC" > /dev/null || { echo "test/fuzz/run.sh: $CC not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

mkdir -p "$build"
flags=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)

# Sets bin, corpus, found and crashes for target $1, building its binary when a source is newer.
setup_target() {
    case "$1" in
        records)
            bin=$build/fuzz_records corpus=$here/corpus found=$build/corpus crashes=$here/crashes
            local sources=("$root/ext/fcgi2/libfcgi/fcgiapp.c" "$root/ext/fcgi2/libfcgi/os_unix.c" "$here/serve.c" "$here/fuzz_records.c")
            if [ ! -x "$bin" ] || [ -n "$(find "${sources[@]}" "$here/serve.h" "$root/ext/fcgi2/include" "$root/ext/config" -newer "$bin" 2> /dev/null)" ]; then
                echo "building $bin"
                "$CC" "${flags[@]}" -I "$root/ext/fcgi2/include" -I "$root/ext/config" \
                    "${sources[@]}" -o "$bin" -lpthread
            fi
            ;;
        gate)
            bin=$build/fuzz_gate corpus=$here/corpus-gate found=$build/corpus-gate crashes=$here/crashes-gate
            local sources=("$root/native/gate.cc" "$here/fuzz_gate.cc")
            if [ ! -x "$bin" ] || [ -n "$(find "${sources[@]}" "$root/native/gate.h" -newer "$bin" 2> /dev/null)" ]; then
                echo "building $bin"
                command -v "$CXX" > /dev/null || { echo "test/fuzz/run.sh: $CXX not found" >&2; exit 2; }
                "$CXX" -std=c++17 "${flags[@]}" "${sources[@]}" -o "$bin"
            fi
            ;;
        *) echo "test/fuzz/run.sh: unknown target $1 (records, gate)" >&2; exit 2 ;;
    esac
    mkdir -p "$found" "$crashes"
}

# Leaks are failures (the default with ASan); the per-input timeout catches hangs (a read that never returns).
common=(-timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1)

case "$mode" in
    replay)
        [ "$#" -gt 0 ] || { usage >&2; exit 2; }
        setup_target "${targets[0]}"
        exec "$bin" "${common[@]}" "$@"
        ;;
    merge)
        for target in "${targets[@]}"; do
            setup_target "$target"
            merged=$(mktemp -d "$build/merged.XXXXXX")
            "$bin" "${common[@]}" -merge=1 "$merged" "$corpus" "$found"
            # Keep the named seeds (readable examples) and whatever else the merge kept (named by its sha1).
            find "$corpus" -type f ! -name 'seed-*' -delete
            seed_sums=$(sha1sum "$corpus/"seed-* 2> /dev/null | cut -d' ' -f1)
            for f in "$merged"/*; do
                [ -e "$f" ] || continue
                grep -qx "$(basename "$f")" <<< "$seed_sums" || cp "$f" "$corpus/"
            done
            rm -rf "$merged"
            echo "${corpus#"$root"/}: $(find "$corpus" -type f | wc -l) files, $(du -sh "$corpus" | cut -f1)"
        done
        ;;
    fuzz)
        for target in "${targets[@]}"; do
            setup_target "$target"
            # Every reproducer kept in crashes/ must pass first (regressions of fixed defects).
            shopt -s nullglob
            kept=("$crashes"/*)
            shopt -u nullglob
            if [ "${#kept[@]}" -gt 0 ]; then
                echo "replaying ${#kept[@]} reproducer(s) from ${crashes#"$root"/}"
                "$bin" "${common[@]}" "${kept[@]}" > "$build/replay.log" 2>&1 \
                    || { cat "$build/replay.log" >&2; echo "test/fuzz/run.sh: a reproducer in ${crashes#"$root"/} fails" >&2; exit 1; }
            fi
            jobs=${FUZZ_JOBS:-1}
            extra=()
            if [ "$jobs" -gt 1 ]; then extra=(-jobs="$jobs" -workers="$jobs"); fi
            echo "fuzzing $target for $seconds s"
            set +e
            (cd "$build" && "$bin" "${common[@]}" "${extra[@]}" -max_total_time="$seconds" \
                -artifact_prefix="$crashes/" "$found" "$corpus")
            rc=$?
            set -e
            if [ "$rc" -ne 0 ]; then
                echo "test/fuzz/run.sh: the $target fuzzer failed (exit $rc); reproducers in ${crashes#"$root"/}:" >&2
                ls -1 "$crashes" >&2
                exit 1
            fi
        done
        ;;
esac
