#!/bin/sh
# Runs examples/hello.ts under spawn-fcgi: spawn-fcgi creates the unix socket and hands it to the app as fd 0,
# so the app calls `new FastCGI()` without options (hello.ts does when no FCGI_* variable is set).
#
#   SOCKET=/run/libfcgi/hello.sock examples/spawn-fcgi.sh
#
# -n keeps spawn-fcgi in the foreground and makes the app its own process (exec): right under systemd or a
# supervisor, and SIGTERM goes straight to the app, which finishes the request in progress and exits 0.
# For several processes sharing the socket use -F N instead of -n (spawn-fcgi then forks N apps and exits).
# As root, add -u www-data -g www-data to run the app as www-data, or -U/-G to give the socket to that user.
set -eu
cd "$(dirname "$0")/.."
SOCKET=${SOCKET:-/run/libfcgi/hello.sock}
# 0660: the web server must be the socket's owner or in its group.
exec spawn-fcgi -n -s "$SOCKET" -M 0660 -- "$(command -v node)" --import tsx examples/hello.ts
