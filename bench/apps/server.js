// The package's concurrent server (lib/server.ts) serving the benchmark variants.
// Usage: node server.js SOCKET_PATH   (LIBFCGI_BENCH_CONCURRENCY: requests in flight, default 64)
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
    } else {
      req.print('Hello, world!');
    }
    return undefined;
  },
  { concurrency },
);
server.listen({ path }).catch((err) => {
  console.error(err);
  process.exit(1);
});
