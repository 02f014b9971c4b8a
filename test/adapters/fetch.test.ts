// fromFetchHandler through real nginx: Request URL/headers/body, Response status/headers/cookies/body, errors, aborts.
import { createHash, randomBytes } from 'crypto';
import http from 'http';
import { PassThrough } from 'stream';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterAll } from '../helpers/cleanup';
import { events, MiB, request, startStack, waitForEvent, type Stack } from '../server/harness';

describeWithBinaries(['nginx'])('fromFetchHandler through nginx', () => {
  const track = closeAfterAll();
  let stack: Stack;

  beforeAll(async () => {
    stack = track(await startStack('fetch-app.ts'));
  });

  test('the Request has the URL from Host and REQUEST_URI, the method, the headers once each, and the body', async () => {
    const res = await request(`${stack.url}/echo?x=1&y=%2F`, {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'Content-Type': 'application/json', 'X-Custom': 'v', 'X-Forwarded-For': '10.0.0.1' },
    });
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.text) as { method: string; url: string; headers: [string, string][]; body: string };
    const port = new URL(stack.url).port;
    expect(echo).toMatchObject({ instanceOfRequest: true, cloned: `http://127.0.0.1:${port}/echo?x=1&y=%2F` });
    expect(echo.method).toBe('POST');
    expect(echo.url).toBe(`http://127.0.0.1:${port}/echo?x=1&y=%2F`);
    expect(echo.body).toBe('{"a":1}');
    const headers = new Map(echo.headers);
    // nginx sends both CONTENT_TYPE and HTTP_CONTENT_TYPE: one value, not "application/json, application/json".
    expect(headers.get('content-type')).toBe('application/json');
    expect(headers.get('content-length')).toBe('7');
    expect(headers.get('x-custom')).toBe('v');
    expect(headers.get('x-forwarded-for')).toBe('10.0.0.1');
    expect(echo.headers.filter(([name]) => name === 'content-type')).toHaveLength(1);
  });

  test('nginx drops a header with an underscore (underscores_in_headers off): X_Under never reaches the app', async () => {
    const res = await request(`${stack.url}/echo`, { headers: { X_Under: 'dropped', 'X-Dash': 'kept' } });
    const names = (JSON.parse(res.text) as { headers: [string, string][] }).headers.map(([n]) => n);
    expect(names).toContain('x-dash');
    expect(names).not.toContain('x-under');
    expect(names).not.toContain('x_under');
  });

  test('a GET has no body; HEAD gets the head without the body', async () => {
    const get = JSON.parse((await request(`${stack.url}/echo`)).text) as { method: string; body: string | null };
    expect(get).toMatchObject({ method: 'GET', body: null });
    const head = await request(`${stack.url}/status?code=200`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  test('a Response from a string reaches the client with its Content-Length, not chunk-encoded by nginx', async () => {
    const res = await request(`${stack.url}/status?code=200`);
    expect(res.text).toBe('body text');
    expect(res.headers['content-length']).toBe('9');
    expect(res.headers['transfer-encoding']).toBeUndefined();
  });

  test.each([204, 304])('status %i goes out, without a body', async (code) => {
    const res = await request(`${stack.url}/status?code=${code}`);
    expect(res.status).toBe(code);
    expect(res.body.length).toBe(0);
  });

  test('status and statusText become Status; every Set-Cookie is kept; other repeated headers are joined', async () => {
    const res = await request(`${stack.url}/cookies`);
    expect(res.status).toBe(201);
    expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    expect(res.headers['x-multi']).toBe('one, two');
    expect(res.text).toBe('cookies set');
    const statusLine = await new Promise<string>((resolve, reject) => {
      http
        .get(`${stack.url}/cookies`, (r) => {
          r.resume();
          resolve(r.statusMessage ?? '');
        })
        .on('error', reject);
    });
    expect(statusLine).toBe('Fine');
  });

  test.each(['/throw', '/reject', '/not-a-response'])('%s: the handler failing gives a 500 and the server goes on', async (route) => {
    const after = events(stack.app.process).length;
    const res = await request(`${stack.url}${route}`);
    expect(res.status).toBe(500);
    await waitForEvent(stack.app.process, (e) => e.event === 'error', { after });
    expect((await request(`${stack.url}/status?code=200`)).text).toBe('body text');
  });

  test("an unknown path: the handler's 404", async () => {
    const res = await request(`${stack.url}/nowhere`);
    expect(res.status).toBe(404);
    expect(res.text).toBe('no such route');
  });

  test('request.formData() parses urlencoded and multipart bodies', async () => {
    const url = await request(`${stack.url}/form`, {
      method: 'POST',
      body: 'a=1&b=two+words&c=%C3%A9',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(JSON.parse(url.text)).toEqual({ fields: { a: '1', b: 'two words', c: 'é' }, files: {} });
    const file = randomBytes(256 * 1024);
    const form = new FormData();
    form.append('title', 'hello');
    form.append('upload', new Blob([file]), 'data.bin');
    const body = new Request('http://x/', { method: 'POST', body: form });
    const multipart = await request(`${stack.url}/form`, {
      method: 'POST',
      body: Buffer.from(await body.arrayBuffer()),
      headers: { 'Content-Type': body.headers.get('content-type') ?? '' },
    });
    expect(JSON.parse(multipart.text)).toEqual({
      fields: { title: 'hello' },
      files: { upload: { name: 'data.bin', size: file.length, sha256: createHash('sha256').update(file).digest('hex') } },
    });
  });
});

describeWithBinaries(['nginx'])('fromFetchHandler: streaming and aborts through nginx (fastcgi_buffering off)', () => {
  const track = closeAfterAll();
  let stack: Stack;

  beforeAll(async () => {
    stack = track(
      await startStack('fetch-app.ts', { nginx: { extraLocationConf: 'fastcgi_buffering off;\nfastcgi_request_buffering off;' } }),
    );
  });

  test('the Request body is a stream: the handler reads its first chunk while the client has not sent the rest', async () => {
    const total = 4 * MiB;
    const after = events(stack.app.process).length;
    const upload = new PassThrough();
    const pending = request(`${stack.url}/stream-upload`, {
      method: 'POST',
      body: upload,
      headers: { 'Content-Length': String(total), 'Content-Type': 'application/octet-stream' },
    });
    upload.write(Buffer.alloc(256 * 1024, 1));
    // Only the first 256 KiB are sent until the handler has seen a chunk: a buffered body would never get here.
    await waitForEvent(stack.app.process, (e) => e.event === 'first-chunk', { after, timeoutMs: 10000 });
    upload.end(Buffer.alloc(total - 256 * 1024, 2));
    const res = await pending;
    expect([res.status, res.text]).toEqual([200, `read ${total}`]);
  });

  test('the Response body is pulled only as fast as the client reads (backpressure), and arrives whole', async () => {
    const total = 64 * MiB;
    const after = events(stack.app.process).length;
    const received = await new Promise<number>((resolve, reject) => {
      http
        .get(`${stack.url}/stream?mib=64`, (res) => {
          let bytes = 0;
          res.once('data', (c: Buffer) => {
            bytes += c.length;
            res.pause();
            // The client stalls: the producer must stop well short of the whole body.
            setTimeout(() => {
              const produced = Math.max(
                0,
                ...events(stack.app.process)
                  .slice(after)
                  .filter((e) => e.event === 'produced')
                  .map((e) => e.bytes as number),
              );
              try {
                expect(produced).toBeLessThan(total / 2);
              } catch (err) {
                reject(err);
                res.destroy();
                return;
              }
              res.on('data', (d: Buffer) => (bytes += d.length));
              res.on('end', () => resolve(bytes));
              res.resume();
            }, 1500);
          });
          res.on('error', reject);
        })
        .on('error', reject);
    });
    expect(received).toBe(total);
  });

  test('request.signal aborts when the client goes away (nginx closes the FastCGI connection)', async () => {
    const after = events(stack.app.process).length;
    const req = http.get(`${stack.url}/wait-abort?ms=20000`);
    req.on('error', () => undefined);
    await waitForEvent(stack.app.process, (e) => e.event === 'wait-start', { after });
    req.destroy();
    const outcome = await waitForEvent(stack.app.process, (e) => e.event === 'aborted' || e.event === 'not-aborted', {
      after,
      timeoutMs: 15000,
    });
    expect(outcome.event).toBe('aborted');
  });
});
