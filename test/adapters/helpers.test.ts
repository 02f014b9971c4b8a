// Helpers for apps without a framework: ServerRequest url/query/cookies/formData()/toRequest(), the sync loop's
// query/cookies/form(); through the package's own client and through nginx.
import { createHash, randomBytes } from 'crypto';
import fs from 'fs';
import path from 'path';
import { fcgiRequest } from '../../lib/client';
import { fixture, startApp, type AppProcess } from '../helpers/app-process';
import { describeWithBinaries } from '../helpers/binaries';
import { closeAfterAll } from '../helpers/cleanup';
import { makeTempDir } from '../helpers/tmp';
import { request, startStack, type Stack } from '../server/harness';

type Params = Record<string, string>;

async function multipart(fields: Record<string, string | Blob>): Promise<{ body: Buffer; type: string }> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, value, `${name}.bin`);
  }
  const req = new Request('http://x/', { method: 'POST', body: form });
  return { body: Buffer.from(await req.arrayBuffer()), type: req.headers.get('content-type') ?? '' };
}

function startFixture(name: string, env: NodeJS.ProcessEnv = {}): Promise<AppProcess & { socketPath: string }> {
  const dir = makeTempDir('fcgi-helpers-');
  const socketPath = path.join(dir, 'app.sock');
  const removeDir = () => fs.rmSync(dir, { recursive: true, force: true });
  return startApp(fixture(name), { listen: { path: socketPath }, env }).then(
    (app) => ({
      ...app,
      socketPath,
      close: async () => {
        const status = await app.close();
        removeDir();
        return status;
      },
    }),
    (err: unknown) => {
      removeDir();
      throw err;
    },
  );
}

describe('ServerRequest helpers (through the package client)', () => {
  const track = closeAfterAll();
  let app: AppProcess & { socketPath: string };
  const ask = async (params: Params, body?: Buffer | string) => {
    const res = await fcgiRequest({ path: app.socketPath }, { params: { REQUEST_METHOD: 'GET', ...params }, body });
    const text = res.body.toString('utf8');
    const json = res.headers.some(([n, v]) => n.toLowerCase() === 'content-type' && v === 'application/json')
      ? (JSON.parse(text) as Record<string, unknown>)
      : undefined;
    return { status: res.status, json, text };
  };

  beforeAll(async () => {
    app = track(await startFixture('fetch-app.ts', { SERVER_BODY_LIMIT: String(1024 * 1024) }));
  });

  test('url (scheme, host, REQUEST_URI), query and cookies', async () => {
    const { json } = await ask({
      DOCUMENT_URI: '/raw/helpers',
      REQUEST_URI: '/raw/helpers?a=1&b=x%20y&a=2',
      QUERY_STRING: 'a=1&b=x%20y&a=2',
      HTTPS: 'on',
      HTTP_HOST: 'example.com',
      HTTP_COOKIE: 'sid=abc; theme=dark%20blue; sid=second',
    });
    expect(json).toEqual({
      url: 'https://example.com/raw/helpers?a=1&b=x%20y&a=2',
      pathname: '/raw/helpers',
      query: [
        ['a', '1'],
        ['b', 'x y'],
        ['a', '2'],
      ],
      cookies: { sid: 'abc', theme: 'dark blue' },
    });
  });

  test('url without a Host header: SERVER_NAME and SERVER_PORT (not the default port)', async () => {
    const { json } = await ask({ DOCUMENT_URI: '/raw/helpers', REQUEST_URI: '/raw/helpers', SERVER_NAME: 'srv', SERVER_PORT: '8080' });
    expect(json).toMatchObject({ url: 'http://srv:8080/raw/helpers', query: [], cookies: {} });
  });

  test('formData(): urlencoded and a multipart upload (sha256)', async () => {
    const form = await ask(
      { REQUEST_METHOD: 'POST', DOCUMENT_URI: '/raw/form', CONTENT_TYPE: 'application/x-www-form-urlencoded', CONTENT_LENGTH: '13' },
      'a=1&b=%C3%A9+x',
    );
    expect(form.json).toEqual({ fields: { a: '1', b: 'é x' }, files: {} });
    const file = randomBytes(300 * 1024);
    const { body, type } = await multipart({ note: 'n', file: new Blob([file]) });
    const up = await ask(
      { REQUEST_METHOD: 'POST', DOCUMENT_URI: '/raw/form', CONTENT_TYPE: type, CONTENT_LENGTH: String(body.length) },
      body,
    );
    expect(up.json).toEqual({
      fields: { note: 'n' },
      files: { file: { name: 'file.bin', size: file.length, sha256: createHash('sha256').update(file).digest('hex') } },
    });
  });

  test('formData() over bodyLimit: 413; with another content type: a TypeError (500)', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 'a');
    const over = await ask(
      {
        REQUEST_METHOD: 'POST',
        DOCUMENT_URI: '/raw/form',
        CONTENT_TYPE: 'application/x-www-form-urlencoded',
        CONTENT_LENGTH: String(big.length),
      },
      big,
    );
    expect(over.status).toBe(413);
    expect(over.text).toBe('Content Too Large\n');
    const wrong = await ask({ REQUEST_METHOD: 'POST', DOCUMENT_URI: '/raw/form', CONTENT_TYPE: 'text/plain', CONTENT_LENGTH: '2' }, 'hi');
    expect(wrong.status).toBe(500);
  });

  test('toRequest(): URL, method, headers (once each) and the streamed body', async () => {
    const { json } = await ask(
      {
        REQUEST_METHOD: 'PUT',
        DOCUMENT_URI: '/raw/to-request',
        REQUEST_URI: '/raw/to-request',
        HTTP_HOST: 'h.example:81',
        CONTENT_TYPE: 'text/plain',
        CONTENT_LENGTH: '5',
        HTTP_CONTENT_TYPE: 'text/plain',
        HTTP_X_TRACE_ID: 't1',
      },
      'hello',
    );
    expect(json).toEqual({
      url: 'http://h.example:81/raw/to-request',
      method: 'PUT',
      headers: [
        ['content-length', '5'],
        ['content-type', 'text/plain'],
        ['host', 'h.example:81'],
        ['x-trace-id', 't1'],
      ],
      body: 'hello',
      signalAborted: false,
    });
  });
});

