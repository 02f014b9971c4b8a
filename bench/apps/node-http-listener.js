// The (req, res) listener apps/node-http.js (on Node's http server), apps/listener.js (over fromNodeListener) and
// apps/node-fastcgi.js serve: /hello, /big (64 KiB) and /echo (the body's length), the last path segment
// picking the variant.
'use strict';
const big = Buffer.alloc(65536, 'x');

function listener(req, res) {
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
}
module.exports = { listener };
