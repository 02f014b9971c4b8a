import { Hono } from 'hono';
import { createServer, fromFetchHandler } from 'libfcgi';

const app = new Hono();
app.get('/hello/:name', (c) => c.text(`hello ${c.req.param('name')}`));
app.post('/echo', async (c) => c.json(await c.req.json()));
void createServer(fromFetchHandler(app)).listen(); // fd 0, as spawn-fcgi and mod_fcgid hand it over
