// The same Hono app on @hono/node-server (Node http), the baseline behind nginx proxy_pass.
// Usage: node hono-node.js SOCKET_PATH
'use strict';
const http = require('http');
const { getRequestListener } = require('@hono/node-server');
const { app } = require('./hono-app');

const path = process.argv[2];
const server = http.createServer(getRequestListener(app.fetch));
// As node-http.js: nginx keeps idle upstream connections; Node must not close them first.
server.keepAliveTimeout = 120_000;
server.listen(path);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
