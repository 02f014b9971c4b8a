// fromNodeListener in detail, straight over the FastCGI client: what the CGI head carries (Status, raw-array
// writeHead, appendHeader, no hop-by-hop fields), bodiless responses, failures, aborts and backpressure.
import http from 'http';
import net from 'net';
import path from 'path';
import { fcgiRequest } from '../../lib/client';
import { createServer, fromNodeListener, type NodeListener, type Server } from '../../lib';
import { closeAfterEach } from '../helpers/cleanup';
import { tempDir } from '../helpers/tmp';
import { encodeBeginRequest, encodeParams, encodeRecord, encodeStreamRecords, RecordType, Role } from '../../lib/client/protocol';
import { fcgiRequestBytes } from '../server/harness';

const track = closeAfterEach();

async function serve(listener: NodeListener): Promise<{ server: Server; socketPath: string }> {
  const dir = track(tempDir('fcgi-node-'));
  const socketPath = path.join(dir.path, 'app.sock');
  const server = createServer(fromNodeListener(listener), { handleSignals: false });
  server.on('error', () => undefined); // failures are answered 500; the tests look at the answers
  await server.listen({ path: socketPath });
  track({ close: () => server.close() });
  return { server, socketPath };
}

const get = (socketPath: string, uri = '/', method = 'GET') =>
  fcgiRequest({ path: socketPath }, { params: { REQUEST_METHOD: method, REQUEST_URI: uri, SERVER_PROTOCOL: 'HTTP/1.1' } });

test('req is an http.IncomingMessage and res an http.ServerResponse', async () => {
  let seen: [boolean, boolean] | undefined;
  const { socketPath } = await serve((req, res) => {
    seen = [req instanceof http.IncomingMessage, res instanceof http.ServerResponse];
    res.end();
  });
  await get(socketPath);
  expect(seen).toEqual([true, true]);
});

test('statusCode/statusMessage become Status:; raw-array writeHead and appendHeader keep repeated fields; no Connection or Transfer-Encoding', async () => {
  const { socketPath } = await serve((req, res) => {
    if (req.url === '/raw') {
      res.writeHead(202, ['X-Raw', 'one', 'X-Raw', 'two']); // the raw form alone keeps both
      res.end();
      return;
    }
    res.setHeader('X-Removed', 'x');
    res.removeHeader('X-Removed');
    res.appendHeader('Set-Cookie', 'a=1');
    res.appendHeader('Set-Cookie', 'b=2');
    res.statusMessage = 'Very Created';
    res.writeHead(201, { 'X-Obj': 'o' });
    res.write('part 1, ');
    res.end('part 2');
  });
  const raw = await get(socketPath, '/raw');
  expect(raw.status).toBe(202);
  expect(raw.headers.filter(([n]) => n === 'X-Raw').map(([, v]) => v)).toEqual(['one', 'two']);
  const r = await get(socketPath);
  expect(r.status).toBe(201);
  expect(r.statusText).toBe('Very Created');
  const names = r.headers.map(([n]) => n.toLowerCase());
  expect(r.headers.filter(([n]) => n === 'Set-Cookie').map(([, v]) => v)).toEqual(['a=1', 'b=2']);
  expect(r.headers).toContainEqual(['X-Obj', 'o']);
  expect(names).not.toContain('x-removed');
  expect(names).not.toContain('connection');
  expect(names).not.toContain('transfer-encoding');
  expect(names).not.toContain('date'); // the web server adds its own
  expect(r.body.toString()).toBe('part 1, part 2'); // no chunk framing
});

test.each([
  ['HEAD', 200],
  ['GET', 204],
  ['GET', 304],
])('%s answered %i sends no body', async (method, status) => {
  const { socketPath } = await serve((_req, res) => {
    res.statusCode = status;
    res.end('a body that must not go out');
  });
  const r = await get(socketPath, '/', method);
  expect(r.status).toBe(status);
  expect(r.body.length).toBe(0);
});

test('a listener that throws, or returns a promise that rejects, gets a 500 and the server goes on', async () => {
  const { socketPath } = await serve((req, res) => {
    if (req.url === '/throw') throw new Error('sync boom');
    if (req.url === '/reject') return Promise.reject(new Error('async boom'));
    res.end('fine');
    return undefined;
  });
  expect((await get(socketPath, '/throw')).status).toBe(500);
  expect((await get(socketPath, '/reject')).status).toBe(500);
  expect((await get(socketPath, '/ok')).body.toString()).toBe('fine');
});

