// The plain (req, res) listener of apps/node-http.js, served over libfcgi's Node-listener adapter
// (createServer(listener)) behind fastcgi_pass: with node-http as its baseline, the adapter's own cost
// without a framework's in the way.
// Usage: node listener.js SOCKET_PATH   (LIBFCGI_BENCH_CONCURRENCY: requests in flight, default 64)
'use strict';
const { createServer } = require(process.env.LIBFCGI_BENCH_PACKAGE || '../..');
const { listener } = require('./node-http-listener');

const concurrency = Number(process.env.LIBFCGI_BENCH_CONCURRENCY || 64);
createServer(listener, { concurrency })
  .listen({ path: process.argv[2] })
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
