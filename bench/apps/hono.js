// Hono over the package's fetch adapter (fromFetchHandler) on the concurrent server, behind nginx fastcgi_pass.
// Usage: node hono.js SOCKET_PATH
'use strict';
const { createServer, fromFetchHandler } = require('../..');
const { app } = require('./hono-app');

const path = process.argv[2];
createServer(fromFetchHandler(app))
  .listen({ path })
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