describe('fromFetchHandler (through the package client)', () => {
  const track = closeAfterAll();
  let app: AppProcess & { socketPath: string };
  let mounted: AppProcess & { socketPath: string };
  const ask = async (target: { socketPath: string }, params: Params) => {
    const res = await fcgiRequest({ path: target.socketPath }, { params: { REQUEST_METHOD: 'GET', ...params } });
    return res;
  };

  beforeAll(async () => {
    app = track(await startFixture('fetch-app.ts'));
    mounted = track(await startFixture('fetch-app.ts', { FETCH_MOUNT_PATH: '/app' }));
  });

  test('HEAD: the head goes out without the body', async () => {
    const res = await ask(app, { REQUEST_METHOD: 'HEAD', REQUEST_URI: '/status?code=200' });
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(0);
    const get = await ask(app, { REQUEST_URI: '/status?code=200' });
    expect(get.body.toString()).toBe('body text');
  });

  test('hop-by-hop headers of the Response (Transfer-Encoding: chunked, Connection, Keep-Alive) are not sent to the web server', async () => {
    const res = await ask(app, { REQUEST_URI: '/hop' });
    const names = res.headers.map(([name]) => name.toLowerCase());
    expect(names).toContain('x-kept');
    expect(names).not.toContain('transfer-encoding');
    expect(names).not.toContain('connection');
    expect(names).not.toContain('keep-alive');
    expect(res.body.toString()).toBe('framed by the web server');
  });

  test('mountPath: nginx (SCRIPT_NAME = whole path) and Apache (SCRIPT_NAME = prefix) both give the path below the mount', async () => {
    for (const params of [
      { REQUEST_URI: '/app/echo?x=1', SCRIPT_NAME: '/app/echo', PATH_INFO: '', QUERY_STRING: 'x=1', HTTP_HOST: 'h' },
      { REQUEST_URI: '/app/echo?x=1', SCRIPT_NAME: '/app', PATH_INFO: '/echo', QUERY_STRING: 'x=1', HTTP_HOST: 'h' },
    ]) {
      const res = await ask(mounted, params);
      expect(JSON.parse(res.body.toString())).toMatchObject({ url: 'http://h/echo?x=1' });
    }
    // Without mountPath the app sees the whole path (its /echo route does not match /app/echo).
    const whole = await ask(app, { REQUEST_URI: '/app/echo?x=1', SCRIPT_NAME: '/app', PATH_INFO: '/echo', HTTP_HOST: 'h' });
    expect([whole.status, whole.body.toString()]).toEqual([404, 'no such route']);
    // A path outside the mount is left whole.
    expect((await ask(mounted, { REQUEST_URI: '/application/echo', HTTP_HOST: 'h' })).status).toBe(404);
  });

  test('HTTPS on gives an https URL; without REQUEST_URI the URL is SCRIPT_NAME + PATH_INFO + QUERY_STRING', async () => {
    const https = await ask(app, { REQUEST_URI: '/echo', HTTPS: 'on', SERVER_NAME: 's', SERVER_PORT: '443' });
    expect(JSON.parse(https.body.toString())).toMatchObject({ url: 'https://s/echo' });
    const cgi = await ask(app, { SCRIPT_NAME: '/echo', PATH_INFO: '', QUERY_STRING: 'q=1', HTTP_HOST: 'h' });
    expect(JSON.parse(cgi.body.toString())).toMatchObject({ url: 'http://h/echo?q=1' });
  });
});

