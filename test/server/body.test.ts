// Request bodies on the FastCGI connection itself: a small declared body is read with the request (before the
// handler runs), a larger one is streamed on demand; both must reach bytes(), text() and req.body exactly, also
// when the web server sends more or less than it declared.
import crypto from 'crypto';
import path from 'path';
import { FastCGIClient } from '../../lib/client';
import { parseCgiResponse } from '../../lib/client/cgi-response';
import { RecordType } from '../../lib/client/protocol';
import { fixture, startApp } from '../helpers/app-process';
import { closeAfterAll } from '../helpers/cleanup';
import { tempDir } from '../helpers/tmp';
import { fcgiExchange } from './harness';

jest.setTimeout(60000);

interface BodyAnswer {
  length: number;
  sha256: string;
  again: number;
}

describe('concurrent server: request bodies read with the request or streamed', () => {
  const track = closeAfterAll();
  let socketPath: string;

  beforeAll(async () => {
    const dir = track(tempDir('fcgi-body-'));
    socketPath = path.join(dir.path, 'app.sock');
    track(await startApp(fixture('server-app.ts'), { listen: { path: socketPath } }));
  });

  async function send(how: string, body: Buffer, declared = body.length): Promise<BodyAnswer> {
    const client = await FastCGIClient.connect({ path: socketPath }, { timeout: 20000 });
    try {
      const params = {
        REQUEST_METHOD: 'POST',
        DOCUMENT_URI: '/body',
        QUERY_STRING: `how=${how}`,
        CONTENT_LENGTH: String(declared),
      };
      const { stdout } = await client.request({ params, body }).response();
      const answer = parseCgiResponse(stdout);
      expect(answer.status).toBe(200);
      return JSON.parse(answer.body.toString()) as BodyAnswer;
    } finally {
      await client.close();
    }
  }

  const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

  // 64 KiB is the largest body read with the request; 64 KiB + 1 is streamed.
  test.each([
    ['bytes', 1],
    ['bytes', 16 * 1024],
    ['bytes', 64 * 1024],
    ['bytes', 64 * 1024 + 1],
    ['text', 16 * 1024],
    ['text', 64 * 1024 + 1],
    ['stream', 1],
    ['stream', 16 * 1024],
    ['stream', 64 * 1024],
    ['stream', 300 * 1024],
  ])('%s(): a %d-byte body arrives exact', async (how, size) => {
    // text() decodes UTF-8: ASCII keeps the length comparable.
    const body = how === 'text' ? Buffer.from('x'.repeat(size)) : crypto.randomBytes(size);
    const answer = await send(how, body);
    expect(answer).toMatchObject({ length: size, sha256: sha(body) });
    if (how === 'bytes') expect(answer.again).toBe(0);
  });

  test('a body shorter than its CONTENT_LENGTH: the handler gets the bytes that came', async () => {
    const body = crypto.randomBytes(1000);
    for (const how of ['bytes', 'stream']) {
      expect(await send(how, body, 4000)).toMatchObject({ length: 1000, sha256: sha(body) });
    }
  });

  test('a body longer than its CONTENT_LENGTH: the handler gets all of it (the stream goes on past the declared length)', async () => {
    const body = crypto.randomBytes(5000);
    for (const how of ['bytes', 'stream']) {
      expect(await send(how, body, 1000)).toMatchObject({ length: 5000, sha256: sha(body) });
    }
  });

  test.each([13, 8191, 8192, 65528, 65536, 65536 * 4 - 100, 65528 * 4 + 1, 1024 * 1024 + 7])(
    'a %d-byte response printed at once (one write with END_REQUEST up to 4 records) arrives exact and complete',
    async (n) => {
      const client = await FastCGIClient.connect({ path: socketPath }, { timeout: 20000 });
      try {
        const request = client.request({ params: { REQUEST_METHOD: 'GET', DOCUMENT_URI: '/bytes', QUERY_STRING: `n=${n}` } });
        const { stdout, protocolStatus } = await request.response();
        expect(protocolStatus).toBe(0);
        const answer = parseCgiResponse(stdout);
        const expected = Buffer.alloc(n);
        for (let i = 0; i < n; i++) expected[i] = i % 251;
        expect(answer.body.length).toBe(n);
        expect(answer.body.equals(expected)).toBe(true);
      } finally {
        await client.close();
      }
    },
  );

  test('the records of a 64 KiB response: STDOUT records of at most 65535 bytes, the empty STDOUT record, END_REQUEST last', async () => {
    const records = await fcgiExchange(socketPath, '/bytes', 'n=65536');
    const types = records.map((r) => r.type);
    expect(types.at(-1)).toBe(RecordType.END_REQUEST);
    expect(types.at(-2)).toBe(RecordType.STDOUT);
    expect(records.at(-2)?.content.length).toBe(0);
    for (const r of records) expect(r.content.length).toBeLessThanOrEqual(65535);
    const stdout = Buffer.concat(records.filter((r) => r.type === RecordType.STDOUT).map((r) => r.content));
    expect(parseCgiResponse(stdout).body.length).toBe(65536);
  });
});
