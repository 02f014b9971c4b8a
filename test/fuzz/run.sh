#!/usr/bin/env bash
# Builds the libFuzzer target (ext/fcgi2 + test/fuzz, ASan + UBSan) into test/fuzz/build and runs it.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: test/fuzz/run.sh [SECONDS]        fuzz for SECONDS (default 60); exit 1 on a crash
       test/fuzz/run.sh --merge          minimise test/fuzz/corpus plus what runs found (build/corpus)
       test/fuzz/run.sh --replay FILE... run the target once on each FILE (e.g. test/fuzz/crashes/*)

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
bin=$build/fuzz_records
CC=${CC:-clang}

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

mkdir -p "$build/corpus" "$here/crashes"
sources=("$root/ext/fcgi2/libfcgi/fcgiapp.c" "$root/ext/fcgi2/libfcgi/os_unix.c" "$here/serve.c" "$here/fuzz_records.c")
if [ ! -x "$bin" ] || [ -n "$(find "${sources[@]}" "$here/serve.h" "$root/ext/fcgi2/include" "$root/ext/config" -newer "$bin" 2> /dev/null)" ]; then
    echo "building $bin"
    "$CC" -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I "$root/ext/fcgi2/include" -I "$root/ext/config" \
        "${sources[@]}" -o "$bin" -lpthread
fi

# Leaks are failures (the default with ASan); the per-input timeout catches hangs (a read that never returns).
common=(-timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1)

case "$mode" in
    replay)
        [ "$#" -gt 0 ] || { usage >&2; exit 2; }
        exec "$bin" "${common[@]}" "$@"
        ;;
    merge)
        merged=$(mktemp -d "$build/merged.XXXXXX")
        "$bin" "${common[@]}" -merge=1 "$merged" "$here/corpus" "$build/corpus"
        # Keep the named seeds (readable examples) and whatever else the merge kept (named by its sha1).
        find "$here/corpus" -type f ! -name 'seed-*' -delete
        seed_sums=$(sha1sum "$here/corpus/"seed-* 2> /dev/null | cut -d' ' -f1)
        for f in "$merged"/*; do
            [ -e "$f" ] || continue
            grep -qx "$(basename "$f")" <<< "$seed_sums" || cp "$f" "$here/corpus/"
        done
        rm -rf "$merged"
        echo "test/fuzz/corpus: $(find "$here/corpus" -type f | wc -l) files, $(du -sh "$here/corpus" | cut -f1)"
        ;;
    fuzz)
        # Every reproducer kept in crashes/ must pass first (regressions of fixed defects).
        shopt -s nullglob
        kept=("$here"/crashes/*)
        shopt -u nullglob
        if [ "${#kept[@]}" -gt 0 ]; then
            echo "replaying ${#kept[@]} reproducer(s) from test/fuzz/crashes"
            "$bin" "${common[@]}" "${kept[@]}" > "$build/replay.log" 2>&1 \
                || { cat "$build/replay.log" >&2; echo "test/fuzz/run.sh: a reproducer in test/fuzz/crashes fails" >&2; exit 1; }
        fi
        jobs=${FUZZ_JOBS:-1}
        extra=()
        if [ "$jobs" -gt 1 ]; then extra=(-jobs="$jobs" -workers="$jobs"); fi
        set +e
        (cd "$build" && "$bin" "${common[@]}" "${extra[@]}" -max_total_time="$seconds" \
            -artifact_prefix="$here/crashes/" "$build/corpus" "$here/corpus")
        rc=$?
        set -e
        if [ "$rc" -ne 0 ]; then
            echo "test/fuzz/run.sh: the fuzzer failed (exit $rc); reproducers in test/fuzz/crashes/:" >&2
            ls -1 "$here/crashes" >&2
            exit 1
        fi
        ;;
esac
