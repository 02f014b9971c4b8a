#!/usr/bin/env bash
# ASan + UBSan: C-level checks of ext/patches with a 10,000-request leak check, then the protocol suite (and the
# concurrent-server suites that drive the write and end paths of patches 0016-0018) against the addon built
# sanitized in its own directory (build/Release is left alone).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/test-asan.sh [jest args...]

1. test/fuzz/serve_check.c + the vendored fcgi2, built with
   -fsanitize=address,undefined: exact replies for each patch's case, then
   10,000 requests (keep-conn pipelines, management records, refused and
   cut-off requests) with the heap in use flat and LeakSanitizer clean.
2. The addon built with gyp variable sanitize=true (native/ and ext/fcgi2
   instrumented) in $LIBFCGI_ASAN_BUILD (default test/fuzz/build/addon-asan),
   loaded through LIBFCGI_NATIVE, runs `jest test/protocol` and the
   concurrent-server suites test/server/body.test.ts and end-here.test.ts
   (responses of 13 B to 1 MiB, ends sent from the JS thread, partial sends,
   pipelined requests: patches 0016-0018) with the ASan runtime preloaded
   (the apps they start inherit it).  Any sanitizer report fails the run.
3. test/protocol/leak-check.ts: 10,000 requests (and refused ones) to the
   app on that addon, which then exits with LeakSanitizer on: no leak in
   Node, the addon or fcgi2 may be reported.

Needs gcc/g++ (the compiler node-gyp uses) and its libasan/libubsan
(Debian: part of gcc), python3 and make for node-gyp.
USAGE
}
case "${1:-}" in -h|--help) usage; exit 0 ;; esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${LIBFCGI_ASAN_BUILD:-$root/test/fuzz/build/addon-asan}
cc=${CC:-gcc}
mkdir -p "$out"
reports=$out/reports
rm -rf "$reports"
mkdir -p "$reports"

# Sanitizer findings go to files as well as failing the process: a report from an app child process whose
# test happens to pass still fails this script.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"

echo "== 1. C-level patch checks and leak check (ASan, UBSan, LeakSanitizer)"
"$cc" -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
    -I "$root/ext/fcgi2/include" -I "$root/ext/config" \
    "$root/ext/fcgi2/libfcgi/fcgiapp.c" "$root/ext/fcgi2/libfcgi/os_unix.c" \
    "$root/test/fuzz/serve.c" "$root/test/fuzz/serve_check.c" -o "$out/serve_check" -lpthread
ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=$reports/asan-c" "$out/serve_check"

echo "== 2. the addon built with sanitize=true"
# A copy of what node-gyp builds from (cp -p keeps times, so make rebuilds only what changed).
tree=$out/tree
mkdir -p "$tree"
rm -rf "$tree/native" "$tree/ext" "$tree/scripts"
cp -p "$root/binding.gyp" "$tree/"
cp -Rp "$root/native" "$root/ext" "$tree/"
mkdir -p "$tree/scripts" && cp -p "$root/scripts/fcgi2-build-info.js" "$tree/scripts/"  # binding.gyp runs it
ln -sfn "$root/node_modules" "$tree/node_modules"
node_gyp="$root/node_modules/.bin/node-gyp"
# The node headers the main build uses (e.g. --nodedir=/usr for a distribution's node), unless set.
nodedir=${npm_config_nodedir:-}
if [ -z "$nodedir" ] && [ -f "$root/build/config.gypi" ]; then
    nodedir=$(sed -n 's/^ *"nodedir": "\(.*\)",\{0,1\}$/\1/p' "$root/build/config.gypi" | head -n 1)
fi
configure_args=(--sanitize=true)
[ -n "$nodedir" ] && configure_args+=(--nodedir="$nodedir")
if [ ! -f "$tree/build/config.gypi" ] || ! grep -q '"sanitize": "true"' "$tree/build/config.gypi"; then
    (cd "$tree" && "$node_gyp" configure "${configure_args[@]}" > "$out/configure.log" 2>&1) \
        || { cat "$out/configure.log" >&2; exit 1; }
fi
(cd "$tree" && "$node_gyp" build -j 2 > "$out/build.log" 2>&1) || { cat "$out/build.log" >&2; exit 1; }
addon=$(find "$tree/build/Release" -maxdepth 1 -name '*.node' | head -n 1)
[ -n "$addon" ] || { echo "scripts/test-asan.sh: no .node in $tree/build/Release" >&2; exit 1; }
grep -q __asan_init "$addon" || { echo "scripts/test-asan.sh: $addon is not instrumented" >&2; exit 1; }
echo "built $addon"

echo "== 3. jest test/protocol, the server's write/end suites and the FILTER data suite against it"
(cd "$root" && npm run --silent build:ts)
libasan=$("$cc" -print-file-name=libasan.so)
[ -f "$libasan" ] || { echo "scripts/test-asan.sh: libasan.so not found ($cc -print-file-name)" >&2; exit 1; }
# node itself is not instrumented: the runtime must be preloaded. Node and V8 keep memory until exit on purpose,
# so leak detection is off here (the leak check is step 1). V8 handles SIGSEGV itself (wasm traps): ASan must not.
set +e
(cd "$root" && LIBFCGI_NATIVE="$addon" LD_PRELOAD="$libasan" \
    ASAN_OPTIONS="detect_leaks=0:handle_segv=0:allow_user_segv_handler=1:halt_on_error=1:log_path=$reports/asan" \
    "$root/node_modules/.bin/jest" --runInBand test/protocol test/server/body.test.ts test/server/end-here.test.ts test/roles/filter.test.ts "$@")
rc=$?
set -e
if compgen -G "$reports/*" > /dev/null; then
    echo "scripts/test-asan.sh: sanitizer reports:" >&2
    for f in "$reports"/*; do
        echo "--- $f" >&2
        cat "$f" >&2
    done
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    echo "scripts/test-asan.sh: jest failed (exit $rc)" >&2
    exit "$rc"
fi

echo "== 4. leak check through the addon: ${LEAK_CHECK_REQUESTS:-10000} requests, LeakSanitizer when the app exits"
# The app ends its loop on SIGTERM and exits normally, so Node tears V8 down and LeakSanitizer sees only real
# leaks (a process.exit() would leave V8's heap behind). The driver runs without the sanitizer runtime.
(cd "$root" && APP_LD_PRELOAD="$libasan" \
    APP_ASAN_OPTIONS="detect_leaks=1:handle_segv=0:allow_user_segv_handler=1:halt_on_error=1:log_path=$reports/lsan-app" \
    LIBFCGI_NATIVE="$addon" node --import tsx test/protocol/leak-check.ts "${LEAK_CHECK_REQUESTS:-10000}")
if compgen -G "$reports/*" > /dev/null; then
    echo "scripts/test-asan.sh: sanitizer reports:" >&2
    cat "$reports"/* >&2
    exit 1
fi
echo "scripts/test-asan.sh: clean"
