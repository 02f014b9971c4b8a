// node-fastcgi (npm, pure JavaScript): the http-compatible FastCGI server most Node users find first.
// Usage: node node-fastcgi.js SOCKET_PATH
'use strict';
const fcgi = require('node-fastcgi');

const path = process.argv[2];
const big = Buffer.alloc(65536, 'x');

const server = fcgi.createServer((req, res) => {
  const url = req.url || '';
  const variant = url.slice(url.lastIndexOf('/') + 1);
  if (variant === 'echo') {
    let length = 0;
    req.on('data', (chunk) => {
      length += chunk.length;
    });
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(String(length));
    });
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end(variant === 'big' ? big : 'Hello, world!');
});
server.listen(path);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
