// The concurrent server written as the README teaches: an async handler reading req.env (the app
// users write), next to apps/server.js (param() and a synchronous return, the fastest way to write it).
// Usage: node server-readme.js SOCKET_PATH   (LIBFCGI_BENCH_CONCURRENCY: requests in flight, default 64)
'use strict';
// LIBFCGI_BENCH_PACKAGE: another build of the package to compare (bench/ab.js), else this one.
const { createServer } = require(process.env.LIBFCGI_BENCH_PACKAGE || '../..');

const path = process.argv[2];
const concurrency = Number(process.env.LIBFCGI_BENCH_CONCURRENCY || 64);
const big = Buffer.alloc(65536, 'x');

const server = createServer(
  async (req) => {
    const uri = req.env.REQUEST_URI ?? '/';
    const variant = uri.slice(uri.lastIndexOf('/') + 1);
    req.header({ 'Content-Type': 'text/plain' });
    if (variant === 'big') {
      req.print(big);
    } else if (variant === 'echo') {
      const body = await req.bytes();
      req.print(String(body.length));
    } else {
      req.print('Hello, world!');
    }
  },
  { concurrency },
);
server.listen({ path }).catch((err) => {
  console.error(err);
  process.exit(1);
});
