// The Express app both Express benchmark targets serve (paths /<app>/<mode>/<variant>, bench/harness.js): hello,
// and json (a 16 KiB JSON POST parsed by express.json(), answered with JSON). Same code over FastCGI
// (express.js) and on Node http (express-http.js).
'use strict';
const express = require('express');

const app = express();
app.set('etag', false);
app.set('x-powered-by', false);
app.get('/:app/:mode/hello', (req, res) => {
  res.type('text/plain').send('Hello, world!');
});
app.post('/:app/:mode/json', express.json({ limit: '1mb' }), (req, res) => {
  res.json({ received: req.body.items.length });
});
module.exports = app;
