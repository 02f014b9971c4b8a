// Express 4 and 5, Koa 3, Fastify 5 and Connect apps, unchanged, over fromNodeListener behind real nginx: one
// route table (test/fixtures/frameworks/common.ts) run against each.
import { createHash } from 'crypto';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterAll } from '../helpers/cleanup';
import { startNginx } from '../helpers/nginx';
import { arrivalOf, timedGet } from '../helpers/timed-get';
import { request, startStack } from '../server/harness';

interface Framework {
  name: string;
  fixture: string;
  env?: NodeJS.ProcessEnv;
  /** express.static / res.sendFile and a 'trust proxy' sub-app */
  express?: boolean;
}

const FRAMEWORKS: Framework[] = [
  { name: 'Express 5', fixture: 'frameworks/express.ts', env: { EXPRESS_MODULE: 'express' }, express: true },
  { name: 'Express 4', fixture: 'frameworks/express.ts', env: { EXPRESS_MODULE: 'express4' }, express: true },
  { name: 'Koa 3', fixture: 'frameworks/koa.ts' },
  { name: 'Fastify 5', fixture: 'frameworks/fastify.ts' },
  { name: 'Connect 3', fixture: 'frameworks/connect.ts' },
];

const SSE_PAUSE_MS = 1500; // common.ts
const UPLOAD_SIZE = 10 * 1024 * 1024;

function uploadBody(): { body: Buffer; boundary: string; sha256: string } {
  const data = Buffer.alloc(UPLOAD_SIZE);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 13)) & 0xff;
  const boundary = '----libfcgi-test-boundary';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n`),
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="data.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    data,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, boundary, sha256: createHash('sha256').update(data).digest('hex') };
}

const upload = uploadBody();

for (const fw of FRAMEWORKS) {
  describeWithBinaries(['nginx'])(`${fw.name} over fromNodeListener through nginx`, () => {
    const track = closeAfterAll();
    let url: string;
    let httpsUrl: string;

    beforeAll(async () => {
      const stack = track(await startStack(fw.fixture, { env: fw.env, nginx: { extraLocationConf: 'fastcgi_buffering off;' } }));
      url = stack.url;
      // The same app behind a second nginx that says the client came over TLS.
      const https = track(
        await startNginx({ upstream: stack.app.address, extraLocationConf: 'fastcgi_buffering off;\nfastcgi_param HTTPS on;' }),
      );
      httpsUrl = https.url;
    });

    test('GET /hello answers 200 "hello"; HEAD the same head without a body', async () => {
      const r = await request(`${url}/hello`);
      expect(r.status).toBe(200);
      expect(r.text).toBe('hello');
      expect(r.headers['content-type']).toMatch(/^text\/plain/);
      const head = await request(`${url}/hello`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.body.length).toBe(0);
    });

    test('the JSON body parser sees the body', async () => {
      const r = await request(`${url}/json`, {
        method: 'POST',
        body: JSON.stringify({ n: 1, s: 'é ü' }),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text)).toEqual({ got: { n: 1, s: 'é ü' } });
    });

    test('the urlencoded body parser sees the body', async () => {
      const r = await request(`${url}/form`, {
        method: 'POST',
        body: 'a=1&b=two+words',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text)).toEqual({ got: { a: '1', b: 'two words' } });
    });

    test('a 10 MiB multipart upload arrives intact (sha256)', async () => {
      const r = await request(`${url}/upload`, {
        method: 'POST',
        body: upload.body,
        headers: { 'Content-Type': `multipart/form-data; boundary=${upload.boundary}` },
        timeoutMs: 60000,
      });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text)).toEqual({ size: UPLOAD_SIZE, sha256: upload.sha256 });
    });

    test('cookies: the request cookies reach the app, two Set-Cookie fields reach the client', async () => {
      const r = await request(`${url}/cookies`, { headers: { Cookie: 'x=1; y=2' } });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text)).toMatchObject({ x: '1', y: '2' });
      const cookies = (r.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]);
      expect(cookies).toEqual(['a=1', 'b=2']);
    });

    test('a redirect is a 302 with Location', async () => {
      const r = await request(`${url}/redirect`);
      expect(r.status).toBe(302);
      expect(r.headers.location).toMatch(/\/hello$/);
    });

    test("an unknown path is the framework's 404", async () => {
      expect((await request(`${url}/no/such/route`)).status).toBe(404);
    });

    test("a route that throws reaches the app's error handler (500) and the app goes on", async () => {
      const r = await request(`${url}/error`);
      expect(r.status).toBe(500);
      expect(r.text).toBe('custom error: boom');
      expect((await request(`${url}/hello`)).text).toBe('hello');
    });

    test('server-sent events: the first event arrives well before the second (fastcgi_buffering off)', async () => {
      const r = await timedGet(`${url}/sse`);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(r.body).toBe('data: first\n\ndata: second\n\n'); // no chunk framing in the body
      const first = arrivalOf(r, 'data: first');
      const second = arrivalOf(r, 'data: second');
      expect(second - first).toBeGreaterThanOrEqual(SSE_PAUSE_MS - 500);
    });

    test('req.ip / protocol / hostname come from REMOTE_ADDR, HTTPS and Host; forwarded headers are not trusted', async () => {
      const headers = { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https', Host: 'app.example' };
      const plain = JSON.parse((await request(`${url}/whoami`, { headers })).text) as Record<string, unknown>;
      expect(plain).toEqual({ ip: '127.0.0.1', protocol: 'http', secure: false, hostname: 'app.example' });
      const tls = JSON.parse((await request(`${httpsUrl}/whoami`, { headers })).text) as Record<string, unknown>;
      expect(tls).toEqual({ ip: '127.0.0.1', protocol: 'https', secure: true, hostname: 'app.example' });
    });

    if (fw.express) {
      test("with 'trust proxy', req.ip and req.protocol come from X-Forwarded-For/-Proto", async () => {
        const headers = { 'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https', Host: 'app.example' };
        const r = JSON.parse((await request(`${url}/trusted/whoami`, { headers })).text) as Record<string, unknown>;
        expect(r).toEqual({ ip: '203.0.113.7', protocol: 'https', secure: true, hostname: 'app.example' });
      });

      test.each(['/static/data.bin', '/file'])('%s with Range: bytes=100-199 is a 206 with those 100 bytes', async (path) => {
        const r = await request(`${url}${path}`, { headers: { Range: 'bytes=100-199' } });
        expect(r.status).toBe(206);
        expect(r.headers['content-range']).toBe(`bytes 100-199/${64 * 1024}`);
        expect([...r.body]).toEqual(Array.from({ length: 100 }, (_, i) => (100 + i) % 251));
      });
    }
  });
}
