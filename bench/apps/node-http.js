// Node's own http server, the baseline behind nginx proxy_pass.
// Usage: node node-http.js SOCKET_PATH
'use strict';
const http = require('http');

const path = process.argv[2];
const big = Buffer.alloc(65536, 'x');

const server = http.createServer((req, res) => {
  const variant = req.url.slice(req.url.lastIndexOf('/') + 1);
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
// nginx keeps idle upstream connections itself: do not let Node close them first (the default 5 s would
// race nginx reusing them and show up as upstream errors that are not the app's fault).
server.keepAliveTimeout = 120_000;
server.listen(path);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
