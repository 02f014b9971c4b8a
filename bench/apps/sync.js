// The package's synchronous accept loop (lib/fastcgi.ts) serving the benchmark variants.
// Usage: node sync.js SOCKET_PATH   (LIBFCGI_BENCH_MAX_CONNECTIONS, LIBFCGI_BENCH_MAX_BUFFERED_BYTES: the listen
// options maxConnections and maxBufferedBytes, for bench/gate-memory.js; the `stats` variant answers fcgi.stats())
'use strict';
const { FastCGI } = require('../..');

const path = process.argv[2];
const big = Buffer.alloc(65536, 'x');
const fcgi = new FastCGI({ path, ...limitsFromEnv() });

function limitsFromEnv() {
  const out = {};
  if (process.env.LIBFCGI_BENCH_MAX_CONNECTIONS) out.maxConnections = Number(process.env.LIBFCGI_BENCH_MAX_CONNECTIONS);
  if (process.env.LIBFCGI_BENCH_MAX_BUFFERED_BYTES) out.maxBufferedBytes = Number(process.env.LIBFCGI_BENCH_MAX_BUFFERED_BYTES);
  return out;
}

while (fcgi.accept()) {
  const uri = fcgi.param('REQUEST_URI') || '';
  const variant = uri.slice(uri.lastIndexOf('/') + 1);
  fcgi.header({ 'Content-Type': 'text/plain' });
  if (variant === 'big') {
    fcgi.print(big);
  } else if (variant === 'echo') {
    fcgi.print(String(fcgi.read().length));
  } else if (variant === 'stats') {
    fcgi.print(JSON.stringify(fcgi.stats()));
  } else {
    fcgi.print('Hello, world!');
  }
}
