// Node's own http server, the baseline behind nginx proxy_pass.
// Usage: node node-http.js SOCKET_PATH
'use strict';
const http = require('http');
const { listener } = require('./node-http-listener');

const server = http.createServer(listener);
// nginx keeps idle upstream connections itself: do not let Node close them first (the default 5 s would
// race nginx reusing them and show up as upstream errors that are not the app's fault).
server.keepAliveTimeout = 120_000;
server.listen(process.argv[2]);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
