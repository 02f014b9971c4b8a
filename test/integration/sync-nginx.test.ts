// The synchronous accept loop behind real nginx: examples/hello.ts, echo.ts and upload.ts as child processes.
import { createHash, randomBytes } from 'crypto';
import path from 'path';
import { example, startApp, type AppProcess, type StartAppOptions } from '../helpers/app-process';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterAll, closeAfterEach } from '../helpers/cleanup';
import { startCountingProxy } from '../helpers/counting-proxy';
import { httpRequest } from '../helpers/http';
import { startNginx, type NginxServer } from '../helpers/nginx';
import { tempDir } from '../helpers/tmp';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** What examples/echo.ts sends for /big: 160 chunks of 64 KiB, chunk i filled with the text "<i>:". */
function expectedBigBody(): Buffer {
  const chunks: Buffer[] = [];
  for (let i = 0; i < 160; i++) chunks.push(Buffer.alloc(64 * 1024, `${i}:`));
  return Buffer.concat(chunks);
}

const UTF8_TEXT = 'Grüße aus Köln — κόσμε — こんにちは — 🦀\n';

type Transport = 'unix socket' | 'loopback TCP';
const TRANSPORTS: Transport[] = ['unix socket', 'loopback TCP'];

function listenOn(transport: Transport, dir: string, name: string): StartAppOptions['listen'] {
  return transport === 'unix socket' ? { path: path.join(dir, name) } : { tcp: true };
}

