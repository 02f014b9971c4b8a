// The package's synchronous accept loop (lib/fastcgi.ts) serving the benchmark variants.
// Usage: node sync.js SOCKET_PATH
'use strict';
const { FastCGI } = require('../..');

const path = process.argv[2];
const big = Buffer.alloc(65536, 'x');
const fcgi = new FastCGI({ path });

while (fcgi.accept()) {
  const uri = fcgi.param('REQUEST_URI') || '';
  const variant = uri.slice(uri.lastIndexOf('/') + 1);
  fcgi.header({ 'Content-Type': 'text/plain' });
  if (variant === 'big') {
    fcgi.print(big);
  } else if (variant === 'echo') {
    fcgi.print(String(fcgi.read().length));
  } else {
    fcgi.print('Hello, world!');
  }
}
