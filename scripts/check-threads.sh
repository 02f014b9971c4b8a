#!/usr/bin/env bash
# Compiles native/*.cc with clang's thread-safety analysis as errors (npm run check:threads; CI runs it):
# the GUARDED_BY/REQUIRES/EXCLUDES annotations (native/thread_annotations.h) are checked, not just written.
# Syntax only: nothing is built. Needs clang++ and node's headers (node's own include dir, else node-gyp's
# cache, else LIBFCGI_NODE_INCLUDE).
set -euo pipefail
cd "$(dirname "$0")/.."

CXX="${CLANG_CXX:-clang++}"
command -v "$CXX" >/dev/null || { echo "check:threads: $CXX not found (apt-get install clang)" >&2; exit 1; }

node_version="$(node -p process.versions.node)"
candidates=(
  "${LIBFCGI_NODE_INCLUDE:-}"
  "$(dirname "$(dirname "$(node -p process.execPath)")")/include/node"
  "${HOME:-}/.cache/node-gyp/$node_version/include/node"
  "${HOME:-}/.node-gyp/$node_version/include/node"
)
node_include=""
for dir in "${candidates[@]}"; do
  if [ -n "$dir" ] && [ -f "$dir/node_api.h" ]; then node_include="$dir"; break; fi
done
if [ -z "$node_include" ]; then
  echo "check:threads: node's headers not found (tried: ${candidates[*]}); set LIBFCGI_NODE_INCLUDE" >&2
  exit 1
fi
addon_api="$(node -p "require('node-addon-api').include_dir")"

status=0
for src in native/*.cc; do
  "$CXX" -std=c++17 -fsyntax-only -Wthread-safety -Wthread-safety-beta -Werror \
    -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED \
    '-DLIBFCGI_BUILD_FLAGS="check"' '-DLIBFCGI_FCGI2_VERSION="check"' '-DLIBFCGI_FCGI2_PATCHES=""' \
    -I"$node_include" -I"$addon_api" -Iext/fcgi2/include -Iext/config \
    "$src" || status=1
done
if [ "$status" = 0 ]; then echo "check:threads: native/*.cc pass clang -Wthread-safety"; fi
exit "$status"