test('fromNodeListener and createServer name what they got when it is not a listener', () => {
  expect(() => fromNodeListener({} as unknown as NodeListener)).toThrow(
    expect.objectContaining({
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
      message: expect.stringMatching(/"listener" argument must be a function/),
    }),
  );
  expect(() => fromNodeListener('app' as unknown as NodeListener)).toThrow(/"listener" argument must be a function.*Received "app"/);
  expect(() => createServer(42 as unknown as NodeListener)).toThrow(TypeError);
});

test('createServer(listener) serves a (req, res) function as a Node listener', async () => {
  const dir = track(tempDir('fcgi-node-'));
  const socketPath = path.join(dir.path, 'app.sock');
  const server = createServer((req: http.IncomingMessage, res: http.ServerResponse) => res.end(`node ${req.method}`), {
    handleSignals: false,
  });
  await server.listen({ path: socketPath });
  track({ close: () => server.close() });
  expect((await get(socketPath)).body.toString()).toBe('node GET');
});

test("the web server dropping the request: req gets 'aborted' and 'close', res 'close' without 'finish'", async () => {
  const events: string[] = [];
  let done: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (done = resolve));
  const { socketPath } = await serve((req, res) => {
    req.on('aborted', () => events.push('req aborted'));
    req.on('close', () => events.push(`req close destroyed=${req.destroyed}`));
    res.on('finish', () => events.push('res finish'));
    res.on('close', () => {
      events.push('res close');
      done();
    });
    req.resume();
    res.write('started'); // then never ends
  });
  const socket = net.connect(socketPath);
  socket.write(fcgiRequestBytes('/hang'));
  socket.once('data', () => socket.destroy()); // the first output arrived: the client goes away
  await closed;
  await new Promise((resolve) => setImmediate(resolve));
  expect(events).toContain('res close');
  expect(events).not.toContain('res finish');
  expect(events).toContain('req close destroyed=true');
});

test("write() returns false over the high-water mark and 'drain' follows; the whole body arrives", async () => {
  const CHUNK = Buffer.alloc(256 * 1024, 'y');
  const COUNT = 32; // 8 MiB, over the server's 1 MiB highWaterMark
  let drains = 0;
  let falses = 0;
  const { socketPath } = await serve((_req, res) => {
    let i = 0;
    const more = () => {
      while (i < COUNT) {
        i++;
        if (!res.write(CHUNK)) {
          falses++;
          res.once('drain', () => {
            drains++;
            more();
          });
          return;
        }
      }
      res.end();
    };
    more();
  });
  const r = await get(socketPath);
  expect(r.body.length).toBe(CHUNK.length * COUNT);
  expect(falses).toBeGreaterThan(0);
  expect(drains).toBe(falses);
});

test('an informational response (writeEarlyHints) is not sent; the final response is', async () => {
  const { socketPath } = await serve((_req, res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    res.end('final');
  });
  const r = await get(socketPath);
  expect(r.status).toBe(200);
  expect(r.body.toString()).toBe('final');
});

test('an informational response after writeHead, or queued behind a cork until the head is sent, is not sent either; nor a raw socket write before the head', async () => {
  const { socketPath } = await serve((req, res) => {
    if (req.url === '/corked') {
      // The 100 Continue waits in the socket's buffer until after Node has marked the final head sent.
      res.socket!.cork();
      res.writeContinue();
      res.writeHead(201, { 'X-After': 'continue' });
      res.end('final');
      res.socket!.uncork();
      return;
    }
    res.writeHead(202, { 'X-After': 'processing' });
    res.socket!.write('raw bytes before the head is sent\r\n'); // not taken for the head
    res.writeProcessing();
    res.end('final');
  });
  for (const [path, status, after] of [
    ['/corked', 201, 'continue'],
    ['/', 202, 'processing'],
  ] as const) {
    const r = await get(socketPath, path);
    expect(r.status).toBe(status);
    expect(r.headers).toContainEqual(['X-After', after]);
    expect(r.body.toString()).toBe('final');
  }
});

test('hop-by-hop fields a listener sets itself (Connection, Keep-Alive) are not passed to the web server; the others are', async () => {
  const { socketPath } = await serve((_req, res) => {
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('keep-alive', 'timeout=5');
    res.setHeader('X-Connection-Kept', 'yes');
    res.end('ok');
  });
  const r = await get(socketPath);
  const names = r.headers.map(([n]) => n.toLowerCase());
  expect(names).not.toContain('connection');
  expect(names).not.toContain('keep-alive');
  expect(r.headers).toContainEqual(['X-Connection-Kept', 'yes']);
  expect(r.body.toString()).toBe('ok');
});

test("Node's serialised head carries no Connection line of its own (nothing for the adapter to strip)", async () => {
  let head: string | null | undefined;
  const { socketPath } = await serve((_req, res) => {
    res.on('finish', () => (head = (res as unknown as { _header?: string | null })._header));
    res.end('ok');
  });
  const r = await get(socketPath);
  expect(r.body.toString()).toBe('ok');
  expect(typeof head).toBe('string');
  expect(head).not.toMatch(/\r\nconnection:/i);
});

