// fromFetchHandler sends a Content-Length for a body that is all there (a string, bytes, a Blob, JSON, a stream that
// has already ended), as Node's http does for res.end(data) and @hono/node-server for a Response from a string: the
// web server can then pass the response on as it is (nginx chunk-encodes a FastCGI body without one, and must close
// an HTTP/1.0 client's connection to end it). A stream still being produced gets none and goes out as it comes.
// Through the package's client, so the CGI head the app sends is what is checked; test/adapters/fetch.test.ts
// checks what nginx makes of it.
import path from 'path';
import { createServer, fromFetchHandler, type Server } from '../../lib';
import { FastCGIClient, fcgiRequest } from '../../lib/client';
import { LightweightResponse } from '../../lib/adapters/lightweight-response';
import { makeTempDir } from '../helpers/tmp';

const Light = LightweightResponse as unknown as typeof Response;
const encoder = new TextEncoder();

/** A stream whose first chunk comes at once and the rest only when `release()` is called. */
function heldStream(): { stream: ReadableStream<Uint8Array>; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(encoder.encode('first,'));
      await released;
      controller.enqueue(encoder.encode('second'));
      controller.close();
    },
  });
  return { stream, release };
}

const held: { release?: () => void } = {};

const routes: Record<string, () => Response> = {
  '/light-text': () => new Light('héllo, wörld'),
  '/light-empty': () => new Light(''),
  '/light-bytes': () => new Light(new Uint8Array(1000)),
  '/light-null': () => new Light(null),
  '/light-null-204': () => new Light(null, { status: 204 }),
  '/light-own-length': () => new Light('abc', { headers: { 'Content-Length': '3', 'X-A': '1' } }),
  '/light-headers-object': () => new Light('abcd', { headers: new Headers({ 'x-b': '2' }) }),
  '/text': () => new Response('héllo, wörld'),
  '/big-text': () => new Response('x'.repeat(1024 * 1024)),
  '/blob': () => new Response(new Blob(['a', 'bc', new Uint8Array(7)])),
  '/json': () => Response.json({ a: [1, 2, 3] }),
  '/form': () => {
    const form = new FormData();
    form.append('field', 'value');
    return new Response(form);
  },
  '/ended-stream': () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode('one,'));
          controller.enqueue(encoder.encode('two'));
          controller.close();
        },
      }),
    ),
  '/null': () => new Response(null),
  '/own-length': () => new Response('abcdef', { headers: { 'content-length': '6' } }),
  '/held-stream': () => {
    const { stream, release } = heldStream();
    held.release = release;
    return new Response(stream);
  },
};

describe('fromFetchHandler: Content-Length for a body that is all there', () => {
  let server: Server;
  let sock: string;
  beforeAll(async () => {
    sock = path.join(makeTempDir('fcgi-fetch-length-'), 'app.sock');
    server = createServer(
      fromFetchHandler((request) => {
        const route = routes[new URL(request.url).pathname];
        return route ? route() : new Response('no such route', { status: 404 });
      }),
      { handleSignals: false },
    );
    await server.listen({ path: sock });
  });
  afterAll(() => server.close());

  async function get(uri: string, method = 'GET') {
    const res = await fcgiRequest(
      { path: sock },
      { params: { REQUEST_METHOD: method, REQUEST_URI: uri, SCRIPT_NAME: uri, HTTP_HOST: 'localhost', SERVER_PROTOCOL: 'HTTP/1.1' } },
    );
    const lengths = res.headers.filter(([name]) => name.toLowerCase() === 'content-length').map(([, value]) => value);
    return { status: res.status, lengths, body: res.body };
  }

  test.each([
    ['/light-text', 'héllo, wörld'],
    ['/text', 'héllo, wörld'],
    ['/light-empty', ''],
  ])('%s: a string body gets its length in bytes, not characters', async (uri, text) => {
    const res = await get(uri);
    expect(res.body.toString('utf8')).toBe(text);
    expect(res.lengths).toEqual([String(Buffer.byteLength(text))]);
  });

  test.each([
    ['/light-bytes', 1000],
    ['/big-text', 1024 * 1024],
    ['/blob', 10],
    ['/json', JSON.stringify({ a: [1, 2, 3] }).length],
    ['/ended-stream', 7],
    ['/light-headers-object', 4],
  ])('%s: bytes, a Blob, JSON, a stream already ended: Content-Length is the body sent (%i)', async (uri, length) => {
    const res = await get(uri);
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(length);
    expect(res.lengths).toEqual([String(length)]);
  });

  test('/form: a FormData body (several chunks, a few microtasks each) gets the length of the multipart body', async () => {
    const res = await get('/form');
    expect(res.body.toString('latin1')).toContain('name="field"');
    expect(res.lengths).toEqual([String(res.body.length)]);
  });

  test.each(['/light-null', '/null'])('%s: no body on a GET: Content-Length 0', async (uri) => {
    const res = await get(uri);
    expect(res.body.length).toBe(0);
    expect(res.lengths).toEqual(['0']);
  });

  test.each(['/light-own-length', '/own-length'])('%s: the length the app set is sent once, as it set it', async (uri) => {
    const res = await get(uri);
    expect(res.lengths).toHaveLength(1);
    expect(Number(res.lengths[0])).toBe(res.body.length);
  });

  test('a 204 gets no Content-Length', async () => {
    const res = await get('/light-null-204');
    expect(res.status).toBe(204);
    expect(res.lengths).toEqual([]);
  });

  test("HEAD: a string body's length without the body; a null body (Hono's answer to HEAD) claims nothing", async () => {
    const text = await get('/light-text', 'HEAD');
    expect(text.body.length).toBe(0);
    expect(text.lengths).toEqual([String(Buffer.byteLength('héllo, wörld'))]);
    const none = await get('/light-null', 'HEAD');
    expect(none.lengths).toEqual([]);
  });

  test('a stream still being produced gets no Content-Length, and its first chunk leaves before the rest exists', async () => {
    const client = await FastCGIClient.connect({ path: sock }, { timeout: 20000 });
    try {
      const request = client.request({
        params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/held-stream', HTTP_HOST: 'localhost', SERVER_PROTOCOL: 'HTTP/1.1' },
      });
      let seen = '';
      const ended = new Promise<void>((resolve, reject) => {
        request.stdout.on('end', resolve).on('error', reject);
      });
      const head = await new Promise<string>((resolve) => {
        request.stdout.on('data', (chunk: Buffer) => {
          seen += chunk.toString('latin1');
          if (seen.includes('first,')) resolve(seen);
        });
      });
      expect(head).not.toMatch(/content-length/i);
      expect(head).not.toContain('second');
      held.release?.();
      await ended;
      expect(seen.slice(seen.indexOf('\r\n\r\n') + 4)).toBe('first,second');
      expect(seen).not.toMatch(/content-length/i);
    } finally {
      await client.close();
    }
  });
});
