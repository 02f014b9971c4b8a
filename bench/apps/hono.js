// Hono over the package's fetch adapter (fromFetchHandler) on the concurrent server, behind nginx fastcgi_pass.
// overrideGlobalObjects as @hono/node-server (the baseline) has it by default: the lightweight global Response.
// Usage: node hono.js SOCKET_PATH
'use strict';
const { createServer, fromFetchHandler } = require('../..');
const { app } = require('./hono-app');

const path = process.argv[2];
createServer(fromFetchHandler(app, { overrideGlobalObjects: true }))
  .listen({ path })
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
