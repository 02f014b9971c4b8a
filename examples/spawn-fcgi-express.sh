#!/bin/sh
# Runs an unmodified Express app (examples/express-listen.js, which calls app.listen(3000)) under spawn-fcgi:
# spawn-fcgi creates the unix socket and hands it over as fd 0; `libfcgi run` loads the app and its
# app.listen(3000) serves that socket instead of opening port 3000.
#
#   SOCKET=/run/libfcgi/express.sock examples/spawn-fcgi-express.sh
#
# In your own app's directory the command is: spawn-fcgi -n -s "$SOCKET" -M 0660 -- npx libfcgi run server.js
# nginx in front: examples/nginx.conf with this socket in fastcgi_pass (add `fastcgi_buffering off;` for
# server-sent events).
set -eu
cd "$(dirname "$0")/.."
SOCKET=${SOCKET:-/run/libfcgi/express.sock}
exec spawn-fcgi -n -s "$SOCKET" -M 0660 -- "$(command -v node)" dist/cli/main.js run examples/express-listen.js
