// The Express app over libfcgi's Node-listener adapter (createServer(fromNodeListener(app))), behind fastcgi_pass.
// Usage: node express.js SOCKET_PATH   (LIBFCGI_BENCH_CONCURRENCY: requests in flight, default 64)
'use strict';
const { createServer, fromNodeListener } = require('../..');
const app = require('./express-app');

const concurrency = Number(process.env.LIBFCGI_BENCH_CONCURRENCY || 64);
createServer(fromNodeListener(app), { concurrency })
  .listen({ path: process.argv[2] })
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
