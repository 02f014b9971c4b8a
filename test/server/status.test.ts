// The response head a ServerRequest handler chose reaches the client through the real addon: status() with and
// without a reason, statusCode and headersSent as the handler saw them; and the first socket read of a
// print-and-return response holds STDOUT, the empty STDOUT and END_REQUEST (one-write.test.ts shows the one write).
import net from 'net';
import path from 'path';
import { createServer, type Server, type ServerRequest } from '../../lib';
import { fcgiRequest, RecordDecoder, RecordType, type FastCGIRecord } from '../../lib/client';
import { fcgiRequestBytes } from './harness';
import { makeTempDir } from '../helpers/tmp';

function handler(req: ServerRequest): unknown {
  const uri = req.param('DOCUMENT_URI') ?? req.param('REQUEST_URI');
  if (uri === '/missing') {
    req.status(404).header({ 'Content-Type': 'text/plain' }).print('no such page');
    return undefined;
  }
  if (uri === '/created') {
    const seen = { before: [req.statusCode, req.headersSent] as unknown[], after: [] as unknown[] };
    req.status(201, 'Created').header({ 'Content-Type': 'application/json' });
    seen.before.push(req.statusCode, req.headersSent);
    req.print('{"seen":');
    seen.after.push(req.statusCode, req.headersSent);
    req.print(`${JSON.stringify(seen)}}`);
    return undefined;
  }
  if (uri === '/later') {
    return new Promise<void>((resolve) => setTimeout(resolve, 20)).then(() => {
      req.status(202, 'Accepted For Later').print('queued');
    });
  }
  req.print('Content-Type: text/plain\r\n\r\nplain'); // raw CGI output: its own head, status 200
  return undefined;
}

describe('createServer: the status a handler chose, at the client', () => {
  let server: Server;
  let sock: string;
  beforeAll(async () => {
    sock = path.join(makeTempDir('fcgi-status-'), 'app.sock');
    server = createServer(handler, { handleSignals: false });
    await server.listen({ path: sock });
  });
  afterAll(() => server.close());

  const get = (uri: string) => fcgiRequest({ path: sock }, { params: { REQUEST_METHOD: 'GET', DOCUMENT_URI: uri, REQUEST_URI: uri } });

  test('status(404) reaches the client with its standard reason and the body', async () => {
    const res = await get('/missing');
    expect(res.status).toBe(404);
    expect(res.statusText).toBe('Not Found');
    expect(res.body.toString()).toBe('no such page');
  });

  test('status(201, "Created"): code and reason reach the client; statusCode/headersSent as the handler saw them', async () => {
    const res = await get('/created');
    expect(res.status).toBe(201);
    expect(res.statusText).toBe('Created');
    expect(res.headers).toContainEqual(['Content-Type', 'application/json']);
    expect(JSON.parse(res.body.toString())).toEqual({ seen: { before: [200, false, 201, false], after: [201, true] } });
  });

  test('a status set after an await reaches the client too', async () => {
    const res = await get('/later');
    expect([res.status, res.statusText, res.body.toString()]).toEqual([202, 'Accepted For Later', 'queued']);
  });

  test('raw CGI output without status(): 200', async () => {
    const res = await get('/plain');
    expect([res.status, res.body.toString()]).toEqual([200, 'plain']);
  });

  test('print-and-return: the first socket read holds STDOUT, the empty STDOUT and END_REQUEST', async () => {
    const reads = await new Promise<FastCGIRecord[][]>((resolve, reject) => {
      const decoder = new RecordDecoder();
      const got: FastCGIRecord[][] = [];
      const socket = net.connect(sock);
      socket.on('data', (chunk: Buffer) => got.push(decoder.push(chunk)));
      socket.on('error', reject);
      socket.on('close', () => resolve(got));
      socket.write(fcgiRequestBytes('/missing'));
    });
    expect(reads.length).toBeGreaterThanOrEqual(1);
    const first = reads[0].map((r) => [r.type, r.content.length > 0]);
    expect(first).toEqual([
      [RecordType.STDOUT, true],
      [RecordType.STDOUT, false],
      [RecordType.END_REQUEST, true],
    ]);
    expect(reads[0][0].content.toString()).toMatch(/^Status: 404 Not Found\r\n[^]*\r\n\r\nno such page$/);
  });
});
