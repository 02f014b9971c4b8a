// The Hono app of the framework pair (hono.js over FastCGI, hono-node.js on @hono/node-server): hello and a JSON POST.
'use strict';
const { Hono } = require('hono');

const app = new Hono();
// Paths are /<app>/<mode>/<variant> (bench/harness.js).
app.get('/:app/:mode/hello', (c) => c.text('Hello, world!'));
app.post('/:app/:mode/json', async (c) => {
  const body = await c.req.json();
  return c.json({ received: body.items.length });
});

module.exports = { app };
