// The Express app both Express benchmark targets serve: /…/hello, /…/big, and /…/echo (a 16 KiB POST read by
// express.raw(), answered with its length). Same code over FastCGI (express.js) and on Node http (express-http.js).
'use strict';
const express = require('express');

const big = Buffer.alloc(65536, 'x');
const app = express();
app.set('etag', false);
app.set('x-powered-by', false);
app.get('*splat', (req, res) => {
  const variant = req.path.slice(req.path.lastIndexOf('/') + 1);
  res.type('text/plain').send(variant === 'big' ? big : 'Hello, world!');
});
app.post('*splat', express.raw({ type: () => true, limit: '1mb' }), (req, res) => {
  res.type('text/plain').send(String(req.body.length));
});
module.exports = app;