test("a dropped request whose body is being read: req gets 'aborted' and is destroyed, res 'close' without 'finish'", async () => {
  const events: string[] = [];
  let done: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (done = resolve));
  let reading: () => void = () => undefined;
  const startedReading = new Promise<void>((resolve) => (reading = resolve));
  const { socketPath } = await serve((req, res) => {
    req.on('data', () => {
      events.push('req data');
      reading();
    });
    req.on('aborted', () => events.push('req aborted'));
    req.on('error', () => events.push('req error'));
    res.on('finish', () => events.push('res finish'));
    res.on('close', () => {
      events.push(`res close req.destroyed=${req.destroyed}`);
      done();
    });
    res.setHeader('Content-Type', 'text/plain');
  });
  const socket = net.connect(socketPath);
  const params = encodeParams({ REQUEST_METHOD: 'POST', REQUEST_URI: '/upload', CONTENT_LENGTH: '100000', SERVER_PROTOCOL: 'HTTP/1.1' });
  socket.write(
    Buffer.concat([
      encodeRecord(RecordType.BEGIN_REQUEST, 1, encodeBeginRequest(Role.RESPONDER, false)),
      encodeStreamRecords(RecordType.PARAMS, 1, params),
      // More than the 64 KiB the server reads at a time, so a first chunk reaches the app.
      encodeRecord(RecordType.STDIN, 1, Buffer.alloc(65535, 'b')),
      encodeRecord(RecordType.STDIN, 1, Buffer.alloc(10000, 'b')),
    ]),
  );
  await startedReading; // the app has the first part of the body: the client goes away in the middle of it
  socket.destroy();
  await closed;
  await new Promise((resolve) => setImmediate(resolve));
  expect(events).toContain('req aborted');
  expect(events).toContain('res close req.destroyed=true');
  expect(events).not.toContain('res finish');
});

test('mountPath: req.url is relative to the prefix the web server routes to the app', async () => {
  const dir = track(tempDir('fcgi-node-'));
  const socketPath = path.join(dir.path, 'app.sock');
  const server = createServer(
    fromNodeListener((req, res) => res.end(req.url), { mountPath: '/app/' }),
    { handleSignals: false },
  );
  await server.listen({ path: socketPath });
  track({ close: () => server.close() });
  expect((await get(socketPath, '/app/users/7?x=1')).body.toString()).toBe('/users/7?x=1');
  expect((await get(socketPath, '/other')).body.toString()).toBe('/other');
  expect(() => fromNodeListener(() => undefined, { mountPath: 'app' })).toThrow(/mountPath/);
});

test('method, url, httpVersion, headers/rawHeaders/headersDistinct and socket addresses come from the params', async () => {
  let seen: unknown;
  const { socketPath } = await serve((req, res) => {
    const s = req.socket as typeof req.socket & { encrypted?: boolean };
    seen = {
      method: req.method,
      url: req.url,
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      distinct: req.headersDistinct['x-multi'],
      socket: [s.remoteAddress, s.remotePort, s.localAddress, s.localPort, s.encrypted],
    };
    req.resume();
    req.on('end', () => res.end());
  });
  await fcgiRequest(
    { path: socketPath },
    {
      params: {
        REQUEST_METHOD: 'PUT',
        REQUEST_URI: '/a/b?c=1',
        SERVER_PROTOCOL: 'HTTP/1.0',
        HTTP_HOST: 'app.example',
        HTTP_X_MULTI: 'one, two',
        CONTENT_TYPE: 'text/plain',
        HTTP_CONTENT_TYPE: 'text/plain',
        CONTENT_LENGTH: '2',
        HTTP_CONTENT_LENGTH: '2',
        REMOTE_ADDR: '192.0.2.1',
        REMOTE_PORT: '50000',
        SERVER_ADDR: '192.0.2.2',
        SERVER_PORT: '8443',
        HTTPS: 'on',
      },
      body: 'hi',
    },
  );
  expect(seen).toEqual({
    method: 'PUT',
    url: '/a/b?c=1',
    httpVersion: '1.0',
    headers: { host: 'app.example', 'x-multi': 'one, two', 'content-type': 'text/plain', 'content-length': '2' },
    rawHeaders: ['Host', 'app.example', 'X-Multi', 'one, two', 'Content-Type', 'text/plain', 'Content-Length', '2'],
    distinct: ['one, two'],
    socket: ['192.0.2.1', 50000, '192.0.2.2', 8443, true],
  });
});