describeWithBinaries(['nginx'])('examples behind nginx', () => {
  describe.each(TRANSPORTS)('hello.ts (the counter) over %s', (transport) => {
    const track = closeAfterEach();

    test('counts 1, 2, 3 across requests, as text/html', async () => {
      const dir = track(tempDir()).path;
      const app = track(await startApp(example('hello.ts'), { listen: listenOn(transport, dir, 'hello.sock') }));
      const nginx = track(await startNginx({ upstream: app.address }));
      for (const expected of ['1', '2', '3']) {
        const response = await httpRequest(`${nginx.url}/counter`);
        expect(response.status).toBe(200);
        expect(response.headers['content-type']).toBe('text/html');
        expect(response.text).toBe(expected);
      }
      // console.log(fcgi.env) of the synopsis: the params as the app saw them.
      expect(app.process.stdout()).toContain("REQUEST_URI: '/counter'");
    });
  });

  describe.each(TRANSPORTS)('echo.ts over %s', (transport) => {
    const track = closeAfterAll();
    let app: AppProcess;
    let nginx: NginxServer;

    beforeAll(async () => {
      const dir = track(tempDir()).path;
      app = track(await startApp(example('echo.ts'), { listen: listenOn(transport, dir, 'echo.sock') }));
      nginx = track(await startNginx({ upstream: app.address }));
    });

    test('a 1 MiB random POST body comes back byte-exact, with method and query', async () => {
      const body = randomBytes(1024 * 1024);
      const response = await httpRequest(`${nginx.url}/echo?name=Ada&lang=en`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-random' },
        body,
      });
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('application/x-random');
      expect(response.headers['x-echo-method']).toBe('POST');
      expect(JSON.parse(response.headers['x-echo-query'] as string)).toEqual({ name: 'Ada', lang: 'en' });
      expect(response.body.length).toBe(body.length);
      expect(sha256(response.body)).toBe(sha256(body));
      expect(response.body.equals(body)).toBe(true);
    });

    test('a PUT body with every byte value 0..255 comes back byte-exact', async () => {
      const body = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256));
      const response = await httpRequest(`${nginx.url}/echo`, { method: 'PUT', body });
      expect(response.headers['x-echo-method']).toBe('PUT');
      expect(response.body.equals(body)).toBe(true);
    });

    test('GET shows the method, the URI, the parsed query and a few params', async () => {
      const response = await httpRequest(`${nginx.url}/some/page?a=1&b=two&b=three`);
      expect(response.status).toBe(200);
      expect(response.text).toContain('method: GET\n');
      expect(response.text).toContain('uri: /some/page?a=1&b=two&b=three\n');
      expect(response.text).toContain('query: {"a":"1","b":"three"}\n');
      expect(response.text).toMatch(/^server: nginx\/\d/m);
      expect(response.text).toContain('remote: 127.0.0.1\n');
      expect(response.text).toContain('body: 0 bytes\n');
    });

    test('status(404) reaches the HTTP client as 404 with the body', async () => {
      const response = await httpRequest(`${nginx.url}/missing`);
      expect(response.status).toBe(404);
      expect(response.text).toBe('no such page: /missing\n');
    });

    test('Set-Cookie given as an array of two reaches the client as two Set-Cookie headers', async () => {
      const response = await httpRequest(`${nginx.url}/cookies`);
      expect(response.status).toBe(200);
      expect(response.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    });

    test('a UTF-8 body arrives byte-exact', async () => {
      const response = await httpRequest(`${nginx.url}/utf8`);
      expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(response.body.equals(Buffer.from(UTF8_TEXT, 'utf8'))).toBe(true);
    });

    test('a 10 MiB response printed in 64 KiB chunks arrives intact (sha256)', async () => {
      const expected = expectedBigBody();
      const response = await httpRequest(`${nginx.url}/big`, { timeoutMs: 30000 });
      expect(response.status).toBe(200);
      expect(response.headers['content-length']).toBe(String(10 * 1024 * 1024));
      expect(response.body.length).toBe(expected.length);
      expect(sha256(response.body)).toBe(sha256(expected));
    });
  });

  describe('upload.ts', () => {
    const track = closeAfterEach();

    test('reports the size and sha256 of a 20 MiB upload it read in 64 KiB pieces', async () => {
      const dir = track(tempDir()).path;
      const app = track(await startApp(example('upload.ts'), { listen: { path: path.join(dir, 'upload.sock') } }));
      const nginx = track(await startNginx({ upstream: app.address }));
      const body = randomBytes(20 * 1024 * 1024);
      const response = await httpRequest(`${nginx.url}/upload`, { method: 'POST', body, timeoutMs: 30000 });
      expect(response.status).toBe(200);
      expect(JSON.parse(response.text)).toEqual({ size: body.length, sha256: sha256(body) });
    });

    test('an empty POST is size 0 with the sha256 of nothing', async () => {
      const dir = track(tempDir()).path;
      const app = track(await startApp(example('upload.ts'), { listen: { path: path.join(dir, 'upload.sock') } }));
      const nginx = track(await startNginx({ upstream: app.address }));
      const response = await httpRequest(`${nginx.url}/upload`, { method: 'POST', body: '' });
      expect(JSON.parse(response.text)).toEqual({ size: 0, sha256: sha256(Buffer.alloc(0)) });
    });
  });

  describe('request bodies the app never reads', () => {
    const track = closeAfterEach();

    /** Twenty 8 MiB POSTs to hello.ts, which never calls read(): every response must arrive whole. */
    async function postUnreadBodies(keepConn: boolean): Promise<void> {
      const dir = track(tempDir()).path;
      const app = track(await startApp(example('hello.ts'), { listen: { path: path.join(dir, 'hello.sock') } }));
      const nginx = track(await startNginx({ upstream: app.address, keepConn }));
      const body = randomBytes(8 * 1024 * 1024);
      for (let i = 1; i <= 20; i++) {
        const response = await httpRequest(`${nginx.url}/`, { method: 'POST', body, timeoutMs: 30000 });
        expect({ i, status: response.status, text: response.text }).toEqual({ i, status: 200, text: String(i) });
      }
    }

    test('with fastcgi_keep_conn on: twenty 8 MiB unread POST bodies, every response arrives (the body is drained)', () =>
      postUnreadBodies(true));

    // Without keep-conn the unread body is drained by the lingering close (until the peer closes), not cut off.
    test('without keep-conn: twenty 8 MiB unread POST bodies, every response arrives', () => postUnreadBodies(false));
  });

  describe('fastcgi_keep_conn on (nginx upstream keepalive)', () => {
    const track = closeAfterEach();

    test('300 sequential requests all succeed, counting 1..300, over one reused FastCGI connection', async () => {
      const dir = track(tempDir()).path;
      const app = track(await startApp(example('hello.ts'), { listen: { path: path.join(dir, 'hello.sock') } }));
      const proxy = track(await startCountingProxy(path.join(dir, 'proxy.sock'), app.address));
      const nginx = track(await startNginx({ upstream: proxy.address, keepConn: true }));
      for (let i = 1; i <= 300; i++) {
        const response = await httpRequest(`${nginx.url}/n${i}`);
        expect({ i, status: response.status, text: response.text }).toEqual({ i, status: 200, text: String(i) });
      }
      expect(proxy.connections).toBe(1);
    });

    test('POST bodies the app never reads are drained: the kept connection stays in step', async () => {
      const dir = track(tempDir()).path;
      // hello.ts never calls read(): finishing the request must consume the rest of FCGI_STDIN.
      const app = track(await startApp(example('hello.ts'), { listen: { path: path.join(dir, 'hello.sock') } }));
      const proxy = track(await startCountingProxy(path.join(dir, 'proxy.sock'), app.address));
      const nginx = track(await startNginx({ upstream: proxy.address, keepConn: true }));
      const sizes = [0, 1, 65535, 65536, 300 * 1024, 7];
      for (const [i, size] of sizes.entries()) {
        const response = await httpRequest(`${nginx.url}/post`, { method: 'POST', body: randomBytes(size) });
        expect({ size, text: response.text }).toEqual({ size, text: String(i + 1) });
      }
      expect(proxy.connections).toBe(1);
    });

    test('echo.ts answers 100 mixed requests (bodies, 404s, 10 MiB) on kept connections, each one right', async () => {
      const dir = track(tempDir()).path;
      const app = track(await startApp(example('echo.ts'), { listen: { path: path.join(dir, 'echo.sock') } }));
      const proxy = track(await startCountingProxy(path.join(dir, 'proxy.sock'), app.address));
      const nginx = track(await startNginx({ upstream: proxy.address, keepConn: true }));
      const bigSha = sha256(expectedBigBody());
      for (let i = 0; i < 100; i++) {
        if (i % 10 === 5) {
          const response = await httpRequest(`${nginx.url}/big`, { timeoutMs: 30000 });
          expect(sha256(response.body)).toBe(bigSha);
        } else if (i % 3 === 0) {
          expect((await httpRequest(`${nginx.url}/missing`)).status).toBe(404);
        } else {
          const body = randomBytes(i * 997);
          const response = await httpRequest(`${nginx.url}/echo`, { method: 'POST', body });
          expect(response.body.equals(body)).toBe(true);
        }
      }
      // Kept: 100 requests over a handful of connections. Not exactly one: after a 10 MiB answer the client may
      // have it all and send the next request before nginx has put the upstream connection back in its cache,
      // and nginx then opens another (seen on a loaded machine). Without keep-conn this is 100.
      expect(proxy.connections).toBeLessThanOrEqual(3);
    });
  });
});
