// The package's concurrent server (lib/server.ts) serving the benchmark variants.
// Usage: node server.js SOCKET_PATH   (LIBFCGI_BENCH_CONCURRENCY: requests in flight, default 64;
// LIBFCGI_BENCH_MAX_CONNECTIONS, LIBFCGI_BENCH_MAX_BUFFERED_BYTES: the listen options maxConnections and
// maxBufferedBytes, for bench/gate-memory.js; the `stats` variant answers server.stats())
'use strict';
// LIBFCGI_BENCH_PACKAGE: another build of the package to compare (bench/ab.js), else this one.
const { createServer } = require(process.env.LIBFCGI_BENCH_PACKAGE || '../..');

const path = process.argv[2];
const concurrency = Number(process.env.LIBFCGI_BENCH_CONCURRENCY || 64);
const big = Buffer.alloc(65536, 'x');

const server = createServer(
  (req) => {
    const uri = req.param('REQUEST_URI') || '';
    const variant = uri.slice(uri.lastIndexOf('/') + 1);
    req.header({ 'Content-Type': 'text/plain' });
    if (variant === 'big') {
      req.print(big);
    } else if (variant === 'echo') {
      return req.bytes().then((body) => {
        req.print(String(body.length));
      });
    } else if (variant === 'stats') {
      req.print(JSON.stringify(server.stats()));
    } else {
      req.print('Hello, world!');
    }
    return undefined;
  },
  { concurrency },
);
const limits = {};
if (process.env.LIBFCGI_BENCH_MAX_CONNECTIONS) limits.maxConnections = Number(process.env.LIBFCGI_BENCH_MAX_CONNECTIONS);
if (process.env.LIBFCGI_BENCH_MAX_BUFFERED_BYTES) limits.maxBufferedBytes = Number(process.env.LIBFCGI_BENCH_MAX_BUFFERED_BYTES);
server.listen({ path, ...limits }).catch((err) => {
  console.error(err);
  process.exit(1);
});
