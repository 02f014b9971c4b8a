// A Hono app (app.fetch through fromFetchHandler) behind real nginx: routing, parseBody upload, cookies, streamSSE, 404, 500.
import { createHash, randomBytes } from 'crypto';
import http from 'http';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterAll } from '../helpers/cleanup';
import { MiB, request, startStack, type Stack } from '../server/harness';

for (const override of [false, true])
  describeWithBinaries(['nginx'])(`Hono over fromFetchHandler through nginx (overrideGlobalObjects: ${override})`, () => {
    const track = closeAfterAll();
    let stack: Stack;

    beforeAll(async () => {
      // fastcgi_buffering off: what the app flushes reaches the client at once (the SSE test times it).
      stack = track(
        await startStack('hono-app.ts', {
          env: { HONO_OVERRIDE_GLOBALS: override ? '1' : '0' },
          nginx: { extraLocationConf: 'fastcgi_buffering off;' },
        }),
      );
    });

    test(`the global Response is ${override ? 'the lightweight one' : "the platform's"}`, async () => {
      expect(JSON.parse((await request(`${stack.url}/response-class`)).text)).toEqual({ lightweight: override, fetched: true });
    });

    test('routing: a text route and a route with a parameter and a query', async () => {
      expect((await request(`${stack.url}/`)).text).toBe('hello from hono');
      const port = new URL(stack.url).port;
      const res = await request(`${stack.url}/users/42?q=x%20y`);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toEqual({ id: '42', q: 'x y', url: `http://127.0.0.1:${port}/users/42?q=x%20y` });
    });

    test('a JSON body', async () => {
      const res = await request(`${stack.url}/json`, {
        method: 'POST',
        body: JSON.stringify({ a: [1, 2] }),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(JSON.parse(res.text)).toEqual({ got: { a: [1, 2] } });
    });

    test('parseBody(): a 10 MiB multipart upload arrives intact (sha256)', async () => {
      const file = randomBytes(10 * MiB);
      const form = new FormData();
      form.append('title', 'ten');
      form.append('file', new Blob([file]), 'big.bin');
      const encoded = new Request('http://x/', { method: 'POST', body: form });
      const body = Buffer.from(await encoded.arrayBuffer());
      const res = await request(`${stack.url}/upload`, {
        method: 'POST',
        body,
        headers: { 'Content-Type': encoded.headers.get('content-type') ?? '', 'Content-Length': String(body.length) },
        timeoutMs: 60000,
      });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toEqual({
        title: 'ten',
        name: 'big.bin',
        size: file.length,
        sha256: createHash('sha256').update(file).digest('hex'),
      });
    });

    test('setCookie() twice gives two Set-Cookie headers; getCookie() reads the Cookie header', async () => {
      const res = await request(`${stack.url}/cookies`, { headers: { Cookie: 'seen=yes; other=1' } });
      expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=two%20words; Path=/; HttpOnly']);
      expect(JSON.parse(res.text)).toEqual({ seen: { seen: 'yes', other: '1' } });
    });

    test('streamSSE: the first event reaches the client while the stream is still open', async () => {
      const SLEEP_MS = 1500;
      const arrivals: { at: number; text: string }[] = [];
      const start = Date.now();
      const status = await new Promise<number>((resolve, reject) => {
        http
          .get(`${stack.url}/sse?ms=${SLEEP_MS}`, (res) => {
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => arrivals.push({ at: Date.now() - start, text: chunk }));
            res.on('end', () => resolve(res.statusCode ?? 0));
            res.on('error', reject);
          })
          .on('error', reject);
      });
      expect(status).toBe(200);
      const all = arrivals.map((a) => a.text).join('');
      expect(all).toBe('event: first\ndata: one\n\nevent: second\ndata: two\n\n');
      const first = arrivals.find((a) => a.text.includes('event: first'));
      const second = arrivals.find((a) => a.text.includes('event: second'));
      expect(first).toBeDefined();
      expect(second).toBeDefined();
      // Held back until the end, both would arrive together; streamed, the second comes about SLEEP_MS later.
      expect(second!.at - first!.at).toBeGreaterThanOrEqual(SLEEP_MS * 0.6);
    });

    test('c.env.fcgi is the FastCGI request (params)', async () => {
      expect(JSON.parse((await request(`${stack.url}/fcgi-env?x=1`)).text)).toEqual({ requestUri: '/fcgi-env?x=1' });
    });

    test("an unknown route: Hono's 404", async () => {
      const res = await request(`${stack.url}/nowhere`);
      expect(res.status).toBe(404);
      expect(res.text).toBe('404 Not Found');
    });

    test('a route that throws: 500, and the app goes on', async () => {
      const res = await request(`${stack.url}/error`);
      expect(res.status).toBe(500);
      expect((await request(`${stack.url}/`)).text).toBe('hello from hono');
    });
  });
