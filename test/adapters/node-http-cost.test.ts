// What fromNodeListener does NOT do per request (issue 11 item 5, the adapter's cost): it never builds the
// ServerRequest's `env` (headers come from the joined params), a small body that came with the request goes
// straight into the IncomingMessage without the ServerRequest's `body` stream (both spied on in process), and
// the IncomingMessage has no `_read` of its own (Node's resumes the socket, which feeds the body).
import path from 'path';
import { fcgiRequest } from '../../lib/client';
import { createServer, fromNodeListener, ServerRequest, type NodeListener } from '../../lib';
import { closeAfterEach } from '../helpers/cleanup';
import { tempDir } from '../helpers/tmp';

const track = closeAfterEach();

async function serve(listener: NodeListener): Promise<string> {
  const dir = track(tempDir('fcgi-node-cost-'));
  const socketPath = path.join(dir.path, 'app.sock');
  const server = createServer(fromNodeListener(listener), { handleSignals: false });
  await server.listen({ path: socketPath });
  track({ close: () => server.close() });
  return socketPath;
}

afterEach(() => jest.restoreAllMocks());

test('a JSON POST read whole by the listener: no env built, no ServerRequest.body stream, no own _read, headers and body intact', async () => {
  const envGetter = jest.spyOn(ServerRequest.prototype, 'env', 'get');
  const bodyGetter = jest.spyOn(ServerRequest.prototype, 'body', 'get');
  let seen: { headers: Record<string, unknown>; body: string; complete: boolean; ownRead: boolean } | undefined;
  const socketPath = await serve((req, res) => {
    const ownRead = Object.hasOwn(req, '_read'); // Node's IncomingMessage._read does it: no function per request
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen = { headers: { ...req.headers }, body: Buffer.concat(chunks).toString(), complete: req.complete, ownRead };
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ got: chunks.length }));
    });
  });
  const json = JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: i })) });
  const reply = await fcgiRequest(
    { path: socketPath },
    {
      params: {
        REQUEST_METHOD: 'POST',
        REQUEST_URI: '/json',
        SERVER_PROTOCOL: 'HTTP/1.1',
        HTTP_HOST: 'app.example',
        HTTP_X_TWICE: 'first',
        CONTENT_TYPE: 'application/json',
        CONTENT_LENGTH: String(json.length),
        HTTP_ACCEPT: '*/*',
      },
      body: json,
    },
  );
  expect(reply.body.toString()).toBe('{"got":1}'); // the whole body in one chunk, as it came
  expect(seen).toEqual({
    headers: {
      host: 'app.example',
      'x-twice': 'first',
      accept: '*/*',
      'content-type': 'application/json',
      'content-length': String(json.length),
    },
    body: json,
    complete: true,
    ownRead: false,
  });
  expect(envGetter).not.toHaveBeenCalled();
  expect(bodyGetter).not.toHaveBeenCalled();
});

test('a GET: no env built either', async () => {
  const envGetter = jest.spyOn(ServerRequest.prototype, 'env', 'get');
  const socketPath = await serve((req, res) => res.end(`${req.method} ${req.url} ${req.headers.host}`));
  const reply = await fcgiRequest(
    { path: socketPath },
    { params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/x?y=1', SERVER_PROTOCOL: 'HTTP/1.1', HTTP_HOST: 'h.example' } },
  );
  expect(reply.body.toString()).toBe('GET /x?y=1 h.example');
  expect(envGetter).not.toHaveBeenCalled();
});