describe('createServer(app) with a Hono app object (through the package client)', () => {
  const track = closeAfterAll();

  test('an object with a fetch method is served as a fetch app', async () => {
    const app = track(await startFixture('hono-app.ts', { HONO_DIRECT: '1' }));
    const res = await fcgiRequest(
      { path: app.socketPath },
      { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/users/7?q=a', HTTP_HOST: 'h' } },
    );
    expect(JSON.parse(res.body.toString())).toEqual({ id: '7', q: 'a', url: 'http://h/users/7?q=a' });
  });
});

describe('sync loop helpers (through the package client)', () => {
  const track = closeAfterAll();
  let app: AppProcess & { socketPath: string };
  const ask = async (params: Params, body?: string | Buffer) => {
    const res = await fcgiRequest({ path: app.socketPath }, { params: { REQUEST_METHOD: 'GET', ...params }, body });
    return JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
  };

  beforeAll(async () => {
    app = track(await startFixture('sync-helpers.ts', { FORM_LIMIT: '64' }));
  });

  test('query and cookies, computed once per request', async () => {
    expect(await ask({ QUERY_STRING: 'x=1&y=%2F&x=3', HTTP_COOKIE: 'a=1; b=%3D' })).toEqual({
      query: [
        ['x', '1'],
        ['y', '/'],
        ['x', '3'],
      ],
      cookies: { a: '1', b: '=' },
      sameQuery: true,
    });
    expect(await ask({})).toEqual({ query: [], cookies: {}, sameQuery: true });
  });

  test('form(): an urlencoded body; over the limit FCGI_BODY_TOO_LARGE; another type a TypeError', async () => {
    const body = 'name=J%C3%BCrgen&tags=a&tags=b';
    expect(
      await ask({ REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/x-www-form-urlencoded', CONTENT_LENGTH: String(body.length) }, body),
    ).toMatchObject({
      form: [
        ['name', 'Jürgen'],
        ['tags', 'a'],
        ['tags', 'b'],
      ],
    });
    const big = 'a='.padEnd(65, 'x');
    expect(
      await ask({ REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/x-www-form-urlencoded', CONTENT_LENGTH: String(big.length) }, big),
    ).toMatchObject({
      code: 'FCGI_BODY_TOO_LARGE',
    });
    // Without CONTENT_LENGTH the limit holds on what is read.
    expect(await ask({ REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/x-www-form-urlencoded' }, big)).toMatchObject({
      code: 'FCGI_BODY_TOO_LARGE',
    });
    expect(await ask({ REQUEST_METHOD: 'POST', CONTENT_TYPE: 'text/plain', CONTENT_LENGTH: '2' }, 'hi')).toMatchObject({
      code: 'TypeError',
    });
  });
});

describeWithBinaries(['nginx'])('ServerRequest helpers through nginx', () => {
  const track = closeAfterAll();
  let stack: Stack;

  beforeAll(async () => {
    stack = track(await startStack('fetch-app.ts'));
  });

  test('url, query and cookies from what nginx sends; formData() of a multipart upload', async () => {
    const port = new URL(stack.url).port;
    const res = await request(`${stack.url}/raw/helpers?q=%C3%A9&n=1`, { headers: { Cookie: 'a=1; b=two%20words' } });
    expect(JSON.parse(res.text)).toEqual({
      url: `http://127.0.0.1:${port}/raw/helpers?q=%C3%A9&n=1`,
      pathname: '/raw/helpers',
      query: [
        ['q', 'é'],
        ['n', '1'],
      ],
      cookies: { a: '1', b: 'two words' },
    });
    const file = randomBytes(100 * 1024);
    const { body, type } = await multipart({ f: new Blob([file]) });
    const up = await request(`${stack.url}/raw/form`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': type, 'Content-Length': String(body.length) },
    });
    expect(JSON.parse(up.text)).toEqual({
      fields: {},
      files: { f: { name: 'f.bin', size: file.length, sha256: createHash('sha256').update(file).digest('hex') } },
    });
  });
});
